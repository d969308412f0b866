"""The tenant dashboard over the known event set: every figure equals what the events say."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest
import pytest_asyncio

from tests.rates import expected_cost
from tests.viewsdata import DB, NOW, Views, pick, views
from views_api.periods import resolve, zone
from views_api.routes.export import HEADER, pages

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DAY0 = NOW.replace(hour=0, minute=0)
DAY = timedelta(days=1)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def v(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Views]:
    async with views(tmp_path_factory.mktemp("views")) as loaded:
        yield loaded


def cost(events: list[dict[str, Any]]) -> Decimal:
    return sum(
        (
            expected_cost(e["provider"], e["model"], e["input_tokens"], e["output_tokens"], e["cached_input_tokens"])
            for e in events
        ),
        Decimal(0),
    )


def ts(e: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(e["timestamp"])


async def get(v: Views, path: str, who: str = "acme", status: int = 200) -> Any:
    response = await v.client.get(f"/api/dashboard/acme{path}", headers=v.auth(who))
    assert response.status_code == status, response.text
    return response.json()


async def test_overview_today_vs_yesterday_all_time_and_last_hour(v: Views) -> None:
    body = await get(v, "/overview")
    today = dict(since=DAY0, until=DAY0 + DAY)
    yesterday = dict(since=DAY0 - DAY, until=DAY0)
    assert body["total_sessions"] == len({e["session_id"] for e in pick(v.events)})
    assert body["sessions_today"] == len(pick(v.events, **today, type="session_started"))
    assert body["messages_today"] == len(pick(v.events, **today, type="message")) == 7
    assert body["messages_yesterday"] == len(pick(v.events, **yesterday, type="message"))
    assert body["messages_change_pct"] == round((7 - body["messages_yesterday"]) * 100 / body["messages_yesterday"], 2)
    assert body["llm_calls_today"] == len(pick(v.events, **today, type="llm_call"))
    assert Decimal(body["cost_today_usd"]) == cost(pick(v.events, **today, type="llm_call"))
    assert Decimal(body["cost_yesterday_usd"]) == cost(pick(v.events, **yesterday, type="llm_call"))
    last_hour = pick(v.events, since=NOW - timedelta(minutes=59), until=NOW + timedelta(minutes=1))
    assert body["active_sessions"] == len({e["session_id"] for e in last_hour})
    assert body["unknown_model_calls_today"] == 0

    v.now[0] = datetime(2026, 3, 18, 11, 6, 30, tzinfo=NOW.tzinfo)  # one minute into session s2
    try:
        body = await get(v, "/overview")
    finally:
        v.now[0] = NOW
    assert body["active_sessions"] == 1


async def test_costs_by_model_series_and_previous_period(v: Views) -> None:
    body = await get(v, "/costs?period=7d")
    since, until = DAY0 - 6 * DAY, DAY0 + DAY
    calls = pick(v.events, since=since, until=until, type="llm_call")
    assert body["period"] == {
        "since": "2026-03-12T00:00:00Z",
        "until": "2026-03-19T00:00:00Z",
        "granularity": "day",
        "tz": "UTC",
        "label": "7d",
    }
    assert Decimal(body["total_cost_usd"]) == cost(calls)
    assert body["total_requests"] == len(calls)
    assert body["total_input_tokens"] == sum(e["input_tokens"] for e in calls)
    assert body["total_cached_input_tokens"] == sum(e["cached_input_tokens"] for e in calls)
    previous = cost(pick(v.events, since=since - 7 * DAY, until=since, type="llm_call"))
    assert Decimal(body["previous_cost_usd"]) == previous
    assert body["change_pct"] == round(float((cost(calls) - previous) * 100 / previous), 2)
    for m in body["by_model"]:
        mine = [e for e in calls if (e["provider"], e["model"]) == (m["provider"], m["model"])]
        assert m["requests"] == len(mine)
        assert m["errors"] == sum(e["status"] == "error" for e in mine)
        assert Decimal(m["cost_usd"]) == cost(mine)
    assert sum(m["requests"] for m in body["by_model"]) == len(calls)
    assert [Decimal(m["cost_usd"]) for m in body["by_model"]] == sorted(
        (Decimal(m["cost_usd"]) for m in body["by_model"]), reverse=True
    )
    assert len(body["points"]) == 7
    for i, point in enumerate(body["points"]):
        day = pick(v.events, since=since + i * DAY, until=since + (i + 1) * DAY, type="llm_call")
        assert (Decimal(point["cost_usd"]), point["requests"]) == (cost(day), len(day))


async def test_costs_in_another_zone_bucket_by_its_days(v: Views) -> None:
    body = await get(v, "/costs?from=2026-03-10&to=2026-03-12&tz=Asia/Tokyo")
    start = datetime(2026, 3, 9, 15, tzinfo=NOW.tzinfo)  # Tokyo midnight, 10 March
    assert (body["period"]["since"], body["period"]["until"]) == ("2026-03-09T15:00:00Z", "2026-03-12T15:00:00Z")
    for i, point in enumerate(body["points"]):
        day = pick(v.events, since=start + i * DAY, until=start + (i + 1) * DAY, type="llm_call")
        assert (Decimal(point["cost_usd"]), point["requests"]) == (cost(day), len(day))
    assert body["total_requests"] == len(pick(v.events, since=start, until=start + 3 * DAY, type="llm_call"))


async def test_sessions_and_messages_series(v: Views) -> None:
    body = await get(v, "/sessions?days=7")
    since = DAY0 - 6 * DAY
    for i, point in enumerate(body["points"]):
        window = dict(since=since + i * DAY, until=since + (i + 1) * DAY)
        assert point["started"] == len(pick(v.events, **window, type="session_started"))
        assert point["ended"] == len(pick(v.events, **window, type="session_ended"))
        assert point["active"] == len({e["session_id"] for e in pick(v.events, **window)})
    assert body["total_started"] == len(pick(v.events, since=since, until=DAY0 + DAY, type="session_started"))
    assert body["previous_started"] == len(pick(v.events, since=since - 7 * DAY, until=since, type="session_started"))
    assert body["distinct_sessions"] == len({e["session_id"] for e in pick(v.events, since=since, until=DAY0 + DAY)})

    body = await get(v, "/messages?period=24h")
    since = NOW.replace(minute=0) - timedelta(hours=23)
    assert body["period"]["granularity"] == "hour" and len(body["points"]) == 24
    msgs = pick(v.events, since=since, until=since + DAY, type="message")
    assert (body["user"], body["assistant"], body["total"]) == (
        sum(e["role"] == "user" for e in msgs),
        sum(e["role"] == "assistant" for e in msgs),
        len(msgs),
    )
    assert body["previous_total"] == len(pick(v.events, since=since - DAY, until=since, type="message"))


async def test_top_products_and_hourly_activity(v: Views) -> None:
    body = await get(v, "/products/top?event_type=clicked&days=14")
    clicked = pick(v.events, since=DAY0 - 13 * DAY, until=DAY0 + DAY, type="product_event", action="clicked")
    counts = Counter(e["product_id"] for e in clicked)
    assert [(p["product_id"], p["count"]) for p in body["products"]] == sorted(
        counts.items(), key=lambda kv: (-kv[1], kv[0])
    )
    assert {p["product_id"]: p["product_name"] for p in body["products"]}["P2"] == "Pump filter"

    body = await get(v, "/activity/hourly?period=30d")
    msgs = pick(v.events, since=DAY0 - 29 * DAY, until=DAY0 + DAY, type="message")
    by_hour = Counter(ts(e).hour for e in msgs)
    assert body["messages_by_hour"] == [by_hour.get(h, 0) for h in range(24)]
    assert sum(map(sum, body["heatmap"])) == len(msgs)
    assert body["heatmap"][2][8] == sum(1 for e in msgs if ts(e).weekday() == 2 and ts(e).hour == 8)


async def test_recent_sessions_and_session_drill_down(v: Views) -> None:
    body = await get(v, "/sessions/recent?limit=3")
    acme = pick(v.events)
    last: dict[str, datetime] = {}
    for e in acme:
        last[e["session_id"]] = max(last.get(e["session_id"], ts(e)), ts(e))
    expected = sorted(last, key=lambda s: (-last[s].timestamp(), s))[:3]
    assert [s["session_id"] for s in body["sessions"]] == expected
    first = body["sessions"][0]
    mine = [e for e in acme if e["session_id"] == first["session_id"]]
    assert first["messages"] == sum(e["type"] == "message" for e in mine)
    assert Decimal(first["cost_usd"]) == cost([e for e in mine if e["type"] == "llm_call"])

    detail = await get(v, "/sessions/s5")
    mine = [e for e in acme if e["session_id"] == "s5"]
    assert [e["id"] for e in detail["events"]] == [
        e["event_id"] for e in sorted(mine, key=lambda e: (ts(e), e["event_id"]))
    ]
    assert len(detail["llm_calls"]) == sum(e["type"] == "llm_call" for e in mine)
    assert Decimal(detail["session"]["cost_usd"]) == cost([e for e in mine if e["type"] == "llm_call"])
    assert detail["session"]["duration_seconds"] == 60.0 and detail["session"]["end_reason"] == "completed"
    assert (await get(v, "/sessions/nope", status=404))["error"] == "no session 'nope' for tenant 'acme'"
    assert (await get(v, "/sessions/recent?q=s1&limit=200"))["sessions"][0]["session_id"].startswith("s1")


async def test_csv_export_streams_every_event_once_in_order(v: Views) -> None:
    response = await v.client.get("/api/dashboard/acme/export/csv?days=7", headers=v.auth("acme"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected = pick(v.events, since=DAY0 - 6 * DAY, until=DAY0 + DAY)
    assert sorted(r["id"] for r in rows) == sorted(e["event_id"] for e in expected)
    assert sum(Decimal(r["cost_usd"]) for r in rows) == cost([e for e in expected if e["type"] == "llm_call"])
    # small pages: the keyset cursor crosses page boundaries (events sharing a timestamp too) exactly
    period = resolve(NOW, days=7, tz=zone(None, "UTC"))
    chunks = [c async for c in pages(v.warehouse, DB, "acme", period, page_rows=7)]
    paged = list(csv.reader(io.StringIO("".join(chunks))))
    assert paged[0] == HEADER and len(chunks) > 10
    assert [r[0] for r in paged[1:]] == [r["id"] for r in rows]


async def test_live_stream_ticks_with_the_current_window(v: Views) -> None:
    v.now[0] = datetime(2026, 3, 18, 11, 5, 40, tzinfo=NOW.tzinfo)
    try:
        response = await v.client.get("/api/dashboard/acme/live?ticks=2&interval=0.2", headers=v.auth("acme"))
    finally:
        v.now[0] = NOW
    assert response.headers["content-type"].startswith("text/event-stream")
    ticks = [orjson.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    assert len(ticks) == 2
    minute = pick(
        v.events,
        since=datetime(2026, 3, 18, 11, 5, tzinfo=NOW.tzinfo),
        until=datetime(2026, 3, 18, 11, 6, tzinfo=NOW.tzinfo),
        type="llm_call",
    )
    assert ticks[0]["requests"] == len(minute) > 0
    assert Decimal(ticks[0]["cost_usd"]) == cost(minute)
    assert ticks[0]["active_sessions"] == 1
    today = pick(v.events, since=DAY0, until=DAY0 + DAY, type="llm_call")
    assert Decimal(ticks[1]["cost_today_usd"]) == cost(today)  # the day window holds the whole day so far


async def test_info_and_settings_need_an_admin_key(v: Views) -> None:
    info = await get(v, "/info")
    assert (info["tenant_id"], info["timezone"], info["settings"]["ai"]) == (
        "acme",
        "UTC",
        {"temperature": 0.7, "max_products_shown": 5},
    )
    settings = {"description": "Pumps", "store_url": "https://acme.test", "ai": {"temperature": 0.2}}
    read = await v.client.put("/api/dashboard/acme/settings", json=settings, headers=v.auth("acme"))
    assert read.status_code == 403 and "admin key" in read.json()["error"]
    bad = await v.client.put(
        "/api/dashboard/acme/settings", json={"ai": {"temperature": 3}}, headers=v.auth("acme-admin")
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "ai", "temperature"]
    bad = await v.client.put("/api/dashboard/acme/settings", json={"logo_url": "ftp://x"}, headers=v.auth("acme-admin"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "logo_url"]
    no_writer = await v.client.put("/api/dashboard/acme/settings", json=settings, headers=v.auth("acme-admin"))
    assert no_writer.status_code == 503


async def test_period_parameters_are_validated_by_name(v: Views) -> None:
    for query, param in [
        ("period=9d", "period"),
        ("days=0", "days"),
        ("period=7d&days=3", "days"),
        ("from=2026-03-10", "to"),
        ("from=2026-03-10&to=2026-03-01", "to"),
        ("from=yesterday&to=2026-03-01", "from"),
        ("tz=Mars/Olympus", "tz"),
        ("granularity=fortnight", "granularity"),
        ("period=1y&granularity=minute", "granularity"),
    ]:
        body = await get(v, f"/costs?{query}", status=422)
        assert body["detail"][0]["loc"] == ["query", param], (query, body)


async def test_the_series_view_splits_custom_events_by_their_named_dimensions(v: Views) -> None:
    body = await get(
        v, "/series?type=custom&where=name=build.completed&group_by=dimensions&measures=events,measures&period=7d"
    )
    since = DAY0 - 6 * DAY
    builds = pick(v.events, since=since, until=DAY0 + DAY, type="custom", name="build.completed")
    got: dict[tuple[str, str], tuple[int, float]] = {}
    for p in body["points"]:
        got[(p["start"], p["group"]["dimensions"])] = (p["values"]["events"], p["values"]["measures"]["duration_s"])
    want: dict[tuple[str, str], tuple[int, float]] = {}
    for e in builds:
        day = ts(e).replace(hour=0, minute=0, second=0).isoformat().replace("+00:00", "Z")
        n, total = want.get((day, f"status={e['dimensions']['status']}"), (0, 0.0))
        want[(day, f"status={e['dimensions']['status']}")] = (n + 1, total + e["measures"]["duration_s"])
    assert got == want and len(want) >= 8
    assert body["dimensions"] == ["name", "dimensions"]
    none = await get(v, "/series?type=custom&where=name=nothing.like.this&measures=events&period=7d")
    assert none["points"] == []
    bad = await get(v, "/series?type=custom&measures=events,bogus", status=422)
    assert bad["detail"][0]["loc"] == ["query", "measures"]
    assert (await get(v, "/series?type=nope", status=422))["detail"][0]["loc"] == ["query", "type"]
    for query, param in [
        ("type=llm_call&group_by=d3", "group_by"),
        ("type=llm_call&where=colour=red", "where"),
        ("type=llm_call&where=model!=x", "where"),
        ("type=llm_call&where=nothing", "where"),
    ]:
        assert (await get(v, f"/series?{query}", status=422))["detail"][0]["loc"] == ["query", param], query
    by_feature = await get(v, "/series?type=llm_call&group_by=feature&where=domain=shop.acme.test&period=7d")
    calls = pick(v.events, since=since, until=DAY0 + DAY, type="llm_call", domain="shop.acme.test")
    assert sum(p["values"]["events"] for p in by_feature["points"]) == len(calls)
    assert {p["group"]["feature"] for p in by_feature["points"]} == {e["feature"] for e in calls}
