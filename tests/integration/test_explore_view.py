"""Explore over a known event set with custom events: every figure is computed here from the events.

Builds (a tenant's own `build.finished` events with `status`, `site_type` and a `duration_s` measure),
a queue-depth gauge, escalations and customer concerns are added to the views' known set; the answers
must match, exactly, what the events say: top groups and `other`, percentiles, last values, distinct
users (over the period, not added up from buckets), the previous period, costs to the cent.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.rates import expected_cost
from tests.viewsdata import NOW, Views, load, pick, views

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

WEEK = timedelta(days=7)
SITES = ["landing", "blog", "shop", "portfolio"]
CONCERNS = ["acne", "dandruff", "dry skin"]


def _ev(kind: str, ts: datetime, n: int, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"explore-{kind}-{n}")),
        "tenant_id": fields.pop("tenant", "acme"),
        "type": kind,
        "timestamp": ts.isoformat(),
        **fields,
    }


def extra_events() -> list[dict[str, Any]]:
    """Custom events of acme over 12 days (and one of globex with the same name)."""
    events = []
    for n in range(60):
        ts = NOW - timedelta(hours=4 * n + 1)
        status = "failed" if n % 4 == 0 else "ok"
        events.append(
            _ev(
                "custom",
                ts,
                n,
                name="build.finished",
                session_id=f"b{n % 9}",
                end_user_id=f"builder{n % 11}",
                dimensions={"status": status, "site_type": SITES[n % 7 % 4], "a=b": "odd key"},
                measures={"duration_s": 30 + (n * 37) % 200},
            )
        )
        events.append(
            _ev("custom", ts + timedelta(minutes=1), 5000 + n, name="queue.depth", measures={"depth": (n * 13) % 17})
        )
        if n % 3 == 0:
            events.append(
                _ev(
                    "custom",
                    ts,
                    1000 + n,
                    name="escalation",
                    domain="help.acme.test" if n % 2 else "shop.acme.test",
                    dimensions={"status": ["open", "resolved", "closed"][n % 9 // 3]},
                )
            )
        events.append(
            _ev(
                "custom",
                ts,
                2000 + n,
                name="concern",
                dimensions={"concern": CONCERNS[n % 3], "outcome": "resolved" if n % 5 else "unresolved"},
            )
        )
    for n, (amount, currency) in enumerate([("10.25", "EUR"), ("1000.5", "USD"), ("50000", "JPY"), ("4.75", "EUR")]):
        events.append(_ev("conversion", NOW - timedelta(hours=3 + n), 3000 + n, order_id=f"x{n}", revenue=amount,
                          currency=currency, session_id=f"c{n}"))  # fmt: skip
    events.append(_ev("custom", NOW - timedelta(hours=2), 9999, tenant="globex", name="build.finished",
                      dimensions={"status": "failed", "site_type": "landing"}, measures={"duration_s": 99999}))  # fmt: skip
    return events


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def v(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Views]:
    async with views(Path(tmp_path_factory.mktemp("explore"))) as loaded:
        extra = extra_events()
        await load(loaded.warehouse, extra, partition=1)
        loaded.events.extend(extra)
        yield loaded


async def explore(v: Views, query: str, status: int = 200, who: str = "acme", tenant: str = "acme") -> Any:
    response = await v.client.get(f"/api/dashboard/{tenant}/explore?{query}", headers=v.auth(who))
    assert response.status_code == status, response.text
    return response.json()


def in_week(e: dict[str, Any], weeks_back: int = 0) -> bool:
    """The default period (7d) at NOW: the 7 UTC days ending with today; weeks_back=1: the 7 before."""
    start = NOW.replace(hour=0, minute=0) - timedelta(days=6) - weeks_back * WEEK
    return start <= datetime.fromisoformat(e["timestamp"]) < start + WEEK


def builds(v: Views, weeks_back: int = 0, **dims: str) -> list[dict[str, Any]]:
    return [
        e for e in pick(v.events, type="custom", name="build.finished")
        if in_week(e, weeks_back) and all(e["dimensions"][k] == x for k, x in dims.items())
    ]  # fmt: skip


def r7(values: list[float], p: float) -> float:
    """The percentile, linear between the closest ranks (R-7, Excel's PERCENTILE.INC)."""
    xs = sorted(values)
    h = (len(xs) - 1) * p
    lo = math.floor(h)
    return xs[lo] + (h - lo) * (xs[min(lo + 1, len(xs) - 1)] - xs[lo])


async def test_builds_by_site_type_top_two_and_the_rest_with_exact_percentiles(v: Views) -> None:
    got = await explore(v, "event=custom&name=build.finished&group_by=site_type&measure=count"
                           "&measure=p95(duration_s)&measure=avg(duration_s)&measure=users&limit=2&series=false")  # fmt: skip
    week = builds(v)
    by_site = {s: [e for e in week if e["dimensions"]["site_type"] == s] for s in SITES}
    ranked = sorted((s for s in SITES if by_site[s]), key=lambda s: (-len(by_site[s]), s))
    top, rest = ranked[:2], [e for s in ranked[2:] for e in by_site[s]]
    assert [(g["group"], g["other"], g["values"]["count"]) for g in got["groups"]] == [
        *(({"site_type": s}, False, len(by_site[s])) for s in top),
        ({"site_type": ""}, True, len(rest)),
    ]
    for row, events in zip(got["groups"], [by_site[top[0]], by_site[top[1]], rest], strict=True):
        durations = [e["measures"]["duration_s"] for e in events]
        assert row["values"]["p95(duration_s)"] == pytest.approx(r7(durations, 0.95), abs=1e-9)
        assert row["values"]["avg(duration_s)"] == pytest.approx(sum(durations) / len(durations), abs=1e-9)
        assert row["values"]["users"] == len({e["end_user_id"] for e in events})
    # distinct users over the period: counted over its events, not added up from the groups
    assert got["total"]["users"] == len({e["end_user_id"] for e in week})
    assert sum(g["values"]["users"] for g in got["groups"]) > got["total"]["users"]
    previous = builds(v, weeks_back=1)
    assert got["previous_total"]["count"] == len(previous)
    assert got["previous_total"]["p95(duration_s)"] == pytest.approx(
        r7([e["measures"]["duration_s"] for e in previous], 0.95), abs=1e-9
    )
    assert got["series"] == []


async def test_filters_combine_and_the_series_is_per_day(v: Views) -> None:
    got = await explore(v, "event=custom&name=build.finished&where=status=failed&where=site_type=landing"
                           "&where=site_type=blog&measure=count&measure=max(duration_s)&granularity=day")  # fmt: skip
    wanted = [
        e
        for e in builds(v)
        if e["dimensions"]["status"] == "failed" and e["dimensions"]["site_type"] in ("landing", "blog")
    ]
    assert got["total"]["count"] == len(wanted) > 0
    assert got["total"]["max(duration_s)"] == max(e["measures"]["duration_s"] for e in wanted)
    per_day: dict[str, int] = {}
    for e in wanted:
        day = datetime.fromisoformat(e["timestamp"]).strftime("%Y-%m-%dT00:00:00Z")
        per_day[day] = per_day.get(day, 0) + 1
    assert {p["start"]: p["values"]["count"] for p in got["series"]} == per_day
    # != and a number filter
    slow = await explore(v, "event=custom&name=build.finished&where=status!=failed&where=duration_s>=150&series=false")
    assert slow["total"]["count"] == len([e for e in builds(v, status="ok") if e["measures"]["duration_s"] >= 150])


async def test_a_gauge_reads_its_latest_value(v: Views) -> None:
    got = await explore(v, "event=custom&name=queue.depth&measure=last(depth)&measure=min(depth)&series=false")
    depth = [e for e in pick(v.events, type="custom", name="queue.depth") if in_week(e)]
    latest = max(depth, key=lambda e: e["timestamp"])
    assert got["total"]["last(depth)"] == latest["measures"]["depth"]
    assert got["total"]["min(depth)"] == min(e["measures"]["depth"] for e in depth)


async def test_success_rate_per_concern(v: Views) -> None:
    got = await explore(v, "event=custom&name=concern&group_by=concern&measure=count&measure=rate(outcome=resolved)"
                           "&order_by=concern&series=false")  # fmt: skip
    rows = {g["group"]["concern"]: g["values"] for g in got["groups"]}
    for concern in CONCERNS:
        events = [e for e in pick(v.events, type="custom", name="concern") if in_week(e)
                  and e["dimensions"]["concern"] == concern]  # fmt: skip
        resolved = sum(e["dimensions"]["outcome"] == "resolved" for e in events)
        assert rows[concern]["count"] == len(events)
        assert rows[concern]["rate(outcome=resolved)"] == pytest.approx(resolved / len(events), abs=1e-12)
    assert [g["group"]["concern"] for g in got["groups"]] == sorted(CONCERNS)


async def test_cost_by_model_for_one_domain_to_the_cent(v: Views) -> None:
    got = await explore(v, "event=llm_call&where=domain=shop.acme.test&group_by=model&measure=sum(cost_usd)"
                           "&measure=p50(latency_ms)&series=false&limit=100")  # fmt: skip
    calls = [e for e in pick(v.events, type="llm_call", domain="shop.acme.test") if in_week(e)]
    for g in got["groups"]:
        mine = [e for e in calls if e["model"] == g["group"]["model"]]
        cost = sum((expected_cost(e["provider"], e["model"], e["input_tokens"], e["output_tokens"],
                                  e.get("cached_input_tokens", 0)) for e in mine), Decimal(0))  # fmt: skip
        assert Decimal(g["values"]["sum(cost_usd)"]) == cost
        assert g["values"]["p50(latency_ms)"] == pytest.approx(r7([e["latency_ms"] for e in mine], 0.5))
    assert {g["group"]["model"] for g in got["groups"]} == {e["model"] for e in calls}


async def test_escalations_by_status_and_the_json_form_with_any_key(v: Views) -> None:
    got = await explore(v, "event=custom&name=escalation&group_by=status&series=false")
    events = [e for e in pick(v.events, type="custom", name="escalation") if in_week(e)]
    assert {g["group"]["status"]: g["values"]["count"] for g in got["groups"]} == {
        s: sum(e["dimensions"]["status"] == s for e in events) for s in {e["dimensions"]["status"] for e in events}
    }
    body = {"event": "custom", "name": "build.finished", "where": [{"field": "a=b", "values": ["odd key"]}],
            "group_by": ["status"], "series": False}  # fmt: skip
    response = await v.client.post("/api/dashboard/acme/explore", json=body, headers=v.auth("acme"))
    assert response.status_code == 200, response.text
    assert sum(g["values"]["count"] for g in response.json()["groups"]) == len(builds(v))


async def test_tenants_see_only_their_own_events(v: Views) -> None:
    mine = await explore(v, "event=custom&name=build.finished&measure=max(duration_s)&series=false")
    theirs = await explore(v, "event=custom&name=build.finished&measure=max(duration_s)&series=false",
                           who="globex", tenant="globex")  # fmt: skip
    assert mine["total"]["max(duration_s)"] < 99999 and theirs["total"]["max(duration_s)"] == 99999
    await explore(v, "event=custom&name=build.finished", who="globex", status=403)


async def test_csv_of_an_explore_result_guards_formula_cells(v: Views) -> None:
    response = await v.client.get(
        "/api/dashboard/acme/explore?event=custom&name=build.finished&group_by=site_type&format=csv&series=false",
        headers=v.auth("acme"),
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = response.text.strip().splitlines()
    assert lines[0] == "start,site_type,other,count"
    assert len(lines) == 1 + len({e["dimensions"]["site_type"] for e in builds(v)})


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("event=purchase", "event"),
        ("event=llm_call&group_by=colour", "group_by"),
        ("event=llm_call&measure=median(latency_ms)", "measure"),
        ("event=llm_call&measure=sum(model)", "measure"),
        ("event=llm_call&where=latency_ms>fast", "where"),
        ("event=llm_call&where=nothing", "where"),
        ("event=conversion&measure=sum(revenue)", "measure"),
        ("event=llm_call&order_by=-users", "order_by"),
        ("event=llm_call&limit=0", "limit"),
        ("event=llm_call&limit=100000", "limit"),
        ("event=llm_call&from=2025-01-01", "from"),
        ("event=llm_call&group_by=a&group_by=b&group_by=c", "group_by"),
        ("event=message&name=x", "name"),
        ("event=custom&where=" + "x" * 300 + "=1", "where"),
    ],
)
async def test_bad_queries_get_a_422_naming_the_parameter(v: Views, query: str, param: str) -> None:
    got = await explore(v, query, status=422)
    assert param in str(got), got


