"""A batch of typed events (schemas.fast_events records) as one polars frame of the events table.

The columnar counterpart of `processors.rows.event_row`: the same columns with the same values, built
a type at a time (`processors.event_columns.TYPE_COLUMNS` says which field fills which column), so a
batch costs a few column operations per type instead of a 55-key dict per event. Money stays exact:
revenue is Decimal(38, 12); costs are added by pricing as Int64 pico-USD and become Decimal(38, 12)
only in the Arrow batch (`events_table`), through the integer's own bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final
from uuid import UUID

import msgspec
import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

from processors.event_columns import type_frame
from schemas.arrow import TABLE_SCHEMAS
from schemas.ddl import EVENTS_COLUMNS, EVENTS_TABLE
from schemas.event_columns import to_columns
from schemas.type_columns import TYPE_COLUMNS
from schemas.types import USD_SCALE

_MAPS: Final = {"properties": pl.String, "dimensions": pl.String, "measures": pl.Float64}
"""Map columns of the events table and their value types: lists of {key, value} in a frame."""

_COMMON: Final = ("tenant_id", "event_id", "type", "ts", "session_id", "end_user_id", "domain", "properties")
_TEXT_COMMON: Final = ("session_id", "end_user_id", "domain")


def _polars_type(ch_type: str) -> pl.DataType:
    if ch_type.startswith("Map("):
        raise AssertionError("maps are handled apart")
    base = ch_type.removeprefix("LowCardinality(").rstrip(")") if "LowCardinality" in ch_type else ch_type
    if base.startswith("Decimal"):
        return pl.Decimal(38, USD_SCALE)
    if base.startswith("DateTime64"):
        return pl.Datetime("us", "UTC")
    return {
        "String": pl.String(),
        "UUID": pl.String(),
        "UInt64": pl.UInt64(),
        "UInt32": pl.UInt32(),
        "UInt16": pl.UInt16(),
        "UInt8": pl.UInt8(),
        "Int8": pl.Int8(),
        "Float64": pl.Float64(),
    }[base]


FRAME_TYPES: Final[dict[str, pl.DataType]] = {
    name: (pl.List(pl.Struct({"key": pl.String, "value": _MAPS[name]})) if name in _MAPS else _polars_type(ch))
    for name, ch in EVENTS_COLUMNS
    if name not in ("cost_usd", "price_status", "ingested_at", "source_partition", "source_offset", "source_index")
}
"""The frame's columns before pricing and positions: every events column the event itself fills."""


def _empty(dtype: pl.DataType) -> Any:
    if isinstance(dtype, pl.List):
        return []
    if dtype == pl.String:
        return ""
    if isinstance(dtype, pl.Decimal):
        return pl.lit(0).cast(dtype)
    return 0


_ARROW_VALUES: Final = {pl.String: pa.string(), pl.Float64: pa.float64()}


def _map_series(name: str, values: Sequence[dict[str, Any] | None]) -> pl.Series:
    """A map column as lists of {key, value}, built from flat Arrow arrays (polars' per-row constructor
    costs a DataFrame per event)."""
    offsets: list[int] = [0]
    keys: list[str] = []
    items: list[Any] = []
    for d in values:
        if d:
            keys += d.keys()
            items += d.values()
        offsets.append(len(keys))
    pairs = pa.StructArray.from_arrays(
        [pa.array(keys, pa.string()), pa.array(items, _ARROW_VALUES[_MAPS[name]])], names=["key", "value"]
    )
    series = pl.Series(name, pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pairs))
    return series.cast(FRAME_TYPES[name])


def _uuid_text(values: Sequence[UUID]) -> pl.Series:
    """The canonical text of each UUID (`str(uuid)`: lower-case hex, 8-4-4-4-12), from their bytes."""
    hexed = pl.Series("event_id", [v.bytes for v in values], dtype=pl.Binary).bin.encode("hex")
    parts = [hexed.str.slice(start, length) for start, length in ((0, 8), (8, 4), (12, 4), (16, 4), (20, 12))]
    return pl.select(pl.concat_str(parts, separator="-")).to_series().alias("event_id")


