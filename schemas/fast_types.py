"""Pydantic field annotations translated to msgspec types and constraints (`schemas.fast_events`).

What msgspec checks natively (lengths, patterns with Python's `$` made `\\Z`, ranges, literals) is
carried over; what it cannot check the same way (`DELEGATED_TYPES`, validator functions) is marked
for pydantic: `needs_pydantic` says so, and the field is read as a raw JSON scalar (`RAW_SCALAR`).
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

import annotated_types
import msgspec
from pydantic.fields import FieldInfo

#: types pydantic parses with its own rules: msgspec reads the raw scalar, pydantic validates it
DELEGATED_TYPES: tuple[type, ...] = (datetime, Decimal)
RAW_SCALAR = str | int | float


# ---- annotation translation (pydantic -> msgspec) ---------------------------------------------------


def _constraints(metadata: Sequence[Any]) -> tuple[dict[str, Any], bool]:
    """msgspec.Meta keyword arguments from pydantic metadata, and whether a validator function is present."""
    meta: dict[str, Any] = {}
    has_validator = False
    for item in metadata:
        if isinstance(item, FieldInfo):
            sub, sub_validator = _constraints(item.metadata)
            meta.update(sub)
            has_validator |= sub_validator
        elif isinstance(item, annotated_types.MinLen):
            meta["min_length"] = item.min_length
        elif isinstance(item, annotated_types.MaxLen):
            meta["max_length"] = item.max_length
        elif isinstance(item, annotated_types.Ge):
            meta["ge"] = item.ge
        elif isinstance(item, annotated_types.Le):
            meta["le"] = item.le
        elif isinstance(item, annotated_types.Gt):
            meta["gt"] = item.gt
        elif isinstance(item, annotated_types.Lt):
            meta["lt"] = item.lt
        elif type(item).__name__ in {"StringConstraints", "_PydanticGeneralMetadata", "AllowInfNan"}:
            for key, value in vars(item).items() if hasattr(item, "__dict__") else _slots(item):
                if value is None:
                    continue
                if key in {"min_length", "max_length", "pattern", "max_digits", "decimal_places"}:
                    meta[key] = value
                elif key == "allow_inf_nan":
                    # JSON cannot carry NaN or an infinity (orjson and msgspec both refuse them): no check needed
                    continue
                else:
                    raise TypeError(f"fast_events cannot mirror the constraint {key}={value!r}")
        elif type(item).__name__ in {"AfterValidator", "BeforeValidator", "PlainValidator", "WrapValidator"}:
            has_validator = True
        else:
            raise TypeError(f"fast_events cannot mirror the metadata {item!r}")
    return meta, has_validator


def constraints_of(metadata: Sequence[Any]) -> dict[str, Any]:
    """The constraints (min_length, max_length, pattern, ge, le, max_digits ...) in pydantic field metadata."""
    return _constraints(metadata)[0]


def _slots(item: Any) -> list[tuple[str, Any]]:
    return [(name, getattr(item, name)) for name in getattr(type(item), "__slots__", ())]


def _python_pattern(pattern: str) -> str:
    """The pydantic (Rust regex) pattern for Python's `re`, which msgspec uses: a final `$` becomes `\\Z`.

    Python's `$` also matches before a trailing newline; Rust's does not ("t1\\n" is not a tenant id).
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    if "$" in pattern.replace("\\$", "") or "(?" in pattern:
        raise TypeError(f"fast_events cannot mirror the pattern {pattern!r}")
    return pattern


def _annotated(base: Any, meta: dict[str, Any]) -> Any:
    if not meta:
        return base
    if "pattern" in meta:
        meta = {**meta, "pattern": _python_pattern(meta["pattern"])}
    return Annotated[base, msgspec.Meta(**meta)]


def needs_pydantic(annotation: Any, metadata: Sequence[Any]) -> bool:
    """Whether pydantic's own validator must decide this value (see the module docstring)."""
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        return needs_pydantic(base, [*metadata, *extra])
    if _constraints(metadata)[1]:
        return True
    if isinstance(annotation, type) and issubclass(annotation, DELEGATED_TYPES):
        return True
    if get_origin(annotation) in (Union, types.UnionType, dict):
        return any(needs_pydantic(arg, []) for arg in get_args(annotation))
    return False


def msgspec_type(annotation: Any, metadata: Sequence[Any] = ()) -> Any:
    """The msgspec type checking what pydantic checks for `annotation` with field `metadata`."""
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        return msgspec_type(base, [*metadata, *extra])
    meta, has_validator = _constraints(metadata)
    origin = get_origin(annotation)
    if has_validator or needs_pydantic(annotation, ()):
        raise TypeError(f"{annotation!r} must be delegated to pydantic")  # callers check needs_pydantic first
    if origin in (Union, types.UnionType):
        if meta:
            raise TypeError(f"fast_events cannot mirror constraints {meta} on the union {annotation!r}")
        return Union[tuple(msgspec_type(arg) for arg in get_args(annotation))]  # noqa: UP007
    if origin is Literal:
        values = get_args(annotation)
        if meta or any(isinstance(v, bool) or not isinstance(v, str | int) for v in values):
            raise TypeError(f"fast_events cannot mirror {annotation!r}")
        return annotation
    if origin is dict:
        key, value = get_args(annotation)
        return _annotated(dict[msgspec_type(key), msgspec_type(value)], meta)  # type: ignore[misc]
    if annotation is type(None):
        return annotation
    if annotation in (str, int, float):
        return _annotated(annotation, meta)
    if annotation is UUID and not meta:
        return UUID
    raise TypeError(f"fast_events cannot mirror the type {annotation!r}")
