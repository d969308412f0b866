"""Seeds 002 and 003 over the known event set: every figure recomputed from the events themselves."""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from schemas.rollups import LATENCY_BOUNDS_MS
from tests.rates import expected_cost
from tests.viewsdata import NOW, pick, views
from views_api.routes import insights

pytestmark = pytest.mark.integration

Event = dict[str, Any]
DAY = timedelta(days=1)
TODAY = datetime(2026, 3, 18, tzinfo=UTC)
MONDAY = datetime(2026, 3, 16, tzinfo=UTC)
"""The current week's Monday (acme's zone is UTC)."""


def ts(e: Event) -> datetime:
    return datetime.fromisoformat(e["timestamp"])


def cost(e: Event) -> Decimal:
    return expected_cost(
        e["provider"], e["model"], e["input_tokens"], e["output_tokens"], e.get("cached_input_tokens", 0)
    )


def usage_of(calls: Iterable[Event]) -> dict[str, Any]:
    calls = list(calls)
    tokens_in = sum(c["input_tokens"] for c in calls)
    tokens_out = sum(c["output_tokens"] for c in calls)
    return {
        "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "total_tokens": tokens_in + tokens_out,
        "cost_usd": sum((cost(c) for c in calls), Decimal(0)),
        "requests": len(calls),
    }


def got(section: dict[str, Any]) -> dict[str, Any]:
    """A usage figure of an answer, money as Decimal."""
    keys = ("input_tokens", "output_tokens", "total_tokens", "cost_usd", "requests")
    return {k: Decimal(section[k]) if k == "cost_usd" else section[k] for k in keys}


def pct(part: float | Decimal, whole: float | Decimal) -> float:
    return round(float(part) * 100 / float(whole), 2) if whole else 0.0


def iso(d: datetime) -> str:
    return d.isoformat().replace("+00:00", "Z")


