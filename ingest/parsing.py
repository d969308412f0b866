"""Reading a request body into validated events (pure, but for `read_body`, which consumes the stream)."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from schemas.events import AnyEvent, describe_validation_error, parse_event


class BodyError(ValueError):
    """The body as a whole cannot be read; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Rejected:
    """One event that failed validation."""

    index: int
    event_id: str | None
    error: str


MAX_GZIP_MEMBERS = 64
"""Most gzip members in one body (a client's gzip writes one; a few when it appends): each costs a
decompressor of its own, so millions of empty ones would cost CPU for nothing."""
_GZIP_SLICE = 64 * 1024
"""Input fed to a decompressor at once: what it copies of its input when a member ends (its
`unused_data`) is at most this, so reading a body costs time linear in its size."""


class Inflater:
    """A body's bytes without their Content-Encoding, inflated as they arrive: more than `limit`
    decoded bytes are refused (413) as soon as inflating passes it, never after.

    Every gzip member is read (concatenated members are valid gzip), up to `MAX_GZIP_MEMBERS` (more
    are refused, 400), and a stream that stops before its end is refused (400) rather than read as a
    shorter batch.
    """

    def __init__(self, content_encoding: str | None, limit: int) -> None:
        encoding = (content_encoding or "").strip().lower()
        self._unsupported = None if encoding in ("", "identity", "gzip") else content_encoding
        self._gzip = encoding == "gzip"
        self.limit = limit
        """Most decoded bytes (and most bytes as sent)."""
        self._out = bytearray()
        self._inflater: Any = None  # the current gzip member's decompressor, None between members
        self.received = 0
        """Bytes fed, as sent."""
        self.members = 0
        """Gzip members begun."""

    @property
    def inflated(self) -> int:
        return len(self._out)

    def _check(self) -> None:
        if self._unsupported is not None:
            raise BodyError(415, f"unsupported Content-Encoding {self._unsupported!r}; use gzip or none")

    def feed(self, data: bytes) -> None:
        self._check()
        self.received += len(data)
        if not self._gzip:
            self._out += data
            if len(self._out) > self.limit:
                raise BodyError(413, f"body is larger than {self.limit} bytes")
            return
        view = memoryview(data)
        try:
            for start in range(0, len(view), _GZIP_SLICE):
                self._inflate(view[start : start + _GZIP_SLICE])
        except zlib.error as exc:
            raise BodyError(400, f"body is not valid gzip: {exc}") from exc

    def _inflate(self, data: bytes | memoryview) -> None:
        """Inflate `data` (at most `_GZIP_SLICE` bytes): the members it ends and the one it begins."""
        while data:
            if self._inflater is None:
                self.members += 1
                if self.members > MAX_GZIP_MEMBERS:
                    raise BodyError(
                        400, f"body has more than {MAX_GZIP_MEMBERS} gzip members; at most {MAX_GZIP_MEMBERS}"
                    )
                self._inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            self._out += self._inflater.decompress(data, self.limit + 1 - len(self._out))
            if len(self._out) > self.limit:
                raise BodyError(413, f"decompressed body is larger than {self.limit} bytes")
            if not self._inflater.eof:
                return  # all of `data` consumed (the output bound was not reached): wait for more
            data = self._inflater.unused_data
            self._inflater = None

    def finish(self) -> bytes:
        """The whole decoded body, once every byte was fed."""
        self._check()
        if self._gzip and (self._inflater is not None or self.received == 0):
            raise BodyError(400, "body is not valid gzip: the stream ends before its end marker")
        return bytes(self._out)


def decompress(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The body without its gzip encoding, refusing more than `limit` bytes (413); see `Inflater`."""
    inflater = Inflater(content_encoding, limit)
    inflater.feed(body)
    return inflater.finish()


def _declared(content_length: str | None, limit: int) -> None:
    if content_length is None:
        return
    try:
        declared = int(content_length)
    except ValueError as exc:
        raise BodyError(400, "Content-Length is not a number") from exc
    if declared > limit:
        raise BodyError(413, f"body is larger than {limit} bytes")


async def read_body(chunks: AsyncIterator[bytes], content_length: str | None, limit: int) -> bytes:
    """The raw request body, refusing (413) more than `limit` bytes before reading them all."""
    _declared(content_length, limit)
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise BodyError(413, f"body is larger than {limit} bytes")
    return bytes(body)


async def read_decoded(chunks: AsyncIterator[bytes], content_length: str | None, inflater: Inflater) -> bytes:
    """The request body decoded by `inflater` as it streams in (at most `limit` bytes as sent, too)."""
    limit = inflater.limit
    _declared(content_length, limit)
    async for chunk in chunks:
        if inflater.received + len(chunk) > limit:
            raise BodyError(413, f"body is larger than {limit} bytes")
        inflater.feed(chunk)
    return inflater.finish()


def decode_documents(body: bytes, ndjson: bool) -> list[Any]:
    """A JSON array (or one object) or NDJSON lines as a list of decoded documents (400 if malformed)."""
    if ndjson:
        docs = []
        for lineno, line in enumerate(body.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                docs.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise BodyError(400, f"malformed JSON on line {lineno}: {exc}") from exc
        return docs
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, f"malformed JSON: {exc}") from exc
    return doc if isinstance(doc, list) else [doc]


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """The event timestamps ingest accepts: not older than what the warehouse keeps, not in the future."""

    oldest: datetime
    newest: datetime

    def violation(self, ts: datetime) -> str | None:
        if ts < self.oldest:
            return f"timestamp: {ts.isoformat()} is older than the oldest accepted, {self.oldest.isoformat()}"
        if ts > self.newest:
            return f"timestamp: {ts.isoformat()} is in the future (latest accepted {self.newest.isoformat()})"
        return None


def validate_events(
    docs: list[Any], default_tenant: str | None = None, bounds: TimeBounds | None = None
) -> tuple[list[AnyEvent], list[Rejected]]:
    """Split documents into valid events and per-index rejections naming the field and reason.

    An object without `tenant_id` gets `default_tenant` (the sending key's tenant) when given; an
    event outside `bounds` is rejected.
    """
    accepted: list[AnyEvent] = []
    rejected: list[Rejected] = []
    for index, doc in enumerate(docs):
        event_id = doc.get("event_id") if isinstance(doc, dict) else None
        if default_tenant is not None and isinstance(doc, dict) and "tenant_id" not in doc:
            doc["tenant_id"] = default_tenant
        try:
            event = parse_event(doc)
        except ValidationError as exc:
            rejected.append(
                Rejected(index, event_id if isinstance(event_id, str) else None, describe_validation_error(exc))
            )
            continue
        problem = bounds.violation(event.timestamp) if bounds is not None else None
        if problem is not None:
            rejected.append(Rejected(index, str(event.event_id), problem))
            continue
        accepted.append(event)
    return accepted, rejected


def all_within(events: list[AnyEvent], bounds: TimeBounds) -> bool:
    return all(bounds.oldest <= ev.timestamp <= bounds.newest for ev in events)
