"""Whether a body holds more items than a limit, found before any of them is built (pure).

A batch over the limit is refused without decoding it: counting costs a few passes over the bytes at C
speed (regular expressions, `bytes.translate`) and at most `limit + 1` steps of Python, however many
items the body holds, so a body of millions of `{}` costs little more to refuse than one of `limit + 1`.
A malformed body gets some answer here; decoding it then names what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b"[]{},")
_NOT_STRUCTURAL_OR_QUOTE = bytes(b for b in range(256) if b not in b'[]{},"')
_INNERMOST = re.compile(rb"[\[{],*+[\]}]")
"""A container holding no container: collapsing these, pass by pass, leaves the top level's commas."""
_COLLAPSE_PASSES = 8
"""Nesting collapsed at C speed; what is deeper (not events) is walked in Python."""
_PROBE_BYTES = 64 * 1024
_CONTENT_LINE = re.compile(rb"[^\S\r\n]*\S[^\r\n]*")
"""A line with something on it, lines cut as `bytes.splitlines` cuts them (\\n, \\r, \\r\\n)."""
_OPEN, _CLOSE, _COMMA = frozenset(b"[{"), frozenset(b"]}"), ord(",")


def more_documents_than(body: bytes, ndjson: bool, limit: int) -> bool:
    """Whether `decode_documents(body, ndjson)` would find more than `limit` documents."""
    if ndjson:
        return more_lines_than(body, limit)
    text = body.strip()
    if text.startswith(b"["):
        return more_items_than(text, limit)
    return limit < 1 and bool(text)


def more_lines_than(body: bytes, limit: int) -> bool:
    """Whether more than `limit` lines of `body` hold something (blank lines are not documents)."""
    return any(count > limit for count, _ in enumerate(_CONTENT_LINE.finditer(body), start=1))


def more_items_than(text: bytes, limit: int) -> bool:
    """Whether the JSON array `text` (stripped, starting with `[`) holds more than `limit` items.

    n items have n - 1 commas between them at the top level, outside strings: strings are cut out,
    everything but brackets and commas dropped, and innermost containers collapsed until only the
    top level's commas are left. The commas of a prefix are a lower bound of the whole's.
    """
    inner = text[1:-1] if text.endswith(b"]") else text[1:]
    if not inner.strip():
        return limit < 0
    if inner.count(b",") < limit:  # fewer commas than the limit anywhere: within it
        return False
    # A probe of the first bytes finds a body of tiny items over the limit without reading the rest.
    probe = _top_level_commas(_structure(inner[:_PROBE_BYTES]), limit) >= limit
    return probe or (len(inner) > _PROBE_BYTES and _top_level_commas(_structure(inner), limit) >= limit)


def _structure(json: bytes) -> bytes:
    """The brackets and commas of `json` outside strings, innermost containers collapsed (a string
    that `json` ends in, a cut prefix's, is left out too)."""
    if b"\\" in json:  # escaped backslashes, then escaped quotes: what is left of a string cannot end it
        json = json.replace(b"\\\\", b"").replace(b'\\"', b"")
    quoted = json.translate(None, _NOT_STRUCTURAL_OR_QUOTE)
    structure = quoted.replace(b'""', b"")
    if b'"' in structure:
        # Some string holds brackets or commas. (With no quote left, every string was a "" of its
        # own: the pairs replaced left to right were its quotes.) Every other piece is a string's.
        structure = b"".join(quoted.split(b'"')[::2])
    for _ in range(_COLLAPSE_PASSES):
        structure, collapsed = _INNERMOST.subn(b"", structure)
        if not collapsed:
            break
    return structure


def _top_level_commas(structure: bytes, limit: int) -> int:
    """Commas outside every container of `structure`, counted up to `limit`."""
    if len(structure) == structure.count(b","):
        return len(structure)
    commas = depth = 0
    for char in structure:
        if char == _COMMA and depth == 0:
            commas += 1
            if commas >= limit:
                break
        elif char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth -= 1
    return commas


class _Malformed(Exception):
    pass


class TooManyFields(ValueError):
    """The protobuf body holds more fields than `spans_over` walks: refused (400) before decoding it."""


FIELDS_PER_LIMIT = 8
"""Fields `spans_over` walks per span of the batch limit (a request, a ResourceSpans and a ScopeSpans
have three known fields each, a span is one field of its ScopeSpans)."""
MIN_FIELDS = 4096
"""Fields walked at least, whatever the batch limit (room for fields OTLP may add)."""


class _Budget:
    """Fields left to walk in one body."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = self.left = limit

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise TooManyFields(
                f"OTLP body has more than {self.limit} protobuf fields; at most {self.limit} per request"
            )


def _varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while pos < end and shift < 64:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise _Malformed


def _fields(data: bytes, start: int, end: int, number: int, budget: _Budget) -> Iterator[tuple[int, int]]:
    """(start, end) of each length-delimited field `number` of the message in data[start:end]; every
    field walked (of any number) spends one of `budget`."""
    pos = start
    while pos < end:
        budget.spend()
        tag, pos = _varint(data, pos, end)
        wire = tag & 7
        if wire == 0:
            _, pos = _varint(data, pos, end)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(data, pos, end)
            if pos + length > end:
                raise _Malformed
            if tag >> 3 == number:
                yield pos, pos + length
            pos += length
        else:
            raise _Malformed  # groups: not in OTLP


def max_fields(limit: int) -> int:
    """The most protobuf fields `spans_over` walks for a batch limit of `limit` spans."""
    return max(MIN_FIELDS, FIELDS_PER_LIMIT * (limit + 1))


def spans_over(body: bytes, limit: int) -> str | None:
    """Which of spans, scope_spans or resource_spans the OTLP/protobuf ExportTraceServiceRequest `body`
    holds more than `limit` of (None: none), read from the wire format without decoding a span.

    resource_spans = 1 of the request, scope_spans = 2 of a ResourceSpans, spans = 2 of a ScopeSpans.
    At most `max_fields(limit)` fields are walked, at every level together: a body holding more (of
    unknown fields, say) is refused with `TooManyFields` (a `ValueError`: a 400 naming it).
    """
    resources = scopes = spans = 0
    budget = _Budget(max_fields(limit))
    try:
        for resource in _fields(body, 0, len(body), 1, budget):
            resources += 1
            for scope in _fields(body, *resource, 2, budget):
                scopes += 1
                for _ in _fields(body, *scope, 2, budget):
                    spans += 1
                    if spans > limit:
                        return "spans"
                if scopes > limit:
                    return "scope_spans"
            if resources > limit:
                return "resource_spans"
    except _Malformed:
        return None  # decoding names the problem
    return None
