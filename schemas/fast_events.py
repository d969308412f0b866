"""Decode and validate events fast (msgspec), accepting exactly what the pydantic contract accepts.

The contract is declared once, by the pydantic models of `schemas.event_models`. This module derives
from them, at import, one msgspec Struct per event type (a tagged union on `type`): field names,
types, optionality and defaults, and the constraints msgspec checks natively (lengths, patterns,
ranges, literals, unknown fields forbidden). What msgspec cannot check the same way is delegated,
still derived, to pydantic's own code in the Struct's `__post_init__`:

- fields whose value pydantic builds with its own parser or a validator function (`datetime` with
  `AfterValidator(_require_utc)`, `Decimal` with `max_digits`/`decimal_places`): msgspec reads the
  raw JSON scalar and the field's pydantic `TypeAdapter` validates and normalises it (msgspec's
  datetime parser rounds sub-microsecond digits where pydantic truncates, so it is not used);
- model validators (`mode="after"`: `LlmCall._token_parts_fit`, `Feedback._one_score`): the model's
  own function is called on the Struct (it reads the same attribute names).

Anything the fast path rejects (including what pydantic's lax mode would coerce, such as `"5"` for
an int) goes to the slow path, which is today's worker path exactly: `orjson.loads` then
`parse_event`. So an event is rejected only when pydantic rejects it, with pydantic's reason
(`describe_validation_error`), and the fast path only has to never accept more than pydantic, with
the same values: the differential property tests (tests/unit/test_fast_events*.py) check that.
An annotation or config this module cannot mirror makes the import fail, so the contract cannot
drift away from it silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec
import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from schemas.event_models import EVENT_MODELS, EventBase
from schemas.events import describe_validation_error, parse_event
from schemas.fast_types import RAW_SCALAR, constraints_of, msgspec_type, needs_pydantic
from schemas.types import _require_utc

__all__ = [
    "RECORD_TYPES",
    "TAG",
    "WHOLE_RECORD",
    "Decoded",
    "Invalid",
    "constraints_of",
    "decode_array",
    "decode_batch",
    "record_from_model",
]

TAG = "type"
"""The discriminator field of the contract's tagged union."""

WHOLE_RECORD = -1
"""`Invalid.index` of a batched buffer that is not a JSON array at all: the whole buffer is invalid."""

#: model_config keys that do not change what validates (anything else must be taught to this module)
_NEUTRAL_CONFIG = {"extra", "frozen", "use_attribute_docstrings", "title"}


# ---- Struct derivation --------------------------------------------------------------------------------


def _field_annotation(info: FieldInfo) -> Any:
    annotation = info.annotation
    return Annotated[annotation, *info.metadata] if info.metadata else annotation


def _check_mirrorable(model: type[BaseModel]) -> None:
    unknown = set(model.model_config) - _NEUTRAL_CONFIG
    if model.model_config.get("extra") != "forbid" or unknown:
        raise TypeError(f"fast_events cannot mirror {model.__name__}'s config {dict(model.model_config)}")
    decorators = model.__pydantic_decorators__
    if decorators.field_validators or decorators.validators or decorators.root_validators:
        raise TypeError(f"fast_events cannot mirror {model.__name__}'s field validators")
    if any(d.info.mode != "after" for d in decorators.model_validators.values()):
        raise TypeError(f"fast_events can only mirror mode='after' model validators ({model.__name__})")


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")


