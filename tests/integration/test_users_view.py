"""The end-user views over real HTTP against chDB, on a known event set of their own.

Several end users of acme (sessions, LLM calls of known prices, conversions in EUR and USD, custom
events, an anonymous event, ids holding a quote, a slash and a non-ASCII letter, an event older than
the default period) and globex, whose end user `alice` shares an id with acme's. Every expected figure
is computed here from the events (`expected`), a few also written out by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio

from alerting.rulebook import RuleBook
from schemas.ddl import render_ddl
from schemas.ddl_alerts import render_alert_ddl
from schemas.rollups import render_rollup_ddl
from schemas.tenancy import TenantRecord, tenant_record_key
from storage.chdb_store import ChdbWarehouse
from tenancy.directory import Directory
from tests.conftest import free_port
from tests.live import serve
from tests.rates import expected_cost
from tests.viewsdata import DB, NOW, _key, load
from views_api.limits import Limits
from views_api.main import create_app
from views_api.settings import ViewsSettings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

WEEK = datetime(2026, 3, 12, tzinfo=UTC)
"""period=7d at NOW: the 7 UTC days ending with today."""
MONTH = datetime(2026, 2, 17, tzinfo=UTC)
"""The default period (30d) at NOW."""
ZERO = "0_00000000-0000-0000-0000-000000000000"
"""A cursor before every event."""
_n = iter(range(10**6))


def ev(kind: str, user: str, ago: timedelta, tenant: str = "acme", **fields: Any) -> dict[str, Any]:
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"users-view-{next(_n)}"))
    common = {"end_user_id": user} if user else {}
    ts = (NOW - ago).isoformat()
    return {"event_id": event_id, "type": kind, "tenant_id": tenant, "timestamp": ts, **common, **fields}


def llm(user: str, ago: timedelta, session: str, model: str, i: int, o: int, **kw: Any) -> dict[str, Any]:
    """An LLM call of `model` (one of tests.rates') with `i` input and `o` output tokens."""
    provider = {"gpt": "openai", "cla": "anthropic", "lla": "groq"}[model[:3]]
    tokens = {"input_tokens": i, "output_tokens": o, "latency_ms": 400}
    return ev("llm_call", user, ago, session_id=session, provider=provider, model=model, **tokens, **kw)


def session(user: str, sid: str, ago: timedelta, messages: int, tenant: str = "acme") -> list[dict[str, Any]]:
    """session_started, `messages` messages, session_ended, a minute apart."""
    m = timedelta(minutes=1)
    out = [ev("session_started", user, ago, tenant, session_id=sid, channel="web")]
    roles = ("user", "assistant")
    out += [ev("message", user, ago - (k + 1) * m, tenant, session_id=sid, role=roles[k % 2]) for k in range(messages)]
    return [*out, ev("session_ended", user, ago - (messages + 1) * m, tenant, session_id=sid, reason="completed")]


BUILD = {
    "name": "build.completed",
    "dimensions": {"status": "failed", "site_type": "shop"},
    "measures": {"duration_s": 12.5},
}
S, H, D = timedelta(seconds=1), timedelta(hours=1), timedelta(days=1)
EVENTS: list[dict[str, Any]] = [
    # alice: two sessions this week, a conversion in each currency, a custom event, one call 45 days ago
    *session("alice", "a1", 30 * H, 2),
    llm("alice", 30 * H - 90 * S, "a1", "gpt-4o-mini", 1000, 200),
    llm("alice", 30 * H - 100 * S, "a1", "claude-3-5-haiku-latest", 2000, 300),
    ev("conversion", "alice", 29 * H, session_id="a1", order_id="o1", revenue="129.90", currency="EUR"),
    ev("custom", "alice", 28 * H, session_id="a1", **BUILD),
    *session("alice", "a2", 5 * H, 1),
    llm("alice", 5 * H - 30 * S, "a2", "gpt-4o", 500, 100, feature="search"),
    ev("conversion", "alice", 4 * H, session_id="a2", order_id="o2", revenue="10.00"),
    ev("feedback", "alice", 3 * H, session_id="a2", thumbs="up"),
    llm("alice", 45 * D, "a0", "gpt-4o", 10_000, 1000),
    # Bob-Smith: one session, two EUR conversions (summed), a call
    *session("Bob-Smith", "b1", 2 * D, 3),
    llm("Bob-Smith", 2 * D - 30 * S, "b1", "llama-3.1-8b-instant", 3000, 50),
    ev("conversion", "Bob-Smith", 2 * D - 10 * H, session_id="b1", order_id="o3", revenue="5.50", currency="EUR"),
    ev("conversion", "Bob-Smith", 2 * D - 11 * H, session_id="b1", order_id="o4", revenue="4.55", currency="EUR"),
    # carol: only 10 days ago (in the default period, not in 7d)
    *session("carol", "c1", 10 * D, 2),
    llm("carol", 10 * D - 30 * S, "c1", "gpt-4o", 4000, 400),
    # dave and o'brien: no session, no cost (ties on cost_usd); org/42 and zoë: a session each
    ev("custom", "dave", 6 * H, name="signup"),
    ev("custom", "o'brien", 7 * H, name="signup"),
    *session("org/42", "x1", 8 * H, 1),
    *session("zoë", "z1", 9 * H, 2),
    llm("zoë", 9 * H - 30 * S, "z1", "gpt-4o-mini", 700, 70),
    # anonymous traffic: no end user
    *session("", "n1", 2 * H, 2),
    llm("", 2 * H - 30 * S, "n1", "gpt-4o", 9000, 900),
    # globex: its own alice (same id), and gina
    *session("alice", "g1", 3 * H, 1, tenant="globex"),
    {**llm("alice", 3 * H - 30 * S, "g1", "gpt-4o", 5000, 100), "tenant_id": "globex"},
    ev("conversion", "alice", 2 * H, "globex", session_id="g1", order_id="g-o1", revenue="99.00", currency="USD"),
    ev("custom", "gina", 2 * H, "globex", name="signup"),
]


def ts(e: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(e["timestamp"])


def price(e: dict[str, Any]) -> Decimal:
    return expected_cost(e["provider"], e["model"], e["input_tokens"], e["output_tokens"])


def expected(user: str, tenant: str = "acme", since: datetime | None = None) -> dict[str, Any]:
    """One user's figures from the events (`since`: the period's start; it always ends after NOW)."""
    mine = [e for e in EVENTS if e["tenant_id"] == tenant and e.get("end_user_id") == user]
    mine = [e for e in mine if since is None or ts(e) >= since]
    revenue: dict[str, Decimal] = {}
    for e in mine:
        if e["type"] == "conversion":
            revenue[e.get("currency", "USD")] = revenue.get(e.get("currency", "USD"), Decimal(0)) + Decimal(
                e["revenue"]
            )
    calls = [e for e in mine if e["type"] == "llm_call"]
    return {
        "end_user_id": user,
        "first_seen": min(ts(e) for e in mine),
        "last_seen": max(ts(e) for e in mine),
        "sessions": len({e["session_id"] for e in mine if e.get("session_id")}),
        "messages": sum(e["type"] == "message" for e in mine),
        "llm_calls": len(calls),
        "tokens": sum(e["input_tokens"] + e["output_tokens"] for e in calls),
        "cost_usd": sum((price(e) for e in calls), Decimal(0)),
        "conversions": sum(e["type"] == "conversion" for e in mine),
        "revenue": dict(sorted(revenue.items())),
    }


def users_of(since: datetime, tenant: str = "acme") -> list[dict[str, Any]]:
    ids = {e["end_user_id"] for e in EVENTS if e["tenant_id"] == tenant and e.get("end_user_id") and ts(e) >= since}
    return [expected(u, tenant, since) for u in sorted(ids)]


def ordered(users: list[dict[str, Any]], sort: str) -> list[str]:
    field, desc = sort.lstrip("-"), sort.startswith("-")
    by_id = sorted(users, key=lambda u: u["end_user_id"])
    return [u["end_user_id"] for u in sorted(by_id, key=lambda u: u[field], reverse=desc)]


def parsed(user: dict[str, Any]) -> dict[str, Any]:
    """An answered user with its values typed like `expected`'s."""
    return {
        **user,
        "first_seen": datetime.fromisoformat(user["first_seen"]),
        "last_seen": datetime.fromisoformat(user["last_seen"]),
        "cost_usd": Decimal(user["cost_usd"]),
        "revenue": {c: Decimal(a) for c, a in user["revenue"].items()},
    }


@dataclass
class Served:
    client: httpx.AsyncClient
    keys: dict[str, str]

    async def get(self, path: str, status: int = 200, who: str = "acme", tenant: str = "acme", **params: Any) -> Any:
        response = await self.client.get(
            f"/api/dashboard/{tenant}{path}", params=params, headers={"authorization": f"Bearer {self.keys[who]}"}
        )
        assert response.status_code == status, (path, params, response.text)
        return response.json()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def s(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    warehouse = ChdbWarehouse(Path(tmp_path_factory.mktemp("users")) / "chdb")
    retention = {"minute": 3650, "hour": 3650, "day": 3650}
    for statement in render_ddl(DB, raw_retention_days=3650) + render_rollup_ddl(DB, retention) + render_alert_ddl(DB):
        await warehouse.execute(statement)
    await load(warehouse, EVENTS)
    directory = Directory()
    for tenant, tz in (("acme", "UTC"), ("globex", "Europe/Paris")):
        record = TenantRecord(tenant_id=tenant, name=tenant.title(), created_at=NOW - 90 * D, timezone=tz)
        directory.apply(tenant_record_key(tenant), record.model_dump_json().encode())
    keys = {"acme": _key(directory, "acme", "read"), "globex": _key(directory, "globex", "read")}
    app = create_app(warehouse, DB, directory, clock=lambda: NOW, rules=RuleBook())
    app.state.limits = Limits(ViewsSettings(key_requests_per_second=1000, tenant_requests_per_second=1000))
    try:
        with serve(app, free_port()) as url:
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                yield Served(client, keys)
    finally:
        await warehouse.close()


async def test_the_list_holds_each_users_exact_figures_over_the_period(s: Served) -> None:
    body = await s.get("/users", period="7d", sort="end_user_id", limit=200)
    assert body["period"]["since"] == "2026-03-12T00:00:00Z" and body["period"]["label"] == "7d"
    want = users_of(WEEK)
    assert [u["end_user_id"] for u in want] == ["Bob-Smith", "alice", "dave", "o'brien", "org/42", "zoë"]
    assert [parsed(u) for u in body["users"]] == want
    assert (body["total"], body["sort"], body["q"], body["limit"], body["offset"]) == (6, "end_user_id", None, 200, 0)
    alice = body["users"][1]  # written out: EUR and USD apart, 2 sessions this week, the old call left out
    assert alice["revenue"] == {"EUR": "129.9", "USD": "10"}  # exact decimal strings
    assert (alice["sessions"], alice["messages"], alice["llm_calls"], alice["conversions"]) == (2, 3, 3, 2)
    assert alice["tokens"] == 1200 + 2300 + 600
    assert Decimal(alice["cost_usd"]) == Decimal("0.00027") + Decimal("0.0028") + Decimal("0.00225")
    assert body["users"][0]["revenue"] == {"EUR": "10.05"}  # Bob's two EUR orders, summed
    assert body["users"][2] == {**body["users"][2], "sessions": 0, "cost_usd": "0", "revenue": {}}


async def test_the_default_period_is_30d_sorted_by_last_seen_newest_first(s: Served) -> None:
    body = await s.get("/users", limit=200)
    assert body["period"]["since"] == "2026-02-17T00:00:00Z" and body["period"]["until"] == "2026-03-19T00:00:00Z"
    want = users_of(MONTH)
    assert "carol" in [u["end_user_id"] for u in want]
    assert [u["end_user_id"] for u in body["users"]] == ordered(want, "-last_seen") and body["sort"] == "-last_seen"
    assert body["users"][-1]["end_user_id"] == "carol" and body["total"] == 7


@pytest.mark.parametrize(
    "sort",
    [
        "-cost_usd",
        "cost_usd",
        "-sessions",
        "first_seen",
        "-first_seen",
        "last_seen",
        "-messages",
        "llm_calls",
        "-tokens",
        "-conversions",
        "conversions",
        "-end_user_id",
    ],
)
async def test_every_sort_key_orders_with_ties_in_end_user_id_order(s: Served, sort: str) -> None:
    body = await s.get("/users", sort=sort)
    assert [u["end_user_id"] for u in body["users"]] == ordered(users_of(MONTH), sort)


async def test_pages_are_stable_and_cover_every_user_once(s: Served) -> None:
    want = ordered(users_of(MONTH), "-cost_usd")
    seen: list[str] = []
    for offset in range(0, 8, 2):
        body = await s.get("/users", sort="-cost_usd", limit=2, offset=offset)
        assert body["total"] == 7 and len(body["users"]) == min(2, 7 - offset)
        seen += [u["end_user_id"] for u in body["users"]]
    assert seen == want
    past = await s.get("/users", sort="-cost_usd", offset=10_000)
    assert past["users"] == [] and past["total"] == 7


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("ALI", ["alice"]),
        ("bob-s", ["Bob-Smith"]),
        ("ZOË", ["zoë"]),
        ("o", ["Bob-Smith", "carol", "o'brien", "org/42", "zoë"]),
        ("o'b", ["o'brien"]),
        ("/", ["org/42"]),
        ("", ["Bob-Smith", "alice", "carol", "dave", "o'brien", "org/42", "zoë"]),
        ("' OR '1'='1", []),
        ("%", []),
        ("_", []),
        ("\\", []),
        ("a\\", []),
        ("\t", []),
        ("\x00", []),
        ("{search:String}", []),
        ("'; DROP TABLE v.events; --", []),
    ],
)
async def test_search_is_a_case_insensitive_substring_of_the_id(s: Served, q: str, found: list[str]) -> None:
    body = await s.get("/users", q=q, sort="end_user_id")
    assert [u["end_user_id"] for u in body["users"]] == found and body["total"] == len(found)
    assert body["q"] == (q or None)


async def test_another_tenants_users_never_show(s: Served) -> None:
    acme = await s.get("/users", sort="end_user_id")
    assert "gina" not in [u["end_user_id"] for u in acme["users"]]
    globex = await s.get("/users", who="globex", tenant="globex", sort="end_user_id")
    assert [parsed(u) for u in globex["users"]] == users_of(MONTH, "globex")
    their_alice = globex["users"][0]
    assert their_alice["revenue"] == {"USD": "99"} and their_alice["sessions"] == 1
    await s.get("/users/gina", 404)
    mine = await s.get("/users/alice")
    assert mine["user"]["revenue"] == {"EUR": "129.9", "USD": "10"}
    assert {e["session_id"] for e in mine["events"]} == {"a0", "a1", "a2"}
    await s.get("/users/alice", 403, who="globex")


async def test_one_user_covers_every_retained_event_and_names_fields_as_the_contract(s: Served) -> None:
    body = await s.get("/users/alice", limit=500)
    assert parsed(body["user"]) == expected("alice")  # 45 days back too: all retained events
    assert body["user"]["llm_calls"] == 4 and body["user"]["sessions"] == 3
    mine = sorted((e for e in EVENTS if e["tenant_id"] == "acme" and e.get("end_user_id") == "alice"), key=ts)
    assert [e["id"] for e in body["events"]] == [e["event_id"] for e in mine]
    assert [datetime.fromisoformat(e["ts"]) for e in body["events"]] == [ts(e) for e in mine]
    assert body["next"] is None and body["previous"] is None
    call = next(e for e in body["events"] if e["type"] == "llm_call" and e["session_id"] == "a2")
    assert (call["type"], call["session_id"], call["tokens"]) == ("llm_call", "a2", 600)
    assert Decimal(call["cost_usd"]) == Decimal("0.00225") and call["price_status"] != ""
    f = call["fields"]
    assert (f["provider"], f["model"], f["input_tokens"], f["output_tokens"], f["feature"]) == (
        "openai",
        "gpt-4o",
        500,
        100,
        "search",
    )
    euro = next(e for e in body["events"] if e["type"] == "conversion")
    assert euro["fields"] == {
        "order_id": "o1",
        "revenue": "129.9",
        "currency": "EUR",
        "attributed_session_id": "a1",
        "feature": "",
        "category": "",
    }
    custom = next(e for e in body["events"] if e["type"] == "custom")["fields"]
    assert custom == {
        "name": "build.completed",
        "dimensions": {"site_type": "shop", "status": "failed"},
        "measures": {"duration_s": 12.5},
    }
    feedback = next(e for e in body["events"] if e["type"] == "feedback")["fields"]
    assert feedback == {"rating": 0, "thumbs": "up", "comment_chars": 0}
    ended = next(e for e in body["events"] if e["type"] == "session_ended")["fields"]
    assert ended["reason"] == "completed"


async def test_the_timeline_pages_with_cursors_both_ways(s: Served) -> None:
    everything = [e["id"] for e in (await s.get("/users/alice", limit=500))["events"]]
    assert len(everything) == 15
    page = await s.get("/users/alice", limit=4)  # the latest 4, in time order
    assert [e["id"] for e in page["events"]] == everything[-4:] and page["next"] is None
    back: list[str] = [e["id"] for e in page["events"]]
    while page["previous"] is not None:
        page = await s.get("/users/alice", limit=4, before=page["previous"])
        back = [e["id"] for e in page["events"]] + back
        assert page["next"] is not None
    assert back == everything and len(page["events"]) == 3
    page, forward = await s.get("/users/alice", limit=4, after=ZERO), []
    while True:
        forward += [e["id"] for e in page["events"]]
        assert page["previous"] is not None
        if page["next"] is None:
            break
        page = await s.get("/users/alice", limit=4, after=page["next"])
    assert forward == everything
    assert len(page["events"]) == 3
    rest = await s.get("/users/alice", after=page["previous"], limit=500)  # after the last page's first event
    assert [e["id"] for e in rest["events"]] == everything[-2:] and rest["next"] is None


async def test_ids_with_a_quote_a_slash_or_an_accent_are_found_exactly(s: Served) -> None:
    for user in ("o'brien", "org/42", "zoë"):
        body = await s.get(f"/users/{quote(user, safe='')}")
        assert parsed(body["user"]) == expected(user), user
    assert (await s.get("/users/org/42"))["user"]["end_user_id"] == "org/42"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/users", {"q": "x" * 257}, "q"),
        ("/users", {"sort": "revenue"}, "sort"),
        ("/users", {"sort": "cost_usd; DROP TABLE v.events"}, "sort"),
        ("/users", {"sort": "-" * 5000}, "sort"),
        ("/users", {"offset": -1}, "offset"),
        ("/users", {"offset": 10_001}, "offset"),
        ("/users", {"offset": 10**30}, "offset"),
        ("/users", {"limit": 0}, "limit"),
        ("/users", {"limit": 201}, "limit"),
        ("/users", {"period": "5y"}, "period"),
        ("/users", {"from": "2026-03-01"}, "to"),
        ("/users/" + "u" * 257, {}, "end_user_id"),
        ("/users/alice", {"limit": 501}, "limit"),
        ("/users/alice", {"after": "yesterday"}, "after"),
        ("/users/alice", {"before": "1_' OR 1=1"}, "before"),
        ("/users/alice", {"before": "9" * 5000}, "before"),
        ("/users/alice", {"after": "99999999999999_00000000-0000-0000-0000-000000000000"}, "after"),
        ("/users/alice", {"after": ZERO, "before": ZERO}, "before"),
    ],
)
async def test_bad_values_get_a_422_naming_them(s: Served, path: str, params: dict[str, Any], field: str) -> None:
    body = await s.get(path, 422, **params)
    assert field in [d["loc"][-1] for d in body["detail"]], body


@pytest.mark.parametrize("user", ["x' OR '1'='1", "nobody", "alice%", "ALICE", "{end_user_id:String}", "a\\"])
async def test_unknown_users_get_a_404_naming_them(s: Served, user: str) -> None:
    body = await s.get(f"/users/{quote(user, safe='')}", 404)
    assert body == {"error": f"no end user {user!r} for tenant 'acme'"}
