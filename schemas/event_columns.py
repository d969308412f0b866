"""Typed event records (schemas.fast_events) turned into per-type columns, as lists or Arrow tables.

The Arrow type of each column is derived from the pydantic model's field (the contract), so a new
field gets its column without an edit here: str and Literal -> string, int -> int64, float ->
float64, UUID -> string (canonical form, as stored), datetime -> timestamp[us, UTC], Decimal ->
decimal128(max_digits, decimal_places), dict[str, V] -> map<string, V>; optional fields are nullable.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

import msgspec
import pyarrow as pa  # type: ignore[import-untyped]

from schemas.event_models import EVENT_MODELS
from schemas.fast_events import RECORD_TYPES, TAG, constraints_of

__all__ = ["ARROW_SCHEMAS", "Columns", "to_arrow", "to_columns"]

Columns = dict[str, list[Any]]
"""One list per field, all of the same length, in the record type's field order."""


def _arrow_type(annotation: Any, metadata: Sequence[Any] = ()) -> pa.DataType:
    if get_origin(annotation) is Annotated:
        base, *extra = get_args(annotation)
        return _arrow_type(base, [*metadata, *extra])
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        (inner,) = [a for a in get_args(annotation) if a is not type(None)]
        return _arrow_type(inner, metadata)
    if origin is Literal:
        (kind,) = {type(v) for v in get_args(annotation)}
        return _arrow_type(kind)
    if origin is dict:
        key, value = get_args(annotation)
        return pa.map_(_arrow_type(key), _arrow_type(value))
    if annotation is Decimal:
        meta = constraints_of(metadata)
        return pa.decimal128(meta["max_digits"], meta["decimal_places"])
    simple = {
        str: pa.string(),
        int: pa.int64(),
        float: pa.float64(),
        UUID: pa.string(),
        datetime: pa.timestamp("us", "UTC"),
    }
    return simple[annotation]


ARROW_SCHEMAS: dict[str, pa.Schema] = {
    tag: pa.schema(
        [
            (name, _arrow_type(info.annotation, info.metadata))
            for name, info in model.model_fields.items()
            if name != TAG
        ]
    )
    for tag, model in zip(RECORD_TYPES, EVENT_MODELS, strict=True)
}
"""The Arrow schema of each event type's columns, derived from its pydantic model."""

_AS_TEXT: dict[str, frozenset[str]] = {
    tag: frozenset(name for name, info in model.model_fields.items() if info.annotation is UUID)
    for tag, model in zip(RECORD_TYPES, EVENT_MODELS, strict=True)
}


def to_columns(records: Sequence[msgspec.Struct]) -> dict[str, Columns]:
    """Per event type (`type`), one list per field, records in input order within their type."""
    by_type: dict[type[msgspec.Struct], list[msgspec.Struct]] = {}
    for record in records:
        by_type.setdefault(type(record), []).append(record)
    out: dict[str, Columns] = {}
    for record_type, group in by_type.items():  # a field at a time: no tuple per record to build and collect
        out[getattr(record_type, TAG)] = {
            name: list(map(attrgetter(name), group)) for name in record_type.__struct_fields__
        }
    return out


def to_arrow(records: Sequence[msgspec.Struct]) -> dict[str, pa.Table]:
    """Per event type, an Arrow table with the type's derived schema (UUIDs as their canonical string)."""
    tables: dict[str, pa.Table] = {}
    for tag, columns in to_columns(records).items():
        schema, as_text = ARROW_SCHEMAS[tag], _AS_TEXT[tag]
        arrays = []
        for field in schema:
            values = columns[field.name]
            if field.name in as_text:
                values = [str(v) for v in values]
            elif pa.types.is_map(field.type):
                values = [list(v.items()) for v in values]
            arrays.append(pa.array(values, type=field.type))
        tables[tag] = pa.Table.from_arrays(arrays, schema=schema)
    return tables
