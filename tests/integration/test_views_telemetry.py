"""Telemetry, analytics, conversations and missing products over the known event set.

Every expected figure is computed here from the events themselves (`pick`), not from the API's code.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.rates import expected_cost
from tests.viewsdata import NOW, Views, pick, views

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DAY = timedelta(days=1)
WEEK_START = datetime(2026, 3, 12, tzinfo=UTC)
"""days=7 (the default) at NOW: the 7 UTC days ending with today."""
WEEK_END = WEEK_START + 7 * DAY
ELAPSED_END = datetime(2026, 3, 18, 16, tzinfo=UTC)
"""End of the current hour at NOW."""


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def v(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Views]:
    async with views(Path(tmp_path_factory.mktemp("telemetry"))) as loaded:
        yield loaded


async def get(v: Views, path: str, who: str = "acme", status: int = 200, tenant: str = "acme") -> Any:
    response = await v.client.get(f"/api/dashboard/{tenant}{path}", headers=v.auth(who))
    assert response.status_code == status, response.text
    return response.json()


def ts(e: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(e["timestamp"])


def price(e: dict[str, Any]) -> Decimal:
    return expected_cost(e["provider"], e["model"], e["input_tokens"], e["output_tokens"], e["cached_input_tokens"])


def cost(events: list[dict[str, Any]]) -> Decimal:
    return sum((price(e) for e in events), Decimal(0))


def six(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


def two(part: int, whole: int) -> str:
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN))


def pct(part: float, whole: float) -> float:
    return round(part * 100 / whole, 2)


def expected_telemetry(events: list[dict[str, Any]], **where: Any) -> dict[str, Any]:
    """The telemetry body (bar the live part) for days=7 at NOW, from the events."""
    llm = pick(events, since=WEEK_START, until=WEEK_END, type="llm_call", **where)
    total, failed = len(llm), sum(e["status"] == "error" for e in llm)
    spend = cost(llm)
    seconds = int((ELAPSED_END - WEEK_START).total_seconds())
    hours = [WEEK_START + timedelta(hours=h) for h in range(seconds // 3600)]
    by_hour: dict[datetime, list[dict[str, Any]]] = defaultdict(list)
    for e in llm:
        by_hour[ts(e).replace(minute=0, second=0, microsecond=0)].append(e)
    half = len(hours) // 2
    first = sum((cost(by_hour[h]) for h in hours[:half]), Decimal(0)) / half
    second = sum((cost(by_hour[h]) for h in hours[half:]), Decimal(0)) / (len(hours) - half)
    trend = (
        "increasing"
        if second > first * Decimal("1.1")
        else "decreasing"
        if second < first * Decimal("0.9")
        else "stable"
    )
    tokens_in, tokens_out = sum(e["input_tokens"] for e in llm), sum(e["output_tokens"] for e in llm)
    models: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    domains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in llm:
        models[(e["provider"], e["model"])].append(e)
        domains[e["domain"]].append(e)
    model_rows = sorted(models.items(), key=lambda kv: (-len(kv[1]), -cost(kv[1]), kv[0][1], kv[0][0]))
    searches = len(pick(events, since=WEEK_START, until=WEEK_END, type="search", **where))
    return {
        "overview": {
            "total_requests": total,
            "successful_requests": total - failed,
            "failed_requests": failed,
            "success_rate": pct(total - failed, total),
            "error_rate": pct(failed, total),
            "active_sessions": 0,
            "time_range": "Last 7 days",
        },
        "cost": {
            "total": spend,
            "average": six(spend / total),
            "per_hour": six(spend * 3600 / seconds),
            "projected_daily": six(spend * 3600 * 24 / seconds),
            "projected_monthly": six(spend * 3600 * 24 * 30 / seconds),
            "trend": trend,
        },
        "tokens": {
            "total_input": tokens_in,
            "total_output": tokens_out,
            "total": tokens_in + tokens_out,
            "avg_per_request": round((tokens_in + tokens_out) / total, 2),
        },
        "performance": {
            "avg_response_time": round(sum(e["latency_ms"] for e in llm) / total, 2),
            "total_searches": searches,
            "avg_searches_per_request": two(searches, total),
            "avg_iterations": two(total, len({e["session_id"] for e in llm})),
        },
        "model_usage": [
            {
                "model": model,
                "provider": provider,
                "count": len(calls),
                "cost": cost(calls),
                "tokens": sum(e["input_tokens"] + e["output_tokens"] for e in calls),
                "percentage": pct(len(calls), total),
            }
            for (provider, model), calls in model_rows
        ],
        "domain_breakdown": [
            {"domain": d, "requests": len(calls), "cost": cost(calls)}
            for d, calls in sorted(domains.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ],
        "hourly_trend": [
            {"hour": h.isoformat().replace("+00:00", "Z"), "cost": cost(by_hour[h]), "requests": len(by_hour[h])}
            for h in hours
        ],
    }


def exact(body: dict[str, Any]) -> dict[str, Any]:
    """The body with money strings as Decimals (exact comparison whatever the trailing zeros)."""
    out = dict(body)
    out["cost"] = {k: (v if k == "trend" else Decimal(v)) for k, v in body["cost"].items()}
    out["model_usage"] = [{**m, "cost": Decimal(m["cost"])} for m in body["model_usage"]]
    out["domain_breakdown"] = [{**d, "cost": Decimal(d["cost"])} for d in body["domain_breakdown"]]
    out["hourly_trend"] = [{**h, "cost": Decimal(h["cost"])} for h in body["hourly_trend"]]
    return out


async def test_telemetry_every_figure_domain_filter_and_live_sessions(v: Views) -> None:
    body = exact(await get(v, "/telemetry"))
    assert body.pop("live") == {"active_sessions": 0, "current_cost": "0", "sessions_data": []}
    expected = expected_telemetry(v.events)
    assert body == expected
    assert len(body["hourly_trend"]) == 160
    assert body["overview"]["total_requests"] > 0 and body["cost"]["total"] > 0

    shop = exact(await get(v, "/telemetry?days=7&domain=shop.acme.test"))
    shop.pop("live")
    assert shop == expected_telemetry(v.events, domain="shop.acme.test")
    assert [d["domain"] for d in shop["domain_breakdown"]] == ["shop.acme.test"]
    assert shop["overview"]["total_requests"] < expected["overview"]["total_requests"]

    v.now[0] = datetime(2026, 3, 18, 11, 30, tzinfo=UTC)  # 25 minutes after session s2 began
    try:
        live = (await get(v, "/telemetry"))["live"]
        other = (await get(v, "/telemetry?domain=help.acme.test"))["live"]
        same = (await get(v, "/telemetry?domain=shop.acme.test"))["live"]
    finally:
        v.now[0] = NOW
    window = pick(
        v.events, since=datetime(2026, 3, 18, 10, 31, tzinfo=UTC), until=datetime(2026, 3, 18, 11, 31, tzinfo=UTC)
    )
    active = sorted({e["session_id"] for e in window})
    assert active == ["s2"]
    s2 = pick(v.events, session_id="s2")
    s2_calls = [e for e in s2 if e["type"] == "llm_call"]
    assert live["active_sessions"] == 1
    assert Decimal(live["current_cost"]) == cost([e for e in window if e["type"] == "llm_call"]) == cost(s2_calls)
    assert [{**s, "cost": Decimal(s["cost"])} for s in live["sessions_data"]] == [
        {
            "id": "s2",
            "uptime": int((datetime(2026, 3, 18, 11, 30, tzinfo=UTC) - min(ts(e) for e in s2)).total_seconds()),
            "cost": cost(s2_calls),
            "model": max(s2_calls, key=ts)["model"],
        }
    ]
    assert live["sessions_data"][0]["uptime"] == 1500
    assert s2[0]["domain"] != "help.acme.test"
    assert other == {"active_sessions": 0, "current_cost": "0", "sessions_data": []}
    assert same == live


LANGUAGE = {"en": ("English", "bg-blue-500"), "es": ("Spanish", "bg-yellow-500")}


async def test_analytics_every_figure(v: Views) -> None:
    body = await get(v, "/analytics?days=7")
    period = dict(since=WEEK_START, until=WEEK_END)
    llm = pick(v.events, **period, type="llm_call")
    feedback = pick(v.events, **period, type="feedback")
    scores = [e["rating"] if "rating" in e else 5 if e["thumbs"] == "up" else 1 for e in feedback]
    ended = pick(v.events, **period, type="session_ended")
    searches = pick(v.events, **period, type="search")
    queries = Counter(" ".join(e["query"].lower().split()) for e in searches)
    failed = Counter(" ".join(e["query"].lower().split()) for e in searches if e["results_count"] == 0)
    messages = pick(v.events, **period, type="message")
    languages = Counter(e["properties"]["language"] for e in messages if e["properties"].get("language"))
    assert any("thumbs" in e for e in feedback) and any("rating" in e for e in feedback)
    assert body == {
        "response_time": round(sum(e["latency_ms"] for e in llm) / len(llm) / 1000, 3),
        "satisfaction_score": round(sum(scores) / len(scores), 2),
        "resolution_rate": pct(sum(e["reason"] == "completed" for e in ended), len(ended)),
        "top_queries": [
            {"query": q[:50], "count": n, "percentage": pct(n, len(searches))}
            for q, n in sorted(queries.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        ],
        "failed_searches": [q for q, _ in sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))[:10]],
        "language_distribution": [
            {"language": LANGUAGE[code][0], "percentage": pct(n, languages.total()), "color": LANGUAGE[code][1]}
            for code, n in sorted(languages.items(), key=lambda kv: (-kv[1], LANGUAGE[kv[0]][0]))
        ],
        "metrics": {
            "total_messages": len(messages),
            "user_messages": sum(e["role"] == "user" for e in messages),
            "avg_messages_per_day": round(len(messages) / 7, 2),
        },
    }
    assert len(languages) == 2 and languages.total() < len(messages)  # messages without a language do not count


async def test_conversations_totals_change_and_recent(v: Views) -> None:
    body = await get(v, "/conversations")
    current = len(pick(v.events, since=WEEK_START, until=WEEK_END, type="session_started"))
    previous = len(pick(v.events, since=WEEK_START - 7 * DAY, until=WEEK_START, type="session_started"))
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in pick(v.events, since=WEEK_START, until=WEEK_END):
        sessions[e["session_id"]].append(e)
    latest = sorted(sessions.items(), key=lambda kv: (-max(ts(e) for e in kv[1]).timestamp(), kv[0]))[:10]
    assert body == {
        "total": current,
        "change": round((current - previous) * 100 / previous, 2),
        "recent": [
            {
                "id": sid,
                "timestamp": min(ts(e) for e in evs).isoformat().replace("+00:00", "Z"),
                "messages": sum(e["type"] == "message" for e in evs),
                "channel": next(e["channel"] for e in evs if e["type"] == "session_started"),
            }
            for sid, evs in latest
        ],
    }
    assert body["change"] is not None and previous > 0

    month = await get(v, "/conversations?days=30")  # nothing before the 21 days of data
    assert month["total"] == len(pick(v.events, type="session_started")) and month["change"] is None


PRODUCT_OF = {
    "do you have hydraulic pump filters?": "hydraulic pump filters",
    "looking for blue widgets": "blue widgets",
    "Looking for  BLUE widgets": "blue widgets",
}


async def test_missing_products_from_zero_result_searches(v: Views) -> None:
    body = await get(v, "/missing-products")  # 30 days: all the data
    searches = pick(v.events, type="search")
    zero = [e for e in searches if e["results_count"] == 0]
    counts = Counter(PRODUCT_OF[e["query"]] for e in zero)
    last = {name: max(ts(e) for e in zero if PRODUCT_OF[e["query"]] == name) for name in counts}
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert [name for name, _ in ranked] == ["blue widgets", "hydraulic pump filters"]
    (widgets, nw), (filters, nf) = ranked
    share = round(len(zero) * 100 / len(searches), 1)
    assert body == {
        "missing_products": [
            {
                "name": name,
                "count": n,
                "last_requested": (last[name].replace(minute=0, second=0) + timedelta(hours=1))
                .isoformat()
                .replace("+00:00", "Z"),
                "examples": sorted(
                    {" ".join(e["query"].lower().split()) for e in zero if PRODUCT_OF[e["query"]] == name}
                ),
            }
            for name, n in ranked
        ],
        "statistics": {
            "total_missing_products": 2,
            "total_requests": len(zero),
            "avg_requests_per_product": round(len(zero) / 2, 2),
            "time_range": "Last 30 days",
        },
        "categories": {"tools": [], "parts": [filters], "equipment": [], "other": [widgets]},
        "recommendations": [
            f"Consider stocking '{widgets}': requested {nw} times",
            f"Consider stocking '{filters}': requested {nf} times",
            f"Review your parts range: {nf} requests for 1 missing product",
            f"{share:g}% of searches found nothing: add synonyms to your catalogue or stock the top requests",
        ],
    }

    day = await get(v, "/missing-products?days=1")
    today = [e for e in zero if ts(e) >= NOW.replace(hour=0, minute=0)]
    assert [(p["name"], p["count"]) for p in day["missing_products"]] == sorted(
        Counter(PRODUCT_OF[e["query"]] for e in today).items(), key=lambda kv: (-kv[1], kv[0])
    )
    assert day["statistics"]["time_range"] == "Last day"


@pytest.mark.parametrize(
    "path",
    [
        "/telemetry?days=0",
        "/telemetry?granularity=fortnight",
        "/analytics?period=2w",
        "/conversations?days=7&period=7d",
        "/missing-products?from=2026-03-10",
    ],
)
async def test_bad_parameters_are_422(v: Views, path: str) -> None:
    await get(v, path, status=422)


@pytest.mark.parametrize("path", ["/telemetry", "/analytics", "/conversations", "/missing-products"])
async def test_another_tenants_key_is_403_and_no_key_401(v: Views, path: str) -> None:
    await get(v, path, who="globex", status=403)
    response = await v.client.get(f"/api/dashboard/acme{path}")
    assert response.status_code == 401
