"""Hypothesis strategies of raw event JSON, derived from the pydantic models' annotations.

Used by the differential tests of schemas/fast_events.py: `canonical` values are valid in their
plain JSON form; `edgy` values sit on and just past every bound, in other JSON types, or in the
forms pydantic's lax mode coerces. JSON text is built by hand so duplicate keys and raw tokens
(NaN, 1e400, huge integers) can be sent.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

import annotated_types
import orjson
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

TAG = "type"


@dataclass(frozen=True)
class Raw:
    """A JSON token written as is (NaN, 1e400, 123456789012345678901234567890 ...)."""

    text: bytes


@dataclass(frozen=True)
class Pairs:
    """A JSON object as (key, value) pairs: keys may repeat."""

    items: tuple[tuple[str, Any], ...]


def encode(value: Any) -> bytes:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs):
        return b"{" + b",".join(orjson.dumps(k) + b":" + encode(v) for k, v in value.items) + b"}"
    if isinstance(value, dict):
        return encode(Pairs(tuple(value.items())))
    if isinstance(value, list):
        return b"[" + b",".join(encode(v) for v in value) + b"]"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode()  # any size: orjson.dumps refuses beyond 64 bits
    return orjson.dumps(value)


def constraints(metadata: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, FieldInfo):
            found.update(constraints(item.metadata))
        elif isinstance(item, annotated_types.BaseMetadata | annotated_types.GroupedMetadata) or hasattr(
            item, "__dict__"
        ):
            attrs = vars(item) if hasattr(item, "__dict__") else {}
            for name in getattr(type(item), "__slots__", ()):
                attrs[name] = getattr(item, name)
            found.update({k: v for k, v in attrs.items() if v is not None and k != "func"})
            if type(item).__name__ == "AfterValidator":
                found["validator"] = True
    return found


def _unwrap(annotation: Any, metadata: tuple[Any, ...] = ()) -> tuple[Any, dict[str, Any]]:
    while get_origin(annotation) is Annotated:
        annotation, *extra = get_args(annotation)
        metadata = (*metadata, *extra)
    return annotation, constraints(metadata)


TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)  # unicode, astral, controls, newlines
WRONG_TYPES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    st.just([]),
    st.just({}),
    st.sampled_from(
        [Raw(t) for t in (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"123456789012345678901234567890")]
    ),
)


def _sized_text(lo: int, hi: int | None, canonical: bool) -> st.SearchStrategy[str]:
    top = hi if hi is not None else 40
    if canonical:
        return st.one_of(
            st.text(
                alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=lo, max_size=min(top, 20)
            ),
            st.text(alphabet="a😀", min_size=top, max_size=top),  # exactly at the bound, astral characters
        )
    sizes = [max(lo - 1, 0), lo, top, top + 1]
    return st.one_of(
        st.sampled_from(sizes).flatmap(lambda n: st.text(alphabet="x😀é", min_size=n, max_size=n)),
        TEXT,
    )


def _pattern_text(pattern: str, lo: int, hi: int | None, canonical: bool) -> st.SearchStrategy[str]:
    body = st.from_regex(pattern.rstrip("$").lstrip("^") + r"\Z", fullmatch=True, alphabet=string.printable)
    bounded = body.filter(lambda s: lo <= len(s) <= (hi or 10**9))
    if canonical:
        return bounded
    return st.one_of(
        bounded,
        body,
        bounded.map(lambda s: s + "\n"),
        bounded.map(lambda s: " " + s),
        bounded.map(lambda s: s.lower()),
        TEXT,
        st.sampled_from(["a" * (hi or 3), "a" * ((hi or 3) + 1), "", "-a", "é", "AB\n", "ABC\n"]),
    )


def _number(kind: type, c: dict[str, Any], canonical: bool) -> st.SearchStrategy[Any]:
    lo, hi = c.get("ge", -(2**40)), c.get("le", 2**40)
    if kind is int:
        inside = st.integers(lo, hi)
        if canonical:
            return st.one_of(inside, st.sampled_from([lo, hi]))
        return st.one_of(
            inside,
            st.sampled_from([lo - 1, hi + 1, 2**63, 2**64, -(2**63) - 1]),
            inside.map(float),
            inside.map(str),
            inside.map(lambda v: f" {v}"),
            st.sampled_from([True, False, 1.5, "1.0", "1e3", Raw(b"1E2"), Raw(b"-0"), Raw(b"1.0")]),
        )
    inside_f = st.floats(lo, hi, allow_nan=False)
    if canonical:
        return st.one_of(inside_f, st.integers(int(lo), int(hi)), st.sampled_from([lo, hi, 0.0, 5e-324]))
    return st.one_of(
        inside_f,
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([hi + 1, lo - 1, int(hi) + 1, int(hi), 10**15 + 1, -0.0, hi * (1 + 2**-52)]),
        inside_f.map(str),
        st.sampled_from(["nan", "inf", "NaN", True, Raw(b"1e400"), Raw(b"-1e400"), Raw(b"2e-400")]),
    )


_OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
_DATETIMES = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))


def _timestamp(canonical: bool) -> st.SearchStrategy[Any]:
    aware = st.builds(lambda d, tz: d.replace(tzinfo=tz), _DATETIMES, st.one_of(st.just(UTC), _OFFSETS))
    if canonical:
        return st.one_of(aware.map(lambda d: d.isoformat()), aware.map(lambda d: d.isoformat().replace("+00:00", "Z")))

    @st.composite
    def spelled(draw: st.DrawFn) -> Any:
        d = draw(st.one_of(aware, st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))))
        sep = draw(st.sampled_from(["T", "t", " ", "_"]))
        frac = draw(st.sampled_from(["", ".", ".1", ".123456", ".1234565", ".999999999", ",5"]))
        if d.tzinfo is None:
            zone = draw(st.sampled_from(["", "", "Z", "z", "+24:00", "+05", "+0530", "-00:00", "+05:30:15"]))
        else:
            off = d.utcoffset() or timedelta(0)
            sign, minutes = ("-" if off < timedelta(0) else "+"), abs(int(off.total_seconds())) // 60
            zone = draw(st.sampled_from(["Z", f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"]))
        return f"{d:%Y-%m-%d}{sep}{d:%H:%M:%S}{frac}{zone}"

    return st.one_of(
        spelled(),
        st.sampled_from(
            [
                "9999-12-31T23:59:59-01:00",
                "0001-01-01T00:00:00+01:00",
                "2026-02-29T00:00:00Z",
                "2026-01-01T23:59:60Z",
                "2026-01-01T24:00:00Z",
                "2026-01-01",
                "20260101T000000Z",
                "2026-01-01T00:00Z",
                "2026-W01-1T00:00:00Z",
                1767225600,
                1767225600.5,
                1767225600000,
                -1,
                "1767225600",
                "",
            ]
        ),
    )


def _decimal(c: dict[str, Any], canonical: bool) -> st.SearchStrategy[Any]:
    places, digits = c.get("decimal_places", 12), c.get("max_digits", 26)
    whole = 10 ** (digits - places) - 1
    inside = st.decimals(min_value=0, max_value=whole, places=places, allow_nan=False, allow_infinity=False)
    if canonical:
        return st.one_of(
            inside.map(str), st.integers(0, whole).map(str), st.sampled_from(["0", "129.90", "0.000000000001"])
        )
    return st.one_of(
        inside.map(str),
        inside.map(float),
        st.integers(0, whole + 2),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.sampled_from(
            [
                "1_000",
                " 1 ",
                "+1",
                "1e3",
                "-0",
                "-0.01",
                "0.0000000000001",
                "1.5000000000000",
                str(whole + 1),
                "NaN",
                "x",
            ]
        ),
        st.sampled_from([0.1, 1e-13, 1e25, Raw(b"123456789012345678901234567890"), Raw(b"1e400")]),
    )


def _uuid(canonical: bool) -> st.SearchStrategy[Any]:
    ids = st.uuids()
    if canonical:
        return st.one_of(ids.map(str), ids.map(lambda u: u.hex), ids.map(lambda u: str(u).upper()))
    return st.one_of(
        ids.map(str),
        ids.map(lambda u: "{" + str(u) + "}"),
        ids.map(lambda u: "urn:uuid:" + str(u)),
        ids.map(lambda u: str(u)[:-1]),
        ids.map(lambda u: u.int),
        st.just("00000000-0000-0000-0000-000000000000"),
    )


def value_strategy(annotation: Any, canonical: bool, metadata: tuple[Any, ...] = ()) -> st.SearchStrategy[Any]:
    """Values for one annotated field of an event model."""
    base, c = _unwrap(annotation, metadata)
    origin = get_origin(base)
    if origin is Union or type(base).__name__ == "UnionType":
        options = [value_strategy(a, canonical) for a in get_args(base)]
        return st.one_of(*options)
    if base is type(None):
        return st.none()
    if origin is Literal:
        values = st.sampled_from(get_args(base))
        return values if canonical else st.one_of(values, values.map(lambda v: str(v).upper()), TEXT)
    if origin is dict:
        key_t, value_t = get_args(base)
        hi = c.get("max_length", 8)
        if canonical:
            return st.dictionaries(value_strategy(key_t, True), value_strategy(value_t, True), max_size=min(hi, 6))
        return st.one_of(
            st.dictionaries(value_strategy(key_t, False), value_strategy(value_t, False), max_size=4),
            st.sampled_from([hi, hi + 1]).flatmap(
                lambda n: st.dictionaries(
                    st.text("abcdefghij", min_size=3, max_size=3), value_strategy(value_t, True), min_size=n, max_size=n
                )
            ),
            st.lists(st.tuples(st.sampled_from(["k", "j"]), value_strategy(value_t, False)), max_size=4).map(
                lambda kv: Pairs(tuple(kv))
            ),
        )
    if base is str:
        lo, hi = c.get("min_length", 0), c.get("max_length")
        if "pattern" in c:
            return _pattern_text(c["pattern"], lo, hi, canonical)
        return _sized_text(lo, hi, canonical)
    if base in (int, float):
        return _number(base, c, canonical)
    if base is datetime:
        return _timestamp(canonical)
    if base is Decimal:
        return _decimal(c, canonical)
    if base is UUID:
        return _uuid(canonical)
    raise TypeError(f"no strategy for {annotation!r}")


def _field_annotation(info: FieldInfo) -> Any:
    return Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation


@st.composite
def event_doc(draw: st.DrawFn, model: type[BaseModel], canonical: bool) -> dict[str, Any]:
    """One event of `model` as a dict: required fields always, optional ones sometimes."""
    doc: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if not info.is_required() and not draw(st.booleans()):
            continue
        doc[name] = draw(value_strategy(_field_annotation(info), canonical))
    if canonical:  # satisfy the model validators, so canonical events are valid
        if model.__name__ == "LlmCall":
            for part, whole in (("cached_input_tokens", "input_tokens"), ("reasoning_tokens", "output_tokens")):
                if doc.get(part, 0) > doc.get(whole, 0):
                    doc[part] = doc.get(whole, 0)
        if model.__name__ == "Feedback":
            doc.pop("rating", None), doc.pop("thumbs", None)
            if draw(st.booleans()):
                doc["rating"] = draw(st.integers(1, 5))
            else:
                doc["thumbs"] = draw(st.sampled_from(["up", "down"]))
    return doc


@st.composite
def mutated(draw: st.DrawFn, model: type[BaseModel]) -> bytes:
    """An event of `model` with edgy values and one or more structural mutations, as JSON text."""
    doc = draw(event_doc(model, canonical=draw(st.booleans())))
    pairs = list(doc.items())
    names = list(model.model_fields)
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["drop", "extra", "wrong", "dup", "none", "both_scores", "tag"]))
        if kind == "drop" and pairs:
            pairs.pop(draw(st.integers(0, len(pairs) - 1)))
        elif kind == "extra":
            pairs.append((draw(st.sampled_from(["extra", "Type", "tenant", "event_id "])), draw(WRONG_TYPES)))
        elif kind == "wrong":
            pairs.append((draw(st.sampled_from(names)), draw(WRONG_TYPES)))
            pairs = list(dict(pairs).items())
        elif kind == "dup" and pairs:
            key = draw(st.sampled_from([k for k, _ in pairs]))
            pairs.insert(draw(st.integers(0, len(pairs))), (key, draw(st.one_of(WRONG_TYPES, st.just(doc.get(key))))))
        elif kind == "none":
            pairs.append((draw(st.sampled_from(names)), None))
            pairs = list(dict(pairs).items())
        elif kind == "both_scores":
            pairs += [("rating", draw(st.integers(0, 6))), ("thumbs", draw(st.sampled_from(["up", "down", None])))]
        elif kind == "tag":
            pairs.append((TAG, draw(st.sampled_from(["llm_call", "message", "feedback", "LLM_CALL", "", 1]))))
    shape = draw(st.sampled_from(["object"] * 8 + ["array", "string", "number", "null", "truncated"]))
    text = encode(Pairs(tuple(pairs)))
    if shape == "array":
        return b"[" + text + b"]"
    if shape == "string":
        return orjson.dumps(text.decode())
    if shape == "number":
        return b"42"
    if shape == "null":
        return b"null"
    if shape == "truncated":
        return text[: draw(st.integers(0, max(len(text) - 1, 0)))]
    return text
