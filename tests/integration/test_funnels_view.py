"""Tenant-defined funnels over real HTTP: saved on the real directory topic, reported from chDB.

The site-builder funnel (Visitors -> Requests -> Emails -> Verified -> Builds -> Deployed, custom events per end
user) is saved over HTTP and reported over a known set of journeys added to the views' event set: users
reaching different depths, one whose next step comes after the window, one whose steps come out of
order, one visiting twice, one whose visit is before the period, and another tenant sending the same
names (`tests.funnelsdata`). Every figure is asserted twice: as literal numbers, and against a reference
computed from the events. The built-in e-commerce funnel (and `GET .../funnel`) counts a conversion sent with only
`attributed_session_id` for that session.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tenancy.directory import Directory
from tenancy.kafka_log import DirectoryFollower, DirectoryWriter
from tests.conftest import free_port
from tests.funnelsdata import (
    BUILDER,
    BUILDER_STEPS,
    DAY,
    ECOMMERCE_STEPS,
    TODAY,
    WEEK_START,
    builder_events,
    expected,
    figures,
    independent,
    iso,
)
from tests.live import serve, start_ingest_topics
from tests.viewsdata import DB, Views, load, views
from views_api.main import create_app

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


# -- the services ---------------------------------------------------------------------------------------------


@dataclass
class Served:
    v: Views
    http: httpx.AsyncClient
    bootstrap: str
    topic: str

    def auth(self, who: str) -> dict[str, str]:
        return self.v.auth(who)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def s(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> AsyncIterator[Served]:
    """The views API over the known set plus the journeys, served over HTTP with a directory writer on
    a fresh directory topic (started by the served app's lifespan)."""
    _, _, topic = await start_ingest_topics(kafka_bootstrap, f"funnels-{uuid.uuid4().hex[:8]}")
    async with views(tmp_path_factory.mktemp("funnels")) as loaded:
        extra = builder_events()
        await load(loaded.warehouse, extra, partition=1)
        loaded.events.extend(extra)
        app = create_app(
            loaded.warehouse, DB, loaded.directory, clock=lambda: loaded.now[0],
            writer=DirectoryWriter(kafka_bootstrap, topic),
        )  # fmt: skip
        with serve(app, free_port()) as url:
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                yield Served(loaded, http, kafka_bootstrap, topic)


async def saved_on_topic(s: Served) -> Directory:
    """What another process following the directory topic holds."""
    follower = DirectoryFollower(s.bootstrap, s.topic, Directory(3600))
    await follower.start()
    await follower.stop()
    return follower.directory


async def report(s: Served, funnel_id: str, query: str = "", tenant: str = "acme", who: str = "acme") -> Any:
    r = await s.http.get(f"/api/dashboard/{tenant}/funnels/{funnel_id}/report?{query}", headers=s.auth(who))
    assert r.status_code == 200, r.text
    return r.json()


async def create(s: Served, body: dict[str, Any], tenant: str = "acme", who: str = "acme-admin") -> httpx.Response:
    return await s.http.post(f"/api/dashboard/{tenant}/funnels", json=body, headers=s.auth(who))


# -- the tests -----------------------------------------------------------------------------------------------


async def test_the_site_builder_funnel_saved_over_http_counts_each_user_exactly(s: Served) -> None:
    r = await create(s, BUILDER)
    assert r.status_code == 201, r.text
    saved = r.json()
    funnel_id = saved["id"]
    assert funnel_id.startswith("site-builder-") and not saved["built_in"]
    assert (saved["window_seconds"], [st["label"] for st in saved["steps"]]) == (
        2 * 86400,
        ["Visitors", "Requests", "Emails", "Verified", "Builds", "Deployed"],
    )
    on_topic = (await saved_on_topic(s)).tenant_funnels("acme")  # another process would read it
    assert on_topic[funnel_id].definition.model_dump(exclude_defaults=True) == BUILDER
    listed = (await s.http.get("/api/dashboard/acme/funnels", headers=s.auth("acme"))).json()
    assert [f["id"] for f in listed["funnels"]][:1] == ["ecommerce"] and funnel_id in [
        f["id"] for f in listed["funnels"]
    ]

    got = await report(s, funnel_id)
    counts = [9, 6, 4, 3, 2, 1]
    # entered: u-full u-three u-failed u-late u-visit u-order u-twice u-edge u-today (not u-before: its
    # visit is before the period; not the events without an end user; not globex's)
    assert [st["actors"] for st in got["steps"]] == counts
    assert expected(s.v.events, BUILDER_STEPS, "end_user", 2 * DAY, WEEK_START, TODAY + DAY)[0] == counts
    assert [st["step"] for st in got["steps"]] == ["Visitors", "Requests", "Emails", "Verified", "Builds", "Deployed"]
    assert [{k: st[k] for k in figures(counts)[0]} for st in got["steps"]] == figures(counts)
    assert got["steps"][1] == {
        "step": "Requests", "event": "custom", "name": "request", "actors": 6, "from_first_pct": 66.67,
        "from_previous_pct": 66.67, "drop_off": 3, "drop_off_pct": 33.33,
    }  # fmt: skip
    assert [st["from_previous_pct"] for st in got["steps"]] == [None, 66.67, 66.67, 75.0, 66.67, 50.0]
    assert [st["drop_off"] for st in got["steps"]] == [None, 3, 2, 1, 1, 1]
    # by day of each user's first visit in the period (u-twice: its first visit, 03-13)
    by_day = {
        WEEK_START: [0, 0, 0, 0, 0, 0],
        WEEK_START + DAY: [1, 1, 1, 1, 1, 0],
        WEEK_START + 2 * DAY: [2, 1, 0, 0, 0, 0],
        WEEK_START + 3 * DAY: [2, 0, 0, 0, 0, 0],
        WEEK_START + 4 * DAY: [1, 1, 1, 1, 0, 0],
        WEEK_START + 5 * DAY: [2, 2, 2, 1, 1, 1],
        WEEK_START + 6 * DAY: [1, 1, 0, 0, 0, 0],
    }
    assert expected(s.v.events, BUILDER_STEPS, "end_user", 2 * DAY, WEEK_START, TODAY + DAY)[1] == by_day
    assert [d["start"] for d in got["daily"]] == [iso(d) for d in by_day]
    for day, want in zip(got["daily"], by_day.values(), strict=True):
        assert day["steps"] == figures(want)
    assert got["period"]["since"] == iso(WEEK_START) and got["funnel"]["id"] == funnel_id

    # a period ending before u-edge's request: its request still counts (within the window); u-twice's
    # second visit is after the period, so only its first (whose request comes 3 days later) counts
    got = await report(s, funnel_id, "from=2026-03-12&to=2026-03-14")
    assert [st["actors"] for st in got["steps"]] == [3, 1, 0, 0, 0, 0]
    until = datetime(2026, 3, 15, tzinfo=UTC)
    assert expected(s.v.events, BUILDER_STEPS, "end_user", 2 * DAY, WEEK_START, until)[0] == [3, 1, 0, 0, 0, 0]
    assert [d["steps"][0]["actors"] for d in got["daily"]] == [0, 1, 2]

    # a wider window (replace it, same id): u-late's request 3 days later now counts
    wider = {**BUILDER, "window": "4d"}
    r = await s.http.put(f"/api/dashboard/acme/funnels/{funnel_id}", json=wider, headers=s.auth("acme-admin"))
    assert r.status_code == 200 and r.json()["window"] == "4d", r.text
    got = await report(s, funnel_id)
    assert [st["actors"] for st in got["steps"]] == [9, 7, 5, 3, 2, 1]
    assert expected(s.v.events, BUILDER_STEPS, "end_user", 4 * DAY, WEEK_START, TODAY + DAY)[0] == [9, 7, 5, 3, 2, 1]

    # the same names for globex: only its own users
    r = await create(s, BUILDER, tenant="globex", who="operator")
    assert r.status_code == 201, r.text
    got = await report(s, r.json()["id"], tenant="globex", who="globex")
    assert [st["actors"] for st in got["steps"]] == [2, 2, 2, 2, 2, 2]
    # by day in globex's zone (Europe/Paris): its users' first visit, 11:00 on 03-17 there
    days = {d["start"]: d["steps"][0]["actors"] for d in got["daily"] if d["steps"][0]["actors"]}
    assert days == {"2026-03-16T23:00:00Z": 2} and got["period"]["tz"] == "Europe/Paris"


async def test_one_event_counts_for_one_step_only(s: Served) -> None:
    """visit -> visit: users with two visits within the window (u-twice: 3 days 5 hours apart)."""
    body = {"name": "Came back", "by": "end_user", "window": "4d",
            "steps": [{"event": "custom", "name": "visit"}, {"event": "custom", "name": "visit"}]}  # fmt: skip
    r = await create(s, body)
    assert r.status_code == 201, r.text
    got = await report(s, r.json()["id"])
    assert [st["actors"] for st in got["steps"]] == [9, 1]
    assert [st["step"] for st in got["steps"]] == ["visit", "visit"]
    body["window"] = "3d"
    r = await s.http.put(f"/api/dashboard/acme/funnels/{r.json()['id']}", json=body, headers=s.auth("acme-admin"))
    got = await report(s, r.json()["id"])
    assert [st["actors"] for st in got["steps"]] == [9, 0]


async def test_the_ecommerce_funnel_counts_a_conversion_sent_with_only_its_attributed_session(s: Served) -> None:
    r = await s.http.get("/api/dashboard/acme/funnel", headers=s.auth("acme"))
    assert r.status_code == 200, r.text
    old = r.json()
    counts = [st["count"] for st in old["stages"]]
    totals, daily = expected(s.v.events, ECOMMERCE_STEPS, "session", 7 * DAY, WEEK_START, TODAY + DAY)
    assert counts == totals
    # fx-1 reached every stage: its conversion carries only attributed_session_id (lost before)
    without_fx = [e for e in s.v.events if e.get("session_id") != "fx-1" and e.get("attributed_session_id") != "fx-1"]
    assert counts == [
        n + 1 for n in expected(without_fx, ECOMMERCE_STEPS, "session", 7 * DAY, WEEK_START, TODAY + DAY)[0]
    ]
    # the same numbers as the stages counted each on their own (the known set goes through them in order)
    assert counts == independent(s.v.events, WEEK_START, TODAY + DAY)
    for day, (start, want) in zip(old["daily"], daily.items(), strict=True):
        assert day["start"] == iso(start)
        assert [day[k] for k in ("sessions", "product_viewed", "clicked", "added_to_cart", "converted")] == want
    assert old["daily"][5]["converted"] >= 1  # fx-1's day

    got = await report(s, "ecommerce")
    assert [st["actors"] for st in got["steps"]] == counts
    # the conversion rate: converted sessions as a percentage of the sessions that entered
    assert got["steps"][-1]["from_first_pct"] == round(counts[-1] * 100 / counts[0], 2) > 0
    assert [st["step"] for st in got["steps"]] == [
        "Sessions",
        "Product viewed",
        "Clicked",
        "Added to cart",
        "Converted",
    ]
    assert [{k: st[k] for k in ("from_first_pct", "from_previous_pct", "drop_off", "drop_off_pct")} for st in got["steps"]] == [
        {"from_first_pct": st["from_first_pct"], "from_previous_pct": st["from_previous_pct"], "drop_off": st["drop_off"],
         "drop_off_pct": st["drop_off_pct"]} for st in old["stages"]
    ]  # fmt: skip
    assert got["funnel"]["built_in"] and got["funnel"]["window"] == "7d"

    # 30 days (all of the known set, within the raw retention): the engine, the same numbers again
    r = await s.http.get("/api/dashboard/acme/funnel?period=30d", headers=s.auth("acme"))
    since = TODAY - 29 * DAY
    assert [st["count"] for st in r.json()["stages"]] == independent(s.v.events, since, TODAY + DAY)
    # before the raw retention (90 days): the rollups, where a conversion counts only for its own session
    r = await s.http.get("/api/dashboard/acme/funnel?period=90d", headers=s.auth("acme"))
    assert r.status_code == 200, r.text
    rollups = [st["count"] for st in r.json()["stages"]]
    assert rollups[:4] == independent(s.v.events, since, TODAY + DAY)[:4]
    assert rollups[4] == independent(s.v.events, since, TODAY + DAY)[4] - 1


async def test_a_report_before_the_raw_retention_is_refused_naming_the_parameter(s: Served) -> None:
    for query, param in (("period=90d", "period"), ("days=45", "days"), ("from=2026-01-01&to=2026-01-31", "from")):
        r = await s.http.get(f"/api/dashboard/acme/funnels/ecommerce/report?{query}", headers=s.auth("acme"))
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["query", param] and "30 days" in r.json()["detail"][0]["msg"]
    for query, param in (("period=2d", "period"), ("granularity=minute", "granularity"), ("tz=Nowhere/City", "tz")):
        r = await s.http.get(f"/api/dashboard/acme/funnels/ecommerce/report?{query}", headers=s.auth("acme"))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", param], r.text
    got = await report(s, "ecommerce", "period=24h&tz=Asia/Tokyo")  # hours, aligned in another zone
    assert len(got["daily"]) == 24 and got["period"]["granularity"] == "hour"
    assert sum(d["steps"][0]["actors"] for d in got["daily"]) == got["steps"][0]["actors"] > 0


def step(**fields: Any) -> dict[str, Any]:
    return {"event": "custom", "name": "visit", **fields}


def body(**fields: Any) -> dict[str, Any]:
    return {"name": "Hostile", "by": "end_user", "window": "1d", "steps": [step(), step(name="request")], **fields}


HOSTILE = [  # each shape refused is in tests/unit/test_funnel_definitions.py; here: over HTTP, named
    (body(steps=[step()] * 11), ["body", "steps"]),
    (body(steps=[step(), {"event": "pageview"}]), ["body", "steps", 1, "event"]),
    (body(steps=[step(), {"event": "x" * 10_000}]), ["body", "steps", 1, "event"]),
    (body(steps=[step(), {"event": "custom"}]), ["body", "steps", 1]),
    (body(steps=[step(), {"event": "product_event", "where": [{"field": "colour", "values": ["red"]}]}]),
     ["body", "steps", 1, "where", 0]),
    (body(steps=[step(), {"event": "llm_call", "where": [{"field": "latency_ms", "op": "gt", "values": ["1; DROP"]}]}]),
     ["body", "steps", 1, "where", 0]),
    (body(steps=[step(), step(where=[{"field": "status", "op": "like", "values": ["x"]}])]),
     ["body", "steps", 1, "where", 0, "op"]),
    (body(window="0d"), ["body", "window"]),
    (body(window="1000d"), ["body", "window"]),
    (body(window="1d; DROP TABLE v.events"), ["body", "window"]),
    (body(name="x" * 20_000), ["body", "name"]),
    (body(name="   "), ["body", "name"]),
    (body(by="tenant"), ["body", "by"]),
]  # fmt: skip


@pytest.mark.parametrize(("sent", "loc"), HOSTILE)
async def test_hostile_definitions_get_a_422_naming_the_field(s: Served, sent: dict[str, Any], loc: list[Any]) -> None:
    r = await create(s, sent)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc, r.text
    listed = await s.http.get("/api/dashboard/acme/funnels", headers=s.auth("acme"))
    assert "Hostile" not in [f["name"] for f in listed.json()["funnels"]]


async def test_hostile_values_are_data_and_other_refusals(s: Served) -> None:
    sqlish = "'; DROP TABLE v.events; --"
    sent = body(
        name=sqlish,
        steps=[step(name="visit' OR 1=1 --"), step(where=[{"field": "status') OR (1=1", "values": [sqlish]}])],
    )
    r = await create(s, sent)
    assert r.status_code == 201, r.text
    assert r.json()["name"] == sqlish and r.json()["steps"][1]["where"][0]["values"] == [sqlish]
    got = await report(s, r.json()["id"])
    assert [st["actors"] for st in got["steps"]] == [0, 0]  # no such events; the table is still there:
    assert (await report(s, "ecommerce"))["steps"][0]["actors"] > 0
    assert (
        await s.http.delete(f"/api/dashboard/acme/funnels/{r.json()['id']}", headers=s.auth("acme-admin"))
    ).status_code == 204

    r = await s.http.post("/api/dashboard/acme/funnels", content=b"{" + b" " * 100_000 + b"}",
                          headers={**s.auth("acme-admin"), "content-type": "application/json"})  # fmt: skip
    assert r.status_code == 413
    for bad in ("A" * 49, "Ab", "-x", "x%20y", "x'y"):
        r = await s.http.get(f"/api/dashboard/acme/funnels/{bad}/report", headers=s.auth("acme"))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "funnel_id"], (bad, r.text)
    r = await s.http.get("/api/dashboard/acme/funnels/nope-123456/report", headers=s.auth("acme"))
    assert r.status_code == 404 and r.json() == {"error": "no funnel 'nope-123456'"}
    for method in ("PUT", "DELETE"):
        r = await s.http.request(
            method, "/api/dashboard/acme/funnels/ecommerce", json=body(), headers=s.auth("acme-admin")
        )
        assert r.status_code == 409, r.text
        r = await s.http.request(
            method, "/api/dashboard/acme/funnels/nope-123456", json=body(), headers=s.auth("acme-admin")
        )
        assert r.status_code == 404, r.text
    for who in ("acme", "acme-ingest", "globex"):
        r = await create(s, body(), who=who)
        assert r.status_code in (401, 403), (who, r.text)