async def test_hostile_values_are_data(v: Views) -> None:
    hostile = "x') OR 1=1 --"
    got = await explore(v, f"event=custom&name=build.finished&where=status={hostile}&group_by=site_type")
    assert got["total"]["count"] == 0 and got["groups"] == [] and got["series"] == []
    huge = await v.client.get(
        "/api/dashboard/acme/explore?event=custom&where=s=" + "y" * 10_000, headers=v.auth("acme")
    )
    assert huge.status_code == 422


async def test_any_event_counts_active_users_and_sessions_over_every_type(v: Views) -> None:
    got = await explore(
        v, "event=any&measure=users&measure=sessions&measure=count&group_by=type&limit=100&series=false"
    )
    week = [e for e in v.events if e["tenant_id"] == "acme" and in_week(e)]

    def session(e: dict[str, Any]) -> str:
        return e.get("session_id") or e.get("attributed_session_id") or ""

    assert got["total"] == {
        "users": len({e["end_user_id"] for e in week if e.get("end_user_id")}),
        "sessions": len({session(e) for e in week if session(e)}),
        "count": len(week),
    }
    assert {g["group"]["type"]: g["values"]["count"] for g in got["groups"]} == {
        t: sum(e["type"] == t for e in week) for t in {e["type"] for e in week}
    }
    bad = await explore(v, "event=any&group_by=model&measure=sum(latency_ms)", status=422)
    assert "measure" in str(bad)


