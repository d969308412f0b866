"""A funnel's SQL: what it reads and how (values as parameters), and its edges on chDB over a few rows."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from schemas.ddl import render_ddl
from schemas.funnels import ECOMMERCE, FunnelDefinition, ResolvedFunnel, resolve_funnel
from storage.chdb_store import ChdbWarehouse
from storage.sql_guard import check_query
from views_api.periods import bucket_starts
from views_api.queries.explore import BUCKET_SQL
from views_api.queries.funnels import FunnelSpan, first_step_bucket, funnel_levels
from views_api.routes.funnels import figures, reached

SINCE = datetime(2026, 3, 10, tzinfo=UTC)
UNTIL = datetime(2026, 3, 12, tzinfo=UTC)
SQLISH = "x') OR 1=1 --"


def funnel(**fields: Any) -> ResolvedFunnel:
    body = {
        "name": "Builds",
        "by": "end_user",
        "window": "1h",
        "steps": [
            {"event": "custom", "name": "visit"},
            {"event": "custom", "name": "build.finished", "where": [{"field": "status", "values": ["ok", SQLISH]}]},
            {"event": "llm_call", "where": [{"field": "latency_ms", "op": "gt", "values": ["100"]}]},
        ],
        **fields,
    }
    return resolve_funnel(FunnelDefinition.model_validate(body))


def span(bucket: str = "day", tz: str = "Europe/Paris") -> FunnelSpan:
    return FunnelSpan("acme", SINCE, UNTIL, tz, bucket)


def test_every_value_is_a_parameter_and_the_store_guard_accepts_it() -> None:
    q = funnel_levels("v", funnel(), span())
    check_query(q.sql)
    assert SQLISH not in q.sql and "visit" not in q.sql and "acme" not in q.sql and "status" not in q.sql
    assert q.params["tenant_id"] == "acme" and q.params["types"] == ["custom", "llm_call"]
    assert (q.params["since"], q.params["until"]) == ("2026-03-10 00:00:00.000", "2026-03-12 00:00:00.000")
    assert q.params["read_until"] == "2026-03-12 01:00:00.000"  # later steps are read up to a window after
    assert q.params["window_ms"] == 3_600_000 and q.params["tz"] == "Europe/Paris"
    assert sorted(v for k, v in q.params.items() if re.fullmatch(r"p\d+", k) and isinstance(v, str)) == [
        "build.finished", "custom", "custom", "llm_call", "status", "visit",
    ]  # fmt: skip
    assert ["ok", SQLISH] in q.params.values() and 100.0 in q.params.values()
    assert "FROM v.events FINAL" in q.sql and "end_user_id AS actor" in q.sql
    assert "windowFunnel({window_ms:UInt64}, 'strict_once')(toUInt64(toUnixTimestamp64Milli(ts))" in q.sql
    # only a first-step event of the period starts a chain
    assert "s0 AND ts < {until:DateTime64(3)}, s1, s2) AS level" in q.sql


def test_a_session_is_a_conversions_attributed_session_when_it_has_none() -> None:
    q = funnel_levels("v", resolve_funnel(ECOMMERCE), span())
    assert "if(session_id != '', session_id, attributed_session_id) AS actor" in q.sql
    assert q.params["types"] == ["conversion", "product_event", "session_started"]
    assert q.params["window_ms"] == 7 * 86_400_000
    check_query(q.sql)


@pytest.mark.parametrize("bucket", list(BUCKET_SQL))
def test_buckets_are_explores_over_the_first_step(bucket: str) -> None:
    sql = first_step_bucket(bucket)
    assert "first_at" in sql and not re.search(r"\bts\b", sql)
    assert sql == BUCKET_SQL[bucket].replace("(ts", "(first_at")
    q = funnel_levels("v", funnel(), span(bucket))
    assert ("tz" in q.params) == ("{tz:" in sql)


def test_levels_fold_into_actors_reaching_each_step() -> None:
    day1, day2 = (int(d.timestamp()) for d in (SINCE, SINCE + timedelta(days=1)))
    rows = [
        {"bucket": day1, "level": 1, "actors": 4},
        {"bucket": day1, "level": 3, "actors": 2},
        {"bucket": day2, "level": 2, "actors": 1},
        {"bucket": day2, "level": 3, "actors": 5},
    ]
    counts = reached(rows, 3, bucket_starts(SINCE, UNTIL + timedelta(days=1), "day", UTC))
    assert counts.totals == [12, 8, 7]
    assert counts.daily == [(SINCE, [6, 2, 2]), (SINCE + timedelta(days=1), [6, 6, 5]), (UNTIL, [0, 0, 0])]
    got = [f.model_dump() for f in figures(counts.totals)]
    assert got == [
        {"actors": 12, "from_first_pct": 100.0, "from_previous_pct": None, "drop_off": None, "drop_off_pct": None},
        {"actors": 8, "from_first_pct": 66.67, "from_previous_pct": 66.67, "drop_off": 4, "drop_off_pct": 33.33},
        {"actors": 7, "from_first_pct": 58.33, "from_previous_pct": 87.5, "drop_off": 1, "drop_off_pct": 12.5},
    ]
    assert [f.from_first_pct for f in figures([0, 0])] == [0.0, 0.0]


# --- on chDB: the edges -----------------------------------------------------------------------------------


@pytest.fixture
async def warehouse(tmp_path: Path) -> AsyncIterator[ChdbWarehouse]:
    w = ChdbWarehouse(tmp_path / "chdb")
    for statement in render_ddl("v", raw_retention_days=3650):
        await w.execute(statement)
    yield w
    await w.close()


def row(user: str, name: str, at: datetime, tenant: str = "acme", **fields: Any) -> dict[str, Any]:
    return {
        "tenant_id": tenant, "event_id": str(uuid.uuid4()), "type": fields.pop("type", "custom"),
        "ts": at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], "end_user_id": user, "name": name, **fields,
    }  # fmt: skip


async def levels(w: ChdbWarehouse, f: ResolvedFunnel, bucket: str = "day") -> dict[str, list[int]]:
    rows = await w.query(*_q(f, bucket))
    counts = reached(rows, len(f.steps), [])
    return {"totals": counts.totals, **{d.strftime("%m-%d"): c for d, c in counts.daily}}


def _q(f: ResolvedFunnel, bucket: str) -> tuple[str, dict[str, Any]]:
    q = funnel_levels("v", f, FunnelSpan("acme", SINCE, UNTIL, "UTC", bucket))
    return q.sql, q.params


async def test_edges_window_order_one_event_per_step_and_tenants(warehouse: ChdbWarehouse) -> None:
    t = SINCE + timedelta(hours=10)
    h, ms = timedelta(hours=1), timedelta(milliseconds=1)
    two = funnel(steps=[{"event": "custom", "name": "a"}, {"event": "custom", "name": "b"}])
    rows = [
        row("at-window", "a", t),
        row("at-window", "b", t + h),  # exactly the window apart: counts
        row("past-window", "a", t),
        row("past-window", "b", t + h + ms),  # a millisecond more: does not
        row("reversed", "b", t),
        row("reversed", "a", t + ms),
        row("at-since", "a", SINCE),
        row("at-since", "b", SINCE + ms),
        row("at-until", "a", UNTIL),
        row("at-until", "b", UNTIL + ms),  # a first step at `until` is after the period
        row("late-b", "a", UNTIL - ms),
        row("late-b", "b", UNTIL + 30 * timedelta(minutes=1)),  # b after the period
        row("before", "a", SINCE - ms),
        row("before", "b", SINCE + ms),
        row("", "a", t),
        row("", "b", t + ms),  # nobody
        row("other", "a", t, tenant="globex"),
        row("other", "b", t + ms, tenant="globex"),
        row("llm", "a", t, type="llm_call"),
        row("llm", "b", t + ms),  # a is a custom event's name
    ]
    await warehouse.insert_json_each_row("v.events", b"\n".join(orjson.dumps(r) for r in rows))
    got = await levels(warehouse, two)
    assert got == {"totals": [5, 3], "03-10": [4, 2], "03-11": [1, 1]}
    #  entered: at-window, past-window, at-since (03-10), reversed (its a is after its b), late-b (03-11)
    same = funnel(steps=[{"event": "custom", "name": "a"}, {"event": "custom", "name": "a"}])
    assert (await levels(warehouse, same))["totals"] == [5, 0]  # one event is never two steps


async def test_a_conversion_counts_for_its_attributed_session(warehouse: ChdbWarehouse) -> None:
    t = SINCE + timedelta(hours=10)
    s = timedelta(seconds=1)
    rows = [
        row("", "", t, type="session_started", session_id="s1"),
        row("", "", t + s, type="conversion", attributed_session_id="s1"),
        row("", "", t, type="session_started", session_id="s2"),
        row("", "", t + s, type="conversion", session_id="s2", attributed_session_id="s2"),
        row("", "", t, type="session_started", session_id="s3"),
        row("", "", t + s, type="conversion", session_id="s9", attributed_session_id="s3"),  # its own session first
    ]
    await warehouse.insert_json_each_row("v.events", b"\n".join(orjson.dumps(r) for r in rows))
    body = {"name": "Orders", "window": "1h", "steps": [{"event": "session_started"}, {"event": "conversion"}]}
    got = await levels(warehouse, resolve_funnel(FunnelDefinition.model_validate(body)))
    assert got["totals"] == [3, 2]
