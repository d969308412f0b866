"""The columnar events frame equals the row path (`processors.rows.event_row`) on every column."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.event_frame import FRAME_TYPES, event_frame, events_table, pico_to_decimal
from processors.pricing import PriceBook
from processors.rows import event_row
from schemas.ddl import ch_datetime64
from schemas.event_models import EVENT_MODELS
from schemas.events import parse_event
from schemas.fast_events import decode_batch
from schemas.types import USD_SCALE
from tests.unit.fast_events_strategies import encode, event_doc

BATCH = settings(derandomize=True, database=None, deadline=None, max_examples=15)
STAMP = "2026-11-24 12:00:00.000"


def _comparable(name: str, value: Any) -> Any:
    if name in ("properties", "dimensions", "measures"):
        return dict(value) if isinstance(value, dict) else {p["key"]: p["value"] for p in value}
    if name == "ts":
        return value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) else value
    if name == "revenue":
        return Decimal(value).quantize(Decimal(1).scaleb(-USD_SCALE))
    return value


@BATCH
@given(st.lists(st.sampled_from(EVENT_MODELS).flatmap(lambda m: event_doc(m, canonical=True)), min_size=1, max_size=25))
def test_every_column_of_every_type_equals_the_row_path(docs: list[dict[str, Any]]) -> None:
    raw = [encode(d) for d in docs]
    decoded = decode_batch(raw)
    assert not decoded.invalid
    frame = event_frame(decoded.records)
    assert frame.height == len(docs) and frame.get_column("row").to_list() == list(range(len(docs)))
    book = PriceBook()
    for i, value in enumerate(raw):
        expected = event_row(parse_event(__import__("orjson").loads(value)), book, STAMP)
        got = frame.row(i, named=True)
        for name in FRAME_TYPES:
            want = expected[name]
            if name == "ts":
                got = {**got, "ts": ch_datetime64(got["ts"])}
            assert _comparable(name, got[name]) == _comparable(name, want), (name, docs[i]["type"])


def test_costs_become_exact_decimals_through_their_own_bytes() -> None:
    pico = pl.Series([0, 1, 123_456_789_012_345, -7, 2**63 - 1], dtype=pl.Int64)
    decimals = pico_to_decimal(pico).to_pylist()
    assert decimals == [Decimal(p).scaleb(-12) for p in pico.to_list()]


def test_the_arrow_batch_has_the_events_tables_schema() -> None:
    doc = {
        "type": "custom",
        "event_id": "00000000-0000-4000-8000-000000000001",
        "tenant_id": "acme",
        "timestamp": "2026-11-24T11:59:00.123Z",
        "name": "build",
        "dimensions": {"site_type": "shop", "status": "failed"},
        "measures": {"seconds": 12.5},
        "properties": {"k": "v"},
    }
    frame = event_frame(decode_batch([encode(doc)]).records)
    priced = frame.with_columns(
        pl.lit(1_500_000, dtype=pl.Int64).alias("cost_pico"),
        pl.lit("not_applicable").alias("price_status"),
        pl.lit(3, dtype=pl.UInt16).alias("source_partition"),
        pl.lit(42, dtype=pl.UInt64).alias("source_offset"),
        pl.lit(7, dtype=pl.UInt32).alias("source_index"),
    )
    table = events_table(priced, datetime(2026, 11, 24, 12, tzinfo=UTC))
    (row,) = table.to_pylist()
    assert row["cost_usd"] == Decimal("0.000001500000")
    assert dict(row["dimensions"]) == {"site_type": "shop", "status": "failed"}
    assert dict(row["measures"]) == {"seconds": 12.5}
    assert row["ts"] == datetime(2026, 11, 24, 11, 59, 0, 123000, tzinfo=UTC)
    assert (row["source_partition"], row["source_offset"], row["source_index"], row["name"]) == (3, 42, 7, "build")
    assert isinstance(table, pa.Table)