async def test_twenty_funnels_at_most_and_another_tenants_are_invisible(s: Served) -> None:
    listed = (await s.http.get("/api/dashboard/acme/funnels", headers=s.auth("acme"))).json()
    have = len(listed["funnels"]) - 1
    ids = []
    for i in range(listed["max_saved"] - have):
        r = await create(s, body(name=f"Funnel {i}"))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await create(s, body(name="One too many"))
    assert r.status_code == 409 and "at most 20" in r.json()["error"], r.text
    listed = (await s.http.get("/api/dashboard/acme/funnels", headers=s.auth("acme"))).json()
    assert len(listed["funnels"]) == 21 and listed["max_saved"] == 20
    assert set(ids) <= {f["id"] for f in listed["funnels"]}

    # globex sees none of them: not listed, not readable, not reportable, not deletable
    theirs = (await s.http.get("/api/dashboard/globex/funnels", headers=s.auth("globex"))).json()
    assert not set(ids) & {f["id"] for f in theirs["funnels"]}
    for path in (f"/funnels/{ids[0]}", f"/funnels/{ids[0]}/report"):
        r = await s.http.get(f"/api/dashboard/globex{path}", headers=s.auth("globex"))
        assert r.status_code == 404, r.text
        r = await s.http.get(f"/api/dashboard/acme{path}", headers=s.auth("globex"))
        assert r.status_code == 403, r.text
    r = await s.http.delete(f"/api/dashboard/globex/funnels/{ids[0]}", headers=s.auth("operator"))
    assert r.status_code == 404

    # a deleted one frees its place, here and on the topic
    r = await s.http.delete(f"/api/dashboard/acme/funnels/{ids[0]}", headers=s.auth("acme-admin"))
    assert r.status_code == 204
    assert ids[0] not in (await saved_on_topic(s)).tenant_funnels("acme")
    assert set(ids[1:]) <= set((await saved_on_topic(s)).tenant_funnels("acme"))
    r = await create(s, body(name="In its place"))
    assert r.status_code == 201, r.text