def _fields(tag: str, columns: dict[str, list[Any]]) -> pl.DataFrame:
    data: dict[str, pl.Series] = {}
    for name, values in columns.items():
        if name in _MAPS:
            data[name] = _map_series(name, values)
        elif name == "event_id":
            data[name] = _uuid_text(values)
        elif name == "revenue":
            data[name] = pl.Series(name, values, dtype=pl.Decimal(38, USD_SCALE))
        elif name == "timestamp":  # aware datetimes, converted by pyarrow (5x polars' constructor)
            data["ts"] = pl.Series("ts", pa.array(values, type=pa.timestamp("us", tz="UTC")))
        else:
            data[name] = pl.Series(name, values, strict=False)
    return pl.DataFrame(data)


def event_frame(records: Sequence[msgspec.Struct]) -> pl.DataFrame:
    """The events-table columns of `records` (in their order), before pricing: cost_usd, price_status,
    ingested_at and the source position are added by the caller."""
    if not records:
        return pl.DataFrame(schema=FRAME_TYPES | {"row": pl.UInt32})
    order: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        order.setdefault(record.type, []).append(i)  # type: ignore[attr-defined]
    frames = []
    for tag, columns in to_columns(records).items():
        fields = _fields(tag, columns)
        common = fields.select(
            *(pl.col(c).fill_null("") if c in _TEXT_COMMON else pl.col(c) for c in _COMMON if c in fields.columns),
            pl.col("schema_version") if "schema_version" in fields.columns else pl.lit(1).alias("schema_version"),
            pl.lit(tag).alias("type"),
        )
        if "properties" not in common.columns:
            common = common.with_columns(pl.lit([], dtype=FRAME_TYPES["properties"]).alias("properties"))
        typed = type_frame(tag, fields) if TYPE_COLUMNS.get(tag) else pl.DataFrame()
        row = pl.Series("row", order[tag], dtype=pl.UInt32)
        frames.append(pl.concat([common, typed], how="horizontal").with_columns(row))
    frame = pl.concat(frames, how="diagonal_relaxed")
    missing = [
        (pl.lit(_empty(dtype)) if not isinstance(dtype, pl.Decimal) else _empty(dtype)).alias(name)
        for name, dtype in FRAME_TYPES.items()
        if name not in frame.columns
    ]
    frame = frame.with_columns(missing).sort("row")
    casts = [
        (pl.col(name) if isinstance(dtype, pl.Datetime) else pl.col(name).fill_null(_empty(dtype))).cast(dtype)
        for name, dtype in FRAME_TYPES.items()
    ]
    return frame.select(*casts, "row")


def pico_to_decimal(pico: pl.Series) -> pa.Array:
    """Int64 pico-USD as Arrow Decimal(38, 12) USD, exactly: the unscaled 128-bit integer is the pico count."""
    values = pico.to_numpy().astype("<i8", copy=False)
    words = np.empty((len(values), 2), dtype="<i8")
    words[:, 0] = values
    words[:, 1] = np.where(values < 0, -1, 0)
    return pa.Array.from_buffers(pa.decimal128(38, USD_SCALE), len(values), [None, pa.py_buffer(words.tobytes())])


def events_table(frame: pl.DataFrame, ingested_at: datetime) -> pa.Table:
    """The Arrow batch of the events table from a priced frame (`cost_pico`, `price_status`, positions)."""
    schema = TABLE_SCHEMAS[EVENTS_TABLE]
    columns: dict[str, Any] = {}
    for field in schema:
        name = field.name
        if name == "cost_usd":
            columns[name] = pico_to_decimal(frame.get_column("cost_pico"))
        elif name == "ingested_at":
            columns[name] = pa.array([ingested_at] * frame.height, type=field.type)
        elif name in _MAPS:
            pairs = frame.get_column(name).to_arrow()
            columns[name] = pa.MapArray.from_arrays(
                pairs.offsets.cast(pa.int32()),
                pairs.values.field("key").cast(field.type.key_type),
                pairs.values.field("value").cast(field.type.item_type),
                type=field.type,
            )
        else:
            columns[name] = frame.get_column(name).to_arrow()
    return pa.Table.from_arrays(
        [columns[f.name] if columns[f.name].type == f.type else columns[f.name].cast(f.type) for f in schema],
        schema=schema,
    )
