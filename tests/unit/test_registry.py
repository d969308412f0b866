"""The rollup registry (schemas.registry): one declaration drives the DDL, the worker, reconcile and the SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from processors.pricing import PriceBook
from processors.reconcile import _stream_sql, difference
from processors.rows import Record, Row, build_batch
from processors.windows import UTC_ZONE, Agg, Aggregation, rollup_row
from schemas.ddl_cluster import render_cluster_ddl
from schemas.registry import DISTINCT_MEASURES, REGISTRY, Measure, distinct_key, distinct_keys
from schemas.rollups import (
    ROLLUP_COLUMNS,
    ROLLUP_DIMENSIONS,
    ROLLUPS_TABLE,
    distinct_upgrade,
    render_rollup_ddl,
    rollup_columns,
)
from storage.chdb_store import ChdbWarehouse
from tests.factories import llm_call, message
from views_api.queries import MEASURES
from views_api.routes.series import SERIES_MEASURES

RETENTION = {"minute": 7, "hour": 400, "day": 1830}
NOW = datetime.now(UTC).replace(microsecond=0)

# A toy measure, declared once: the slowest LLM call of a key (tokens of other types do not apply).
SLOWEST = Measure("slowest_ms", "Nullable(UInt64)", "max", "latency_ms", frozenset({"llm_call"}))
TOY = REGISTRY.with_measure(SLOWEST)


def rows_of(*docs: dict[str, Any]) -> list[Row]:
    batch = build_batch([Record(d["tenant_id"].encode(), orjson.dumps(d)) for d in docs], PriceBook(), NOW)
    assert batch.dead == []
    return batch.rows


CALLS = rows_of(
    llm_call("acme", NOW - timedelta(minutes=3), latency_ms=420),
    llm_call("acme", NOW - timedelta(minutes=3), latency_ms=1900, session_id="s-2"),
    message("acme", NOW - timedelta(minutes=3)),
)


def test_the_registry_is_the_table_columns_the_views_and_the_series_whitelist() -> None:
    assert tuple(name for name, _ in ROLLUP_COLUMNS[10:-1]) == tuple(m.name for m in REGISTRY.measures)
    assert {m.name for m in REGISTRY.measures} <= set(MEASURES)
    assert MEASURES["cost_usd"] == "sum(r.cost_usd)" and MEASURES["sessions"] == "uniqExactArray(r.sessions)"
    assert "latency_buckets" not in SERIES_MEASURES and "audio_seconds" in SERIES_MEASURES
    assert ROLLUP_DIMENSIONS["llm_call"] == ("provider", "model", "feature")
    assert REGISTRY.types["search"].slot("query") == "d2"


def test_a_toy_measure_reaches_the_ddl() -> None:
    create, *alters = render_rollup_ddl("db", RETENTION, TOY)
    assert "    measures Map(String, Float64),\n    slowest_ms Nullable(UInt64),\n    version UInt64\n)" in create
    assert alters[-1] == "ALTER TABLE db.rollups ADD COLUMN IF NOT EXISTS slowest_ms Nullable(UInt64)"
    assert "slowest_ms" not in render_rollup_ddl("db", RETENTION)[0]
    cluster = render_cluster_ddl("db", "c", registry=TOY)
    assert "ALTER TABLE db.rollups_local ON CLUSTER c ADD COLUMN IF NOT EXISTS slowest_ms Nullable(UInt64)" in cluster
    assert ("slowest_ms", "Nullable(UInt64)") in rollup_columns(TOY)


def test_a_toy_measure_reaches_the_aggregation_and_reconcile() -> None:
    toy = Aggregation(TOY)
    a, b = Agg(toy), Agg(toy)
    a.add_row(CALLS[0])
    b.add_row(CALLS[1])
    b.add_row(CALLS[2])  # a message: the measure does not apply
    assert (a.slowest_ms, b.slowest_ms) == (420, 1900)
    assert a.merge(b).slowest_ms == 1900 and a.events == 3
    assert Agg(toy).slowest_ms is None  # nothing yet: NULL
    key = ("acme", "minute", NOW, "llm_call", "openai", "gpt-4o-mini", "", "")
    row = rollup_row(key, a, 0, 0, 1)
    assert list(row)[-2:] == ["slowest_ms", "version"] and row["slowest_ms"] == 1900
    # reconcile: a max carries the truth (merging it again changes nothing); sums subtract
    stream: dict[str, Any] = {
        m: 0 for m in ("events", "errors", "input_tokens", "output_tokens", "cached_input_tokens")
    }
    stream |= {m: 0 for m in ("reasoning_tokens", "unpriced", "latency_ms_sum", "content_chars", "rating_sum")}
    stream |= {m: 0 for m in ("rating_count", "thumbs_up", "thumbs_down", "zero_results", "cost_usd", "revenue")}
    stream |= {"events": 1, "audio_seconds": 0.0, "latency_buckets": [0] * 16, "measures": {}}
    fix = difference(a, stream)
    assert (fix.events, fix.slowest_ms) == (2, 1900)
    assert "slowest_ms" not in _stream_sql(TOY) and "sum(cost_usd) AS cost_usd" in _stream_sql(TOY)


def test_every_merge_kind_is_associative_and_commutative() -> None:
    toy = Aggregation(
        REGISTRY.with_measure(Measure("fastest", "Nullable(UInt64)", "min", "latency_ms", frozenset({"llm_call"})))
        .with_measure(Measure("last_in", "Tuple(UInt64, Nullable(UInt64))", "last", lambda r: (r["latency_ms"], r["input_tokens"])))
    )  # fmt: skip
    parts = [Agg(toy) for _ in CALLS]
    for part, row in zip(parts, CALLS, strict=True):
        part.add_row(row)
    forward, backward = Agg(toy), Agg(toy)
    for p in parts:
        forward.merge(p)
    for p in reversed(parts):
        backward.merge(p)
    assert forward == backward
    assert (forward.fastest, forward.last_in, forward.events) == (420, (1900, 1000), 3)
    assert toy.registry.measure("last_in").sql("r.last_in") == "argMax(r.last_in.2, r.last_in.1)"


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[ChdbWarehouse]:
    w = ChdbWarehouse(tmp_path / "chdb")
    await w.execute("CREATE DATABASE IF NOT EXISTS db")
    yield w
    await w.close()


async def test_a_toy_measure_is_stored_and_read_by_its_sql(warehouse: ChdbWarehouse) -> None:
    for statement in render_rollup_ddl("db", RETENTION, TOY):
        await warehouse.execute(statement)
    toy = Aggregation(TOY)
    rows = []
    for i, call in enumerate(CALLS):  # one row per event, as if each came from its own range
        agg = Agg(toy)
        agg.add_row(call)
        key = toy.keys_of(call, NOW - timedelta(minutes=3), UTC_ZONE)[0]
        rows.append(rollup_row(key, agg, 0, i, 1))
    await warehouse.insert(f"db.{ROLLUPS_TABLE}", rows)
    sql = ", ".join(f"{TOY.measure(m).sql(f'r.{m}')} AS {m}" for m in ("slowest_ms", "events", "sessions"))
    (got,) = await warehouse.query(f"SELECT {sql} FROM db.{ROLLUPS_TABLE} AS r FINAL WHERE r.type = 'llm_call'")
    assert (int(got["slowest_ms"]), int(got["events"]), int(got["sessions"])) == (1900, 2, 2)


async def test_distinct_keys_are_clickhouse_half_md5(warehouse: ChdbWarehouse) -> None:
    ids = ["s-1", "", "é☃ session", "x" * 300]
    got = await warehouse.query("SELECT arrayMap(x -> halfMD5(x), {ids:Array(String)}) AS h", {"ids": ids})
    assert [int(h) for h in got[0]["h"]] == [distinct_key(i) for i in ids]
    assert distinct_keys(ids) == [int(h) for h in got[0]["h"]]  # the batch form: the same hashes, in order


async def test_an_old_store_upgrades_its_id_arrays_to_hashes(warehouse: ChdbWarehouse) -> None:
    old = render_rollup_ddl("db", RETENTION)[0]
    for name in DISTINCT_MEASURES:
        old = old.replace(f"{name} Array(UInt64)", f"{name} Array(String)")
    await warehouse.execute(old)
    key: dict[str, Any] = {
        "tenant_id": "acme",
        "granularity": "day",
        "window_start": NOW.strftime("%Y-%m-%d 00:00:00"),
        "type": "message",
    }
    key |= {"d1": "user", "d2": "", "d3": "", "domain": "", "source_partition": 0, "version": 1}
    await warehouse.insert(
        f"db.{ROLLUPS_TABLE}",
        [{**key, "range_id": 0, "events": 2, "sessions": ["s-1", "s-2"], "end_users": ["u-1"]},
         {**key, "range_id": 1, "events": 1, "sessions": ["s-2"], "end_users": []}],
    )  # fmt: skip
    for statement in distinct_upgrade("db"):
        await warehouse.execute(statement)
    (got,) = await warehouse.query(
        f"SELECT {MEASURES['sessions']} AS sessions, {MEASURES['end_users']} AS end_users, sum(r.events) AS events, "
        f"groupUniqArrayArray(r.sessions) AS hashes FROM db.{ROLLUPS_TABLE} AS r FINAL"
    )
    assert (int(got["sessions"]), int(got["end_users"]), int(got["events"])) == (2, 1, 3)
    assert sorted(int(h) for h in got["hashes"]) == sorted(distinct_key(s) for s in ("s-1", "s-2"))
    (column,) = await warehouse.query(
        "SELECT type FROM system.columns WHERE database = 'db' AND table = 'rollups' AND name = 'sessions'"
    )
    assert column["type"] == "Array(UInt64)"


@pytest.mark.parametrize("fenced", [False, True], ids=["embedded", "store-fenced engine"])
async def test_create_schema_upgrades_an_older_store_by_itself(tmp_path: Path, fenced: bool) -> None:
    """A store written before the registry (ids in the distinct arrays) is upgraded at the next start,
    also by the store server's engine, whose user holds only the roles' grants."""
    from storage.factory import WarehouseSettings, create_schema

    settings = WarehouseSettings(chdb_path=tmp_path / "chdb", database="db")
    old = ChdbWarehouse(settings.chdb_path)
    await old.execute("CREATE DATABASE IF NOT EXISTS db")
    ddl = render_rollup_ddl("db", RETENTION)[0]
    for name in DISTINCT_MEASURES:
        ddl = ddl.replace(f"{name} Array(UInt64)", f"{name} Array(String)")
    await old.execute(ddl)
    row = {"tenant_id": "acme", "granularity": "day", "window_start": NOW.strftime("%Y-%m-%d 00:00:00")}
    row |= {"type": "message", "d1": "user", "d2": "", "d3": "", "domain": "", "source_partition": 0, "version": 1}
    await old.insert(f"db.{ROLLUPS_TABLE}", [{**row, "range_id": 0, "events": 2, "sessions": ["s-1", "s-2"]}])
    await old.close()

    upgraded = ChdbWarehouse(settings.chdb_path, fenced_database="db" if fenced else None)
    try:
        await create_schema(upgraded, settings)
        await create_schema(upgraded, settings)  # idempotent: nothing left to upgrade
        (got,) = await upgraded.query(
            f"SELECT toTypeName(any(sessions)) AS t, groupUniqArrayArray(sessions) AS hashes FROM db.{ROLLUPS_TABLE}"
        )
    finally:
        await upgraded.close()
    assert got["t"] == "Array(UInt64)"
    assert sorted(int(h) for h in got["hashes"]) == sorted(distinct_key(s) for s in ("s-1", "s-2"))
