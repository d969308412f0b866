"""The rollups table (schemas.rollups), as text and on the real embedded engine."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from processors.pricing import PriceBook
from processors.rows import Record, build_batch
from processors.windows import UTC_ZONE, Agg, keys_of, rollup_row
from schemas.registry import distinct_key
from schemas.rollups import (
    GRANULARITIES,
    RECONCILE_PARTITION,
    ROLLUP_COLUMN_NAMES,
    ROLLUP_COLUMNS,
    ROLLUP_KEY_COLUMNS,
    ROLLUP_MEASURE_COLUMNS,
    ROLLUPS_TABLE,
    render_rollup_ddl,
)
from storage.chdb_store import ChdbWarehouse
from tests.factories import llm_call

RETENTION = {"minute": 7, "hour": 400, "day": 1830}

EXPECTED_DDL = """CREATE TABLE IF NOT EXISTS tally.rollups (
    tenant_id LowCardinality(String),
    granularity LowCardinality(String),
    window_start DateTime('UTC'),
    type LowCardinality(String),
    d1 String,
    d2 String,
    d3 String,
    domain LowCardinality(String),
    source_partition UInt32,
    range_id UInt64,
    events UInt64,
    errors UInt64,
    input_tokens UInt64,
    output_tokens UInt64,
    cached_input_tokens UInt64,
    reasoning_tokens UInt64,
    audio_seconds Float64,
    cost_usd Decimal(38, 12),
    unpriced UInt64,
    latency_ms_sum UInt64,
    latency_buckets Array(UInt64),
    content_chars UInt64,
    revenue Decimal(38, 12),
    rating_sum UInt64,
    rating_count UInt64,
    thumbs_up UInt64,
    thumbs_down UInt64,
    zero_results UInt64,
    sessions Array(UInt64),
    end_users Array(UInt64),
    measures Map(String, Float64),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY (granularity, toYYYYMM(window_start))
ORDER BY (tenant_id, granularity, window_start, type, d1, d2, d3, domain, source_partition, range_id)
TTL window_start + INTERVAL 7 DAY DELETE WHERE granularity = 'minute',
    window_start + INTERVAL 400 DAY DELETE WHERE granularity = 'hour',
    window_start + INTERVAL 1830 DAY DELETE WHERE granularity = 'day'"""


ADD_COLUMNS = [
    f"ALTER TABLE tally.rollups ADD COLUMN IF NOT EXISTS {name} {ch_type}" for name, ch_type in ROLLUP_MEASURE_COLUMNS
]


def test_rollup_ddl_text() -> None:
    assert render_rollup_ddl("tally", RETENTION) == [EXPECTED_DDL, *ADD_COLUMNS]
    assert ADD_COLUMNS[-1] == "ALTER TABLE tally.rollups ADD COLUMN IF NOT EXISTS measures Map(String, Float64)"


def test_retention_order_in_the_dict_does_not_matter() -> None:
    assert render_rollup_ddl("tally", {"day": 1830, "hour": 400, "minute": 7}) == [EXPECTED_DDL, *ADD_COLUMNS]


def test_other_retentions_and_database() -> None:
    ddl = render_rollup_ddl("other_db", {"minute": 1, "hour": 2, "day": 3})[0]
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS other_db.rollups (\n")
    assert ddl.endswith(
        "TTL window_start + INTERVAL 1 DAY DELETE WHERE granularity = 'minute',\n"
        "    window_start + INTERVAL 2 DAY DELETE WHERE granularity = 'hour',\n"
        "    window_start + INTERVAL 3 DAY DELETE WHERE granularity = 'day'"
    )


@pytest.mark.parametrize(
    "retention",
    [
        {"minute": 7, "hour": 400},
        {"minute": 7, "day": 1830},
        {},
        {"minute": 7, "hour": 400, "day": 1830, "week": 3000},
        {"minute": 0, "hour": 400, "day": 1830},
        {"minute": 7, "hour": 400, "day": 0},
        {"minute": 7, "hour": -1, "day": 1830},
    ],
)
def test_retention_needs_a_positive_number_of_days_for_each_granularity(retention: dict[str, int]) -> None:
    with pytest.raises(
        ValueError, match=r"^retention_days needs a positive number of days for each of \('minute', 'hour', 'day'\)$"
    ):
        render_rollup_ddl("tally", retention)


@pytest.mark.parametrize("name", ["x; DROP TABLE y", "1abc", "a.b", "", "a-b"])
def test_bad_database_name(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid database identifier"):
        render_rollup_ddl(name, RETENTION)


def test_table_and_granularities() -> None:
    assert ROLLUPS_TABLE == "rollups"
    assert GRANULARITIES == ("minute", "hour", "day")


def test_column_names_are_unique_and_in_order() -> None:
    assert len(set(ROLLUP_COLUMN_NAMES)) == len(ROLLUP_COLUMN_NAMES) == len(ROLLUP_COLUMNS) == 32
    assert ROLLUP_COLUMNS[:10] == ROLLUP_KEY_COLUMNS
    assert ROLLUP_COLUMNS[10:-1] == ROLLUP_MEASURE_COLUMNS
    assert ROLLUP_COLUMNS[-1] == ("version", "UInt64")
    assert ROLLUP_COLUMN_NAMES == (
        "tenant_id",
        "granularity",
        "window_start",
        "type",
        "d1",
        "d2",
        "d3",
        "domain",
        "source_partition",
        "range_id",
        "events",
        "errors",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "reasoning_tokens",
        "audio_seconds",
        "cost_usd",
        "unpriced",
        "latency_ms_sum",
        "latency_buckets",
        "content_chars",
        "revenue",
        "rating_sum",
        "rating_count",
        "thumbs_up",
        "thumbs_down",
        "zero_results",
        "sessions",
        "end_users",
        "measures",
        "version",
    )


def test_sorting_key_is_the_key_columns_ending_in_the_source_range() -> None:
    assert [name for name, _ in ROLLUP_KEY_COLUMNS][-2:] == ["source_partition", "range_id"]
    assert (
        "ORDER BY (tenant_id, granularity, window_start, type, d1, d2, d3, domain, source_partition, range_id)\n"
        in (render_rollup_ddl("tally", RETENTION)[0])
    )


def test_reconcile_partition_is_the_largest_uint32() -> None:
    assert RECONCILE_PARTITION == 2**32 - 1
    assert dict(ROLLUP_KEY_COLUMNS)["source_partition"] == "UInt32"


# --- on chDB ------------------------------------------------------------------------------------


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[ChdbWarehouse]:
    w = ChdbWarehouse(tmp_path / "chdb")
    await w.execute("CREATE DATABASE IF NOT EXISTS db")
    for statement in render_rollup_ddl("db", RETENTION):
        await w.execute(statement)
    yield w
    await w.close()


def _built_rows(now: datetime) -> tuple[list[dict[str, Any]], list[Any]]:
    ts = now - timedelta(minutes=5)  # recent: the minute TTL (7 days) would drop an old row on insert
    doc = llm_call("acme", ts, cached_input_tokens=200, reasoning_tokens=50, feature="chat", end_user_id="u-1")
    batch = build_batch([Record(b"acme", orjson.dumps(doc), 3, 1234, now)], PriceBook(), now)
    (row,) = batch.rows
    agg = Agg()
    agg.add_row(row)
    custom = build_batch(
        [
            Record(
                b"acme",
                orjson.dumps(
                    {
                        "event_id": "7b0e7f2e-3c38-4bd4-9a41-5f5a8b0e0d11",
                        "type": "custom",
                        "tenant_id": "acme",
                        "timestamp": ts.isoformat(),
                        "name": "build",
                        "measures": {"duration_s": 12.5},
                    }
                ),
                3,
                1235,
            )
        ],
        PriceBook(),
        now,
    ).rows[0]
    agg.add_row(custom)  # not a row of these keys: only there so the measures map is not empty
    keys = keys_of(row, batch.times[0], UTC_ZONE)
    return [rollup_row(key, agg, 3, 1234 // 100, 1235) for key in keys], keys


async def test_rollup_rows_fit_the_table(warehouse: ChdbWarehouse) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    rows, keys = _built_rows(now)
    await warehouse.insert("db.rollups", rows)
    stored = await warehouse.query(
        f"SELECT {', '.join(ROLLUP_COLUMN_NAMES)} FROM db.rollups FINAL ORDER BY granularity = 'day', "
        "granularity = 'hour'"
    )
    assert [r["granularity"] for r in stored] == ["minute", "hour", "day"]
    for got, sent, key in zip(stored, rows, keys, strict=True):
        assert tuple(got) == ROLLUP_COLUMN_NAMES
        assert got["window_start"] == key[2]
        assert {k: got[k] for k in ("tenant_id", "type", "d1", "d2", "d3", "domain")} == {
            "tenant_id": "acme",
            "type": "llm_call",
            "d1": "openai",
            "d2": "gpt-4o-mini",
            "d3": "chat",
            "domain": "",
        }
        assert (got["source_partition"], got["range_id"], got["version"]) == (3, 12, 1235)
        assert (got["events"], got["errors"], got["unpriced"]) == (2, 0, 0)
        assert (got["input_tokens"], got["output_tokens"], got["cached_input_tokens"], got["reasoning_tokens"]) == (
            1000,
            500,
            200,
            50,
        )
        assert got["cost_usd"] == sent["cost_usd"] == Decimal("0.000435000000")
        assert isinstance(got["cost_usd"], Decimal)
        assert (got["revenue"], got["audio_seconds"], got["latency_ms_sum"]) == (Decimal(0), 0.0, 420)
        assert [int(n) for n in got["latency_buckets"]] == [0, 0, 0, 0, 1, *[0] * 11]
        assert [int(x) for x in got["sessions"]] == [distinct_key("s-1")]
        assert [int(x) for x in got["end_users"]] == [distinct_key("u-1")]
        assert got["measures"] == {"duration_s": 12.5}
        assert (got["content_chars"], got["rating_sum"], got["rating_count"], got["zero_results"]) == (0, 0, 0, 0)
        assert (got["thumbs_up"], got["thumbs_down"]) == (0, 0)


async def test_final_keeps_the_highest_version_of_a_key(warehouse: ChdbWarehouse) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    rows, _ = _built_rows(now)
    day = rows[2]
    await warehouse.insert("db.rollups", [{**day, "events": 5, "version": 2000}])
    await warehouse.insert("db.rollups", [day])  # an older version written later (a slow zombie)
    await warehouse.insert("db.rollups", [{**day, "events": 9, "version": 2000, "range_id": 13}])  # another range
    await warehouse.insert("db.rollups", [{**day, "source_partition": RECONCILE_PARTITION, "version": 0}])
    stored = await warehouse.query(
        "SELECT source_partition, range_id, events, version FROM db.rollups FINAL ORDER BY source_partition, range_id"
    )
    assert stored == [
        {"source_partition": 3, "range_id": 12, "events": 5, "version": 2000},
        {"source_partition": 3, "range_id": 13, "events": 9, "version": 2000},
        {"source_partition": RECONCILE_PARTITION, "range_id": 12, "events": 2, "version": 0},
    ]
    (total,) = await warehouse.query("SELECT sum(events) AS events FROM db.rollups FINAL")
    assert total == {"events": 16}


async def test_ddl_runs_again_without_error(warehouse: ChdbWarehouse) -> None:
    for statement in render_rollup_ddl("db", RETENTION):
        await warehouse.execute(statement)
    assert await warehouse.query("SELECT count() AS n FROM db.rollups") == [{"n": 0}]