def _utc_timestamp(pydantic_validate: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Fast mirror of pydantic's datetime parsing followed by `schemas.types._require_utc`.

    Only the plain RFC 3339 form (`T`, at most 6 fraction digits, `Z` or `±HH:MM`), where
    `datetime.fromisoformat` and pydantic read the same instant, is parsed here (0.1 µs instead of
    0.9); any other form, and any value fromisoformat refuses, is pydantic's to decide.
    """
    match = _RFC3339.fullmatch
    parse = datetime.fromisoformat

    def convert(value: Any) -> Any:
        if type(value) is str and match(value):
            try:
                return parse(value).astimezone(UTC)
            except (ValueError, OverflowError):
                pass
        return pydantic_validate(value)

    return convert


#: pydantic validator functions with a fast mirror here (the differential tests keep each equal to it)
_FAST_MIRRORS: dict[Callable[..., Any], Callable[[Callable[[Any], Any]], Callable[[Any], Any]]] = {
    _require_utc: _utc_timestamp,
}


def _converter(annotation: Any) -> Callable[[Any], Any]:
    """How a delegated field's raw JSON scalar becomes pydantic's value: pydantic, or its fast mirror."""
    validate = TypeAdapter(annotation).validate_python
    base, *metadata = get_args(annotation) if get_origin(annotation) is Annotated else (annotation,)
    funcs = [getattr(m, "func", None) for m in metadata]
    if base is datetime and len(funcs) == 1 and funcs[0] in _FAST_MIRRORS:
        return _FAST_MIRRORS[funcs[0]](validate)  # type: ignore[index]
    return validate


def _make_post_init(
    adapters: dict[str, Callable[[Any], Any]], checks: list[Callable[[Any], Any]]
) -> Callable[[msgspec.Struct], None]:
    force_setattr = msgspec.structs.force_setattr
    pairs = tuple(adapters.items())
    checks_ = tuple(checks)

    def __post_init__(self: msgspec.Struct) -> None:
        for name, adapter in pairs:
            force_setattr(self, name, adapter(getattr(self, name)))
        for check in checks_:
            check(self)  # the model's own validator: raises ValueError like it does on the model

    return __post_init__


def _record_type(model: type[EventBase]) -> type[msgspec.Struct]:
    """The Struct mirroring one event model (its `type` is the Struct's tag, not a field)."""
    _check_mirrorable(model)
    tag_info = model.model_fields[TAG]
    (tag,) = get_args(tag_info.annotation)
    fields: list[tuple[str, Any, Any]] = []
    adapters: dict[str, Callable[[Any], Any]] = {}
    for name, info in model.model_fields.items():
        if name == TAG:
            continue
        annotation = _field_annotation(info)
        if needs_pydantic(annotation, ()):
            adapters[name] = _converter(annotation)
            ms_type: Any = RAW_SCALAR
        else:
            ms_type = msgspec_type(annotation)
        if info.default_factory is not None:
            default: Any = msgspec.field(default_factory=info.default_factory)  # type: ignore[arg-type]
            fields.append((name, ms_type, default))
        elif info.is_required():
            fields.append((name, ms_type, msgspec.NODEFAULT))
        else:
            if adapters.get(name) is not None:
                raise TypeError(f"fast_events cannot mirror the defaulted delegated field {model.__name__}.{name}")
            fields.append((name, ms_type, info.default))
    checks = [d.func for d in model.__pydantic_decorators__.model_validators.values()]
    namespace = {
        "__post_init__": _make_post_init(adapters, checks),
        "__doc__": f"Typed record of a `{tag}` event (mirrors {model.__module__}.{model.__name__}).",
        TAG: tag,
    }
    struct: type[msgspec.Struct] = msgspec.defstruct(
        f"{model.__name__}Record",
        [(n, t) if d is msgspec.NODEFAULT else (n, t, d) for n, t, d in fields],
        namespace=namespace,
        module=__name__,
        kw_only=True,
        frozen=True,
        forbid_unknown_fields=True,
        tag_field=TAG,
        tag=tag,
        gc=False,
    )
    return struct


_MODEL_RECORD: dict[type[BaseModel], type[msgspec.Struct]] = {m: _record_type(m) for m in EVENT_MODELS}
RECORD_TYPES: dict[str, type[msgspec.Struct]] = {getattr(r, TAG): r for r in _MODEL_RECORD.values()}
"""The typed record (msgspec Struct) of each event type, by `type` (the class attribute `type` is the tag)."""
_ONE: msgspec.json.Decoder[Any] = msgspec.json.Decoder(Union[tuple(RECORD_TYPES.values())])  # type: ignore[arg-type]  # noqa: UP007
_MANY: msgspec.json.Decoder[list[Any]] = msgspec.json.Decoder(list[Union[tuple(RECORD_TYPES.values())]])  # type: ignore[misc]  # noqa: UP007


# ---- decoding -----------------------------------------------------------------------------------------

_REFUSED = (msgspec.DecodeError, ValueError, TypeError, OverflowError)
"""What msgspec raises on a refused buffer (ValidationError is a DecodeError; bad UTF-8 a ValueError)."""


@dataclass(frozen=True, slots=True)
class Invalid:
    """An event that is not valid: its index in the input and the reason, worded as the worker's DLQ has it.

    `reason` is `not JSON: <orjson's message>` or `invalid event: <describe_validation_error(...)>`.
    """

    index: int
    reason: str


@dataclass(slots=True)
class Decoded:
    """A batch decoded: the valid events as typed records with their input indices, and the invalid ones."""

    records: list[msgspec.Struct]
    indices: list[int]
    invalid: list[Invalid]


def record_from_model(event: BaseModel) -> msgspec.Struct:
    """The typed record of an event pydantic validated (its values as pydantic normalised them)."""
    record_type = _MODEL_RECORD[type(event)]
    fields = record_type.__struct_fields__
    return record_type(**{name: getattr(event, name) for name in fields})


def _slow(value: bytes) -> msgspec.Struct | str:
    """Today's worker path (orjson, then pydantic): the record, or the dead-letter reason."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    return _slow_doc(doc)


def _slow_doc(doc: Any) -> msgspec.Struct | str:
    try:
        return record_from_model(parse_event(doc))
    except ValidationError as exc:
        return f"invalid event: {describe_validation_error(exc)}"
    except (ValueError, TypeError, OverflowError) as exc:  # a validator leaking a plain exception
        return f"invalid event: {type(exc).__name__}: {exc}"


def decode_batch(values: Sequence[bytes], start: int = 0) -> Decoded:
    """Decode and validate one event per buffer; `Decoded.indices` count from `start`.

    An invalid event is reported alone (its index and reason) and does not affect the others.
    """
    decode = _ONE.decode
    records: list[msgspec.Struct] = []
    indices: list[int] = []
    invalid: list[Invalid] = []
    for index, value in enumerate(values, start):
        try:
            records.append(decode(value))
        except _REFUSED:  # pydantic decides, and words the reason
            outcome = _slow(value)
            if isinstance(outcome, str):
                invalid.append(Invalid(index, outcome))
                continue
            records.append(outcome)
        indices.append(index)
    return Decoded(records, indices, invalid)


def decode_array(buffer: bytes, start: int = 0) -> Decoded:
    """Decode a JSON array of events in one buffer (one batched Kafka record).

    The whole array is decoded in one msgspec call; if any event in it is refused, each element is
    decoded on its own so only the bad ones are invalid. A buffer that is not a JSON array is one
    `Invalid(WHOLE_RECORD, reason)`.
    """
    try:
        records: list[msgspec.Struct] = _MANY.decode(buffer)
        return Decoded(records, list(range(start, start + len(records))), [])
    except _REFUSED:  # decide element by element
        pass
    try:
        docs = orjson.loads(buffer)
    except orjson.JSONDecodeError as exc:
        return Decoded([], [], [Invalid(WHOLE_RECORD, f"not JSON: {exc}")])
    if not isinstance(docs, list):
        return Decoded([], [], [Invalid(WHOLE_RECORD, "not a JSON array of events")])
    return decode_batch([orjson.dumps(doc) for doc in docs], start)