def month_start(d: datetime, back: int) -> datetime:
    months = d.year * 12 + d.month - 1 - back
    return datetime(months // 12, months % 12 + 1, 1, tzinfo=UTC)


async def test_usage_and_models(tmp_path: Path) -> None:
    async with views(tmp_path) as v:
        r = await v.client.get("/api/dashboard/acme/usage", headers=v.auth("acme"))
        assert r.status_code == 200, r.text
        body = r.json()
        since = TODAY - 29 * DAY
        assert body["period"] == {
            "since": iso(since),
            "until": iso(TODAY + DAY),
            "granularity": "day",
            "tz": "UTC",
            "label": "days=30",
        }
        calls = pick(v.events, "acme", since, NOW + DAY, type="llm_call")
        assert len(calls) > 50
        # daily: 30 days, zeros before the data's first day
        assert [d["start"] for d in body["daily"]] == [iso(since + i * DAY) for i in range(30)]
        for i, day in enumerate(body["daily"]):
            start = since + i * DAY
            assert got(day) == usage_of(c for c in calls if start <= ts(c) < start + DAY), start
        assert body["daily"][0]["requests"] == 0 and body["daily"][-1]["requests"] > 0
        # summary and per-provider totals
        total = usage_of(calls)
        summary = body["summary"]
        assert summary["total_tokens"] == total["total_tokens"]
        assert summary["prompt_tokens"] == total["input_tokens"]
        assert summary["completion_tokens"] == total["output_tokens"]
        assert (Decimal(summary["cost_usd"]), summary["requests"]) == (total["cost_usd"], total["requests"])
        providers = {p: usage_of(c for c in calls if c["provider"] == p) for p in {c["provider"] for c in calls}}
        assert [p["provider"] for p in summary["by_provider"]] == sorted(
            providers, key=lambda p: -providers[p]["cost_usd"]
        )
        for p in summary["by_provider"]:
            assert got(p) == providers[p["provider"]]
            assert p["share_pct"] == pct(providers[p["provider"]]["cost_usd"], total["cost_usd"])
        # weekly: 12 Monday weeks, the current one last
        weeks = [MONDAY - (11 - i) * timedelta(weeks=1) for i in range(12)]
        assert [w["start"] for w in body["weekly"]] == [iso(w) for w in weeks]
        every_call = pick(v.events, "acme", type="llm_call")
        for w, week in zip(weeks, body["weekly"], strict=True):
            assert got(week) == usage_of(c for c in every_call if w <= ts(c) < w + timedelta(weeks=1)), w
        assert sum(w["requests"] for w in body["weekly"]) == len(every_call)
        # monthly: April 2025 .. March 2026, with providers
        months = [month_start(NOW, 11 - i) for i in range(12)]
        assert [m["start"] for m in body["monthly"]] == [iso(m) for m in months]
        for i, month in enumerate(body["monthly"]):
            end = months[i + 1] if i < 11 else month_start(NOW, -1)
            in_month = [c for c in every_call if months[i] <= ts(c) < end]
            assert got(month) == usage_of(in_month)
            assert {p["provider"]: got(p) for p in month["by_provider"]} == {
                p: usage_of(c for c in in_month if c["provider"] == p) for p in {c["provider"] for c in in_month}
            }
        assert [m["requests"] > 0 for m in body["monthly"]] == [False] * 10 + [True, True]
        # the top 20 conversations by tokens (raw events)
        per_session: dict[str, list[Event]] = {}
        for c in calls:
            per_session.setdefault(c["session_id"], []).append(c)
        top = sorted(per_session, key=lambda s: (-usage_of(per_session[s])["total_tokens"], s))[:20]
        assert [c["session_id"] for c in body["by_conversation"]] == top
        for row in body["by_conversation"]:
            mine = per_session[row["session_id"]]
            assert got(row) == usage_of(mine)
            assert row["first_call_at"] == iso(min(ts(c) for c in mine))
            assert row["last_call_at"] == iso(max(ts(c) for c in mine))

        # one section only; another zone
        r = await v.client.get("/api/dashboard/acme/usage?type=weekly&days=7", headers=v.auth("acme"))
        only = r.json()
        assert r.status_code == 200 and only["weekly"] == body["weekly"] and only["type"] == "weekly"
        assert only["daily"] is only["monthly"] is only["by_conversation"] is only["summary"] is None
        r = await v.client.get("/api/dashboard/globex/usage?days=1&type=daily", headers=v.auth("globex"))
        (globex_day,) = r.json()["daily"]
        assert globex_day["start"] == "2026-03-17T23:00:00Z"  # midnight in Paris
        assert got(globex_day) == usage_of(pick(v.events, "globex", type="llm_call"))

        # models over the last 7 days
        r = await v.client.get("/api/dashboard/acme/models?period=7d", headers=v.auth("acme"))
        assert r.status_code == 200, r.text
        comparison = r.json()
        week_calls = pick(v.events, "acme", TODAY - 6 * DAY, TODAY + DAY, type="llm_call")
        week_cost = sum((cost(c) for c in week_calls), Decimal(0))
        assert comparison["total_requests"] == len(week_calls)
        assert Decimal(comparison["total_cost_usd"]) == week_cost
        keys = {(c["provider"], c["model"]) for c in week_calls}
        assert len(comparison["models"]) == len(keys) == 4
        assert [Decimal(m["cost_usd"]) for m in comparison["models"]] == sorted(
            (Decimal(m["cost_usd"]) for m in comparison["models"]), reverse=True
        )
        for m in comparison["models"]:
            mine = [c for c in week_calls if (c["provider"], c["model"]) == (m["provider"], m["model"])]
            figures = usage_of(mine)
            errors = sum(c["status"] == "error" for c in mine)
            latencies = sorted(c["latency_ms"] for c in mine)
            assert m["requests"] == len(mine) and m["errors"] == errors
            assert m["error_rate_pct"] == pct(errors, len(mine))
            assert (m["input_tokens"], m["output_tokens"]) == (figures["input_tokens"], figures["output_tokens"])
            assert Decimal(m["cost_usd"]) == figures["cost_usd"]
            per_1k = (figures["cost_usd"] * 1000 / figures["total_tokens"]).quantize(
                Decimal("0.000001"), ROUND_HALF_EVEN
            )
            assert Decimal(m["cost_per_1k_tokens_usd"]) == per_1k
            assert m["avg_latency_ms"] == round(sum(latencies) / len(latencies), 2)
            assert m["p50_latency_ms"] == bucket_bound(latencies, 0.5)
            assert m["p95_latency_ms"] == bucket_bound(latencies, 0.95)
            assert m["cost_share_pct"] == pct(figures["cost_usd"], week_cost)
        assert any(m["errors"] for m in comparison["models"])


def bucket_bound(ordered: list[int], q: float) -> int:
    """Upper bound of the latency bucket holding the ceil(q * n)-th smallest latency."""
    value = ordered[max(math.ceil(q * len(ordered)), 1) - 1]
    return LATENCY_BOUNDS_MS[min(bisect.bisect_right(LATENCY_BOUNDS_MS, value), len(LATENCY_BOUNDS_MS) - 1)]


def funnel_sets(events: list[Event], since: datetime, until: datetime) -> list[set[str]]:
    """Sessions at each stage: started, product viewed, clicked, added to cart, converted."""

    def sessions(kind: str, actions: tuple[str, ...] = ()) -> set[str]:
        return {
            e["session_id"]
            for e in pick(events, "acme", since, until, type=kind)
            if not actions or e["action"] in actions
        }

    return [
        sessions("session_started"),
        sessions("product_event", ("recommended", "inquired")),
        sessions("product_event", ("clicked",)),
        sessions("product_event", ("added_to_cart",)),
        sessions("conversion"),
    ]


async def test_funnel_and_cohorts(tmp_path: Path) -> None:
    async with views(tmp_path) as v:
        r = await v.client.get("/api/dashboard/acme/funnel", headers=v.auth("acme"))
        assert r.status_code == 200, r.text
        funnel = r.json()
        since = TODAY - 6 * DAY
        counts = [len(s) for s in funnel_sets(v.events, since, TODAY + DAY)]
        assert counts[0] > counts[2] > counts[3] > counts[4] > 0
        stages = funnel["stages"]
        assert [s["stage"] for s in stages] == ["sessions", "product_viewed", "clicked", "added_to_cart", "converted"]
        assert [s["count"] for s in stages] == counts
        assert stages[0] == {
            "stage": "sessions",
            "count": counts[0],
            "from_previous_pct": None,
            "from_first_pct": 100.0,
            "drop_off": None,
            "drop_off_pct": None,
        }
        for i in range(1, 5):
            drop = max(counts[i - 1] - counts[i], 0)
            assert stages[i]["from_previous_pct"] == pct(counts[i], counts[i - 1])
            assert stages[i]["from_first_pct"] == pct(counts[i], counts[0])
            assert (stages[i]["drop_off"], stages[i]["drop_off_pct"]) == (drop, pct(drop, counts[i - 1]))
        assert [d["start"] for d in funnel["daily"]] == [iso(since + i * DAY) for i in range(7)]
        for i, day in enumerate(funnel["daily"]):
            start = since + i * DAY
            want = [len(s) for s in funnel_sets(v.events, start, start + DAY)]
            assert [day[k] for k in ("sessions", "product_viewed", "clicked", "added_to_cart", "converted")] == want

        r = await v.client.get("/api/dashboard/acme/cohorts?weeks=8", headers=v.auth("acme"))
        assert r.status_code == 200, r.text
        body = r.json()
        first: dict[str, datetime] = {}
        active: dict[str, set[datetime]] = {}
        for e in pick(v.events, "acme", until=MONDAY + timedelta(weeks=1)):
            day = ts(e).replace(hour=0, minute=0, second=0, microsecond=0)
            week = day - day.weekday() * DAY
            user = e["end_user_id"]
            first[user] = min(first.get(user, week), week)
            active.setdefault(user, set()).add(week)
        converted = {e["end_user_id"] for e in pick(v.events, "acme", type="conversion")}
        weeks = [MONDAY - (7 - i) * timedelta(weeks=1) for i in range(8)]
        assert [c["week_start"] for c in body["cohorts"]] == [iso(w) for w in weeks]
        assert (body["tz"], body["weeks"]) == ("UTC", 8)
        for w, cohort in zip(weeks, body["cohorts"], strict=True):
            members = {u for u, f in first.items() if f == w}
            want_active = [
                sum(w + k * timedelta(weeks=1) in active[u] for u in members)
                if w + k * timedelta(weeks=1) <= MONDAY
                else None
                for k in range(5)
            ]
            assert cohort["size"] == len(members)
            assert cohort["active"] == want_active
            assert cohort["retention_pct"] == [
                pct(a, len(members)) if a is not None and members else None for a in want_active
            ]
            assert cohort["converted"] == len(members & converted)
        (biggest,) = [c for c in body["cohorts"] if c["size"]]
        assert biggest["week_start"] == "2026-02-23T00:00:00Z"  # the data's first day, Thursday 26 February
        assert biggest["size"] == 7  # u0 .. u6, all seen in the first days
        assert biggest["retention_pct"] == [100.0, 100.0, 100.0, 100.0, None]


def describe(e: Event) -> str:
    kind = e["type"]
    if kind == "llm_call":
        places = Decimal("0.000001") if cost(e) < Decimal("0.0001") else Decimal("0.0001")
        amount = cost(e).quantize(places, ROUND_HALF_EVEN)
        text = f"llm_call {e['model']} {e['input_tokens'] + e['output_tokens']:,} tokens ${amount}"
        return text + (" (error)" if e.get("status") == "error" else "")
    if kind == "message":
        return f"{e['role']} message ({e['content_chars']} characters)"
    if kind == "session_started":
        return f"session started ({e['channel']})"
    if kind == "session_ended":
        return f"session ended ({e['reason']})"
    if kind == "product_event":
        return f"product {e['action'].replace('_', ' ')}: {e['product_name']}"
    if kind == "search":
        return f"search '{e['query']}' — {e['results_count']} results"
    if kind == "conversion":
        return f"conversion {e['order_id']}: {e['revenue']} USD"
    if kind == "feedback":
        return f"feedback: rated {e['rating']}" if "rating" in e else f"feedback: thumbs {e['thumbs']}"
    return f"custom: {e['name']}"


def forecast_of(history: list[Decimal], horizon: int) -> tuple[Decimal, Decimal, Decimal]:
    """Total, low and high by exact rational least squares (rounded to 6 places)."""
    n, ys = len(history), [Fraction(h) for h in history]
    x_mean, y_mean = Fraction(n - 1, 2), sum(ys) / n
    slope = sum((x - x_mean) * (y - y_mean) for x, y in enumerate(ys)) / sum((x - x_mean) ** 2 for x in range(n))
    intercept = y_mean - slope * x_mean
    total = sum(max(intercept + slope * x, Fraction(0)) for x in range(n, n + horizon))
    ssr = sum((y - intercept - slope * x) ** 2 for x, y in enumerate(ys))
    std = (Decimal(ssr.numerator) / Decimal(ssr.denominator) / (n - 2)).sqrt()
    band = Decimal("1.96") * std * Decimal(horizon).sqrt()
    exact = Decimal(total.numerator) / Decimal(total.denominator)
    q = Decimal("0.000001")
    return exact.quantize(q), max(exact - band, Decimal(0)).quantize(q), (exact + band).quantize(q)


async def test_forecast_live_feed_and_refusals(tmp_path: Path) -> None:
    async with views(tmp_path) as v:
        r = await v.client.get("/api/dashboard/acme/forecast?days=28", headers=v.auth("acme"))
        assert r.status_code == 200, r.text
        body = r.json()
        since = TODAY - 28 * DAY
        history = [
            sum(
                (cost(c) for c in pick(v.events, "acme", since + i * DAY, since + (i + 1) * DAY, type="llm_call")),
                Decimal(0),
            )
            for i in range(28)
        ]
        assert [h["start"] for h in body["history"]] == [iso(since + i * DAY) for i in range(28)]
        assert [Decimal(h["cost_usd"]) for h in body["history"]] == history
        assert Decimal(body["history_total_usd"]) == sum(history, Decimal(0))
        assert body["method"].startswith("ordinary least squares line over the daily cost of the last 28 complete days")
        for key, horizon in (("next_7_days", 7), ("next_30_days", 30)):
            total, low, high = forecast_of(history, horizon)
            part = body[key]
            assert part["days"] == horizon
            assert (Decimal(part["total_usd"]), Decimal(part["low_usd"]), Decimal(part["high_usd"])) == (
                total,
                low,
                high,
            )
        assert [p["start"] for p in body["projection"]] == [iso(TODAY + i * DAY) for i in range(30)]
        assert sum(Decimal(p["cost_usd"]) for p in body["projection"][:7]) - Decimal(
            body["next_7_days"]["total_usd"]
        ) < Decimal("0.00001")
        # one day of history: the mean rate, no band
        r = await v.client.get("/api/dashboard/acme/forecast?days=1", headers=v.auth("acme"))
        short = r.json()
        assert short["method"].startswith("mean daily cost")
        assert Decimal(short["next_30_days"]["total_usd"]) == (history[-1] * 30).quantize(Decimal("0.000001"))
        assert short["next_7_days"]["low_usd"] == short["next_7_days"]["total_usd"] == short["next_7_days"]["high_usd"]

        # the live feed: every event of the last 24 hours, newest first, described
        r = await v.client.get("/api/dashboard/acme/activity/live?limit=500", headers=v.auth("acme"))
        assert r.status_code == 200, r.text
        feed = r.json()["events"]
        recent = pick(v.events, "acme", NOW - DAY, NOW + timedelta(milliseconds=1))
        assert len(feed) == len(recent) == 21  # today's two sessions (yesterday's all started before 15:30)
        assert [e["ts"] for e in feed] == [iso(ts(e)) for e in sorted(recent, key=ts, reverse=True)]
        by_id = {e["event_id"]: e for e in recent}
        assert {e["id"]: e["description"] for e in feed} == {i: describe(e) for i, e in by_id.items()}
        kinds = {e["type"] for e in feed}
        assert {"llm_call", "session_started", "product_event", "search", "message", "session_ended"} <= kinds
        descriptions = [e["description"] for e in feed]
        assert "product clicked: Pump filter" in descriptions or "product clicked: Pressure gauge" in descriptions
        assert any(d.startswith("search '") and d.endswith("— 0 results") for d in descriptions)
        r = await v.client.get("/api/dashboard/acme/activity/live?limit=5", headers=v.auth("acme"))
        assert [e["ts"] for e in r.json()["events"]] == [e["ts"] for e in feed[:5]]

        # kinds the last 24 hours lack
        row = {k: "" for k in ("order_id", "currency", "tool_name", "status", "name")} | {"rating": 0, "thumbs": 0}
        assert (
            insights.describe(
                row | {"type": "conversion", "order_id": "o8", "revenue": Decimal("8.99"), "currency": "USD"}
            )
            == "conversion o8: 8.99 USD"
        )
        assert insights.describe(row | {"type": "feedback", "rating": 4}) == "feedback: rated 4"
        assert insights.describe(row | {"type": "feedback", "thumbs": -1}) == "feedback: thumbs down"
        assert (
            insights.describe(row | {"type": "tool_call", "tool_name": "lookup", "status": "error"})
            == "tool call lookup (error)"
        )
        assert insights.describe(row | {"type": "session_started"}) == "session started"
        assert insights.usd(Decimal("0.000075")) == "$0.000075" and insights.usd(Decimal("0.00314")) == "$0.0031"

        # refusals
        for path in (
            "usage?type=yearly",
            "usage?days=0",
            "models?period=2d",
            "funnel?days=0",
            "cohorts?weeks=0",
            "forecast?days=0",
            "activity/live?limit=0",
        ):
            r = await v.client.get(f"/api/dashboard/acme/{path}", headers=v.auth("acme"))
            assert r.status_code == 422, path
        r = await v.client.get("/api/dashboard/acme/funnel?period=30d&days=3", headers=v.auth("acme"))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "days"]
        for path in ("usage", "models", "funnel", "cohorts", "forecast", "activity/live"):
            r = await v.client.get(f"/api/dashboard/acme/{path}", headers=v.auth("globex"))
            assert r.status_code == 403, path
        r = await v.client.get("/api/dashboard/acme/usage")
        assert r.status_code == 401
