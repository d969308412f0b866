"""Rollups on the real engine (chDB): windows, replays, duplicates, late events and reconcile, exactly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from processors.pipeline import BatchHandler
from processors.reconcile import reconcile
from processors.rows import DeadLetter, Record
from processors.sink import EventSink
from schemas.ddl import render_ddl
from schemas.rollups import render_rollup_ddl
from storage.chdb_store import ChdbWarehouse
from tests.factories import llm_call, message
from tests.rates import expected_cost
from views_api.queries import Scope, rollup_totals

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(second=30, microsecond=0)
UTC_ZONE = ZoneInfo("UTC")


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[ChdbWarehouse]:
    wh = ChdbWarehouse(tmp_path / "chdb")
    for statement in render_ddl("t") + render_rollup_ddl("t", {"minute": 7, "hour": 400, "day": 1830}):
        await wh.execute(statement)
    yield wh
    await wh.close()


def handler(wh: ChdbWarehouse) -> BatchHandler:
    async def send_dead(letter: DeadLetter) -> None:
        raise AssertionError(letter.reason)

    return BatchHandler(
        wh,
        EventSink(wh, "t.events"),
        EventSink(wh, "t.rollups"),
        "t",
        send_dead,
        lambda *_: None,
        lambda _: UTC_ZONE,
        retention=timedelta(days=30),
        lateness=timedelta(hours=2),
        range_span=3,
    )


async def totals(wh: ChdbWarehouse, granularity: str) -> dict[str, Any]:
    scope = Scope("acme", granularity, NOW - timedelta(days=2), NOW + timedelta(days=1))
    # "minute" buckets are the stored window starts themselves, whatever the granularity and zone
    q = rollup_totals("t", scope, ("events", "cost_usd", "input_tokens"), ("type",), bucket=("minute", "UTC"))
    points = [{**p, "window_start": datetime.fromtimestamp(p["bucket"], UTC)} for p in await wh.query(q.sql, q.params)]
    llm = [p for p in points if p["type"] == "llm_call"]
    return {
        "llm_events": sum(p["events"] for p in llm),
        "cost": sum((p["cost_usd"] for p in llm), Decimal(0)),
        "input_tokens": sum(p["input_tokens"] for p in llm),
        "messages": sum(p["events"] for p in points if p["type"] == "message"),
        "late": sum(p["events"] for p in points if p["type"] == "late"),
        "windows": sorted({p["window_start"] for p in llm}),
    }


async def test_windows_replays_duplicates_late_events_and_reconcile(warehouse: ChdbWarehouse) -> None:
    on_time = llm_call("acme", NOW - timedelta(minutes=5), input_tokens=1000, output_tokens=100)
    in_lateness = llm_call("acme", NOW - timedelta(minutes=100), input_tokens=2000, output_tokens=200)
    too_late = llm_call("acme", NOW - timedelta(hours=3), input_tokens=4000, output_tokens=400)
    msg = message("acme", NOW - timedelta(minutes=1))
    log = [on_time, in_lateness, too_late, msg, on_time]  # the last one re-sent by the client
    records = [Record(b"acme", orjson.dumps(e), 0, i, NOW) for i, e in enumerate(log)]

    await handler(warehouse).handle(records[:2], NOW)
    await handler(warehouse).handle(records, NOW)  # a new worker re-reads everything from offset 0

    calls = (on_time, in_lateness, too_late)
    cost = {
        e["event_id"]: expected_cost("openai", "gpt-4o-mini", e["input_tokens"], e["output_tokens"], 0) for e in calls
    }
    for granularity in ("minute", "hour", "day"):
        got = await totals(warehouse, granularity)
        assert (got["llm_events"], got["messages"], got["late"]) == (2, 1, 1), granularity
        assert got["input_tokens"] == 3000
        assert got["cost"] == cost[on_time["event_id"]] + cost[in_lateness["event_id"]]
    minute_windows = (await totals(warehouse, "minute"))["windows"]
    assert minute_windows == sorted(
        datetime.fromisoformat(e["timestamp"]).replace(second=0, microsecond=0) for e in (on_time, in_lateness)
    )
    (raw,) = await warehouse.query("SELECT count() AS n FROM t.events FINAL WHERE tenant_id = 'acme'")
    assert raw["n"] == 4

    day = NOW.replace(hour=0, minute=0, second=0) - timedelta(days=1)
    for _ in range(2):  # reconcile twice: the second run changes nothing
        await reconcile(warehouse, "t", "acme", day, day + timedelta(days=3), UTC_ZONE)
        for granularity in ("minute", "hour", "day"):
            got = await totals(warehouse, granularity)
            assert (got["llm_events"], got["messages"]) == (3, 1), granularity
            assert got["input_tokens"] == 7000
            assert got["cost"] == sum(cost[e["event_id"]] for e in (on_time, in_lateness, too_late))


async def test_reconcile_in_a_tenant_time_zone_counts_each_late_event_once(tmp_path: Path) -> None:
    paris = ZoneInfo("Europe/Paris")
    wh = ChdbWarehouse(tmp_path / "paris")
    for statement in render_ddl("t") + render_rollup_ddl("t", {"minute": 7, "hour": 400, "day": 1830}):
        await wh.execute(statement)

    async def send_dead(letter: DeadLetter) -> None:
        raise AssertionError(letter.reason)

    worker = BatchHandler(
        wh,
        EventSink(wh, "t.events"),
        EventSink(wh, "t.rollups"),
        "t",
        send_dead,
        lambda *_: None,
        lambda _: paris,
        retention=timedelta(days=30),
        lateness=timedelta(hours=2),
        range_span=100,
    )
    events = [llm_call("acme", NOW - timedelta(minutes=5)), llm_call("acme", NOW - timedelta(hours=3))]
    await worker.handle([Record(b"acme", orjson.dumps(e), 0, i, NOW) for i, e in enumerate(events)], NOW)
    local_midnight = NOW.astimezone(paris).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        for _ in range(2):
            await reconcile(
                wh, "t", "acme", local_midnight - timedelta(days=1), local_midnight + timedelta(days=1), paris
            )
            got = await totals(wh, "day")
            assert got["llm_events"] == 2
            assert all(start.astimezone(paris).hour == 0 for start in got["windows"])  # Paris midnights
    finally:
        await wh.close()