async def test_numbers_compare_exactly_and_money_is_never_added_across_currencies(v: Views) -> None:
    calls = [e for e in pick(v.events, type="llm_call") if in_week(e)]
    some = calls[0]["latency_ms"]
    got = await explore(v, f"event=llm_call&where=latency_ms={some}&where=latency_ms=1&series=false")
    assert got["total"]["count"] == sum(e["latency_ms"] in (some, 1) for e in calls) > 0
    got = await explore(v, f"event=llm_call&where=latency_ms!={some}&series=false")
    assert got["total"]["count"] == sum(e["latency_ms"] != some for e in calls)
    assert (await explore(v, "event=llm_call&where=cost_usd=0.000001&series=false"))["total"]["count"] == 0
    huge = await explore(v, "event=llm_call&where=cost_usd>1e26", status=422)
    assert huge["detail"][0]["loc"] == ["query", "where"]

    conversions = [e for e in pick(v.events, type="conversion") if in_week(e)]
    by_currency: dict[str, Decimal] = {}
    for e in conversions:
        by_currency[e.get("currency", "USD")] = by_currency.get(e.get("currency", "USD"), Decimal(0)) + Decimal(
            e["revenue"]
        )
    got = await explore(
        v, "event=conversion&group_by=currency&measure=sum(revenue)&measure=count&limit=1&order_by=-count"
    )
    top = min(by_currency, key=lambda c: (-sum(e.get("currency", "USD") == c for e in conversions), c))
    assert got["groups"][0]["group"] == {"currency": top}
    assert Decimal(got["groups"][0]["values"]["sum(revenue)"]) == by_currency[top]
    other = got["groups"][1]
    assert other["other"] and other["values"]["sum(revenue)"] is None  # several currencies: never added
    assert other["values"]["count"] == sum(e.get("currency", "USD") != top for e in conversions)
    assert got["total"]["sum(revenue)"] is None and got["total"]["count"] == len(conversions)
    assert all(p["values"]["sum(revenue)"] is None for p in got["series"] if p["other"])
    eur = await explore(v, "event=conversion&where=currency=EUR&measure=sum(revenue)&series=false")
    assert Decimal(eur["total"]["sum(revenue)"]) == by_currency["EUR"] == Decimal("15.00")
