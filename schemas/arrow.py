"""Arrow schemas of tallystream's tables, derived from the same column declarations as the DDL.

A table's columns are declared once, as `(name, ClickHouse type)` pairs (schemas/ddl.py
`EVENTS_COLUMNS`, schemas/rollups.py `ROLLUP_COLUMNS`); `arrow_schema` turns such a declaration
into the Arrow schema batches for that table carry, following the type mapping of ClickHouse's
Arrow input format (String/UUID <- utf8, DateTime64(3, 'UTC') <- timestamp[ms, UTC],
Decimal(38, 12) <- decimal128(38, 12), Array <- list, Map <- map; LowCardinality is a storage
detail: plain utf8). `arrow_table` builds a batch from column lists with those types.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]

from schemas.ddl import EVENTS_COLUMNS, EVENTS_TABLE
from schemas.rollups import ROLLUP_COLUMNS, ROLLUPS_TABLE

Columns = Sequence[tuple[str, str]]

_SCALARS: Final[dict[str, pa.DataType]] = {
    "String": pa.string(),
    "UUID": pa.string(),
    "Bool": pa.bool_(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Date": pa.date32(),
    "Date32": pa.date32(),
}
_TIME_UNITS: Final = {0: "s", 3: "ms", 6: "us", 9: "ns"}
_QUOTED: Final = re.compile(r"^'([A-Za-z_/+\-0-9]+)'$")


def split_arguments(text: str) -> list[str]:
    """The top-level, comma-separated arguments of a type's parentheses (`Map(A(B), C)` -> [A(B), C])."""
    args, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    args.append(text[start:].strip())
    return args


def _timezone(arg: str, ch_type: str) -> str:
    match = _QUOTED.match(arg)
    if match is None:
        raise ValueError(f"unsupported time zone in {ch_type!r}")
    return match.group(1)


def arrow_type(ch_type: str) -> pa.DataType:
    """The Arrow type carrying values of the ClickHouse type `ch_type` (ValueError if not supported)."""
    ch_type = ch_type.strip()
    if ch_type in _SCALARS:
        return _SCALARS[ch_type]
    name, paren, rest = ch_type.partition("(")
    if not paren or not rest.endswith(")"):
        raise ValueError(f"unsupported ClickHouse type {ch_type!r}")
    args = split_arguments(rest[:-1])
    if name in ("LowCardinality", "Nullable") and len(args) == 1:
        return arrow_type(args[0])
    if name == "Array" and len(args) == 1:
        return pa.list_(pa.field("item", arrow_type(args[0]), nullable=_nullable(args[0])))
    if name == "Map" and len(args) == 2:
        return pa.map_(arrow_type(args[0]), pa.field("value", arrow_type(args[1]), nullable=_nullable(args[1])))
    if name == "Decimal" and len(args) == 2 and all(a.isdigit() for a in args):
        precision, scale = int(args[0]), int(args[1])
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if name == "DateTime" and len(args) == 1:
        return pa.timestamp("s", _timezone(args[0], ch_type))
    if name == "DateTime64" and len(args) == 2 and args[0].isdigit() and int(args[0]) in _TIME_UNITS:
        return pa.timestamp(_TIME_UNITS[int(args[0])], _timezone(args[1], ch_type))
    raise ValueError(f"unsupported ClickHouse type {ch_type!r}")


def _nullable(ch_type: str) -> bool:
    ch_type = ch_type.strip()
    if ch_type.startswith("LowCardinality("):
        ch_type = ch_type[len("LowCardinality(") : -1]
    return ch_type.startswith("Nullable(")


def arrow_schema(columns: Columns) -> pa.Schema:
    """The Arrow schema of a table declared as `(name, ClickHouse type)` pairs, in table order."""
    return pa.schema([pa.field(name, arrow_type(ch_type), nullable=_nullable(ch_type)) for name, ch_type in columns])


TABLE_COLUMNS: Final[dict[str, Columns]] = {EVENTS_TABLE: EVENTS_COLUMNS, ROLLUPS_TABLE: ROLLUP_COLUMNS}
"""The tables written in Arrow batches (the hot path), by unqualified name."""

TABLE_SCHEMAS: Final[dict[str, pa.Schema]] = {table: arrow_schema(cols) for table, cols in TABLE_COLUMNS.items()}


def arrow_table(schema: pa.Schema, columns: Mapping[str, Any]) -> pa.Table:
    """A batch of `schema` from column lists (Python sequences or Arrow arrays), in the schema's order.

    Values keep their exact form: Decimal for decimals, aware datetimes for timestamps, dicts or
    (key, value) lists for maps, lists for arrays. ValueError names a missing, extra or ill-typed column.
    """
    missing = [name for name in schema.names if name not in columns]
    extra = sorted(set(columns) - set(schema.names))
    if missing or extra:
        raise ValueError(f"columns do not match the table: missing {missing}, unexpected {extra}")
    arrays = []
    for field in schema:
        values = columns[field.name]
        try:
            if isinstance(values, pa.Array | pa.ChunkedArray):
                array = values if values.type == field.type else values.cast(field.type)
            else:
                array = pa.array(values, type=field.type)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, OverflowError) as exc:
            raise ValueError(f"column {field.name} does not hold {field.type}: {exc}") from exc
        arrays.append(array)
    return conform(pa.Table.from_arrays(arrays, schema=schema), schema)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly the columns of `schema`, in its order and with its types (safe casts only).

    ValueError names the column that is missing, unexpected, null where the table has no nulls, or
    not castable without loss: what a store refuses before the engine sees the batch.
    """
    names = table.schema.names
    if len(set(names)) != len(names):
        raise ValueError("duplicate column names in the batch")
    missing = [name for name in schema.names if name not in names]
    extra = sorted(set(names) - set(schema.names))
    if missing or extra:
        raise ValueError(f"columns do not match the table: missing {missing}, unexpected {extra}")
    arrays = []
    for field in schema:
        column = table.column(field.name)
        if column.type != field.type:
            try:
                column = column.cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                raise ValueError(f"column {field.name}: {column.type} does not cast to {field.type}: {exc}") from exc
        if not field.nullable and _has_nulls(column):
            raise ValueError(f"column {field.name} holds nulls; the table has none there")
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=schema)


def _has_nulls(column: pa.ChunkedArray | pa.Array) -> bool:
    """Nulls in `column` or in the non-nullable parts inside it (array items, map keys and values)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    for chunk in chunks:
        if chunk.null_count:
            return True
        kind = chunk.type
        if pa.types.is_map(kind):
            if _has_nulls(chunk.keys) or (not kind.item_field.nullable and _has_nulls(chunk.items)):
                return True
        elif pa.types.is_list(kind) and not kind.value_field.nullable and _has_nulls(chunk.flatten()):
            return True
    return False
