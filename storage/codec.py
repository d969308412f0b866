"""Turning ClickHouse JSONCompact results into Python values by their declared types."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson

from storage.base import Row


def _to_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _converter(ch_type: str) -> Callable[[Any], Any] | None:
    base = ch_type
    for wrapper in ("LowCardinality(", "Nullable("):
        if base.startswith(wrapper):
            base = base[len(wrapper) : -1]
    if base.startswith("Decimal"):
        return Decimal
    if base in ("Int64", "UInt64", "Int128", "UInt128", "Int256", "UInt256"):
        return int
    if base.startswith("DateTime"):
        return _to_datetime
    return None


def decode_json_compact(payload: bytes) -> list[Row]:
    """Rows of a `JSONCompact` result with 64-bit integers and decimals quoted (exact)."""
    if not payload.strip():
        return []
    doc = orjson.loads(payload)
    names = [col["name"] for col in doc["meta"]]
    converters = [_converter(col["type"]) for col in doc["meta"]]
    rows: list[Row] = []
    for values in doc["data"]:
        row: Row = {}
        for name, conv, value in zip(names, converters, values, strict=True):
            row[name] = conv(value) if conv is not None and value is not None else value
        rows.append(row)
    return rows


#: Settings that make JSON output exact: decimals and 64-bit integers as strings.
EXACT_JSON_SETTINGS = (
    "output_format_json_quote_decimals=1, output_format_json_quote_64bit_integers=1, date_time_output_format='iso'"
)
