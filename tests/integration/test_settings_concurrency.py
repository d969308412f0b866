"""Store settings and the operator's tenant updates never overwrite each other, and concurrent settings
writes use optimistic concurrency (ETag / If-Match, 412), over real HTTP on the real directory topic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tenancy.directory import Directory
from tenancy.kafka_log import DirectoryFollower, DirectoryWriter
from tests.conftest import free_port
from tests.live import IngestServer, serve
from views_api.main import create_app

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Both:
    ingest: httpx.AsyncClient
    views: httpx.AsyncClient
    server: IngestServer


@pytest_asyncio.fixture
async def both(ingest_server: IngestServer) -> AsyncIterator[Both]:
    """The ingest service, and a views process whose copy of the directory has not caught up with what
    is written after it loaded (a follower behind by its fetch lag, here for the whole test)."""
    loader = DirectoryFollower(ingest_server.bootstrap, ingest_server.directory_topic, Directory(3600))
    await loader.start()
    await loader.stop()
    writer = DirectoryWriter(ingest_server.bootstrap, ingest_server.directory_topic)
    views_app = create_app(None, "unused", loader.directory, writer=writer)  # type: ignore[arg-type] - no query here
    with serve(views_app, free_port()) as views_url:
        async with (
            httpx.AsyncClient(base_url=ingest_server.url, timeout=30) as ingest,
            httpx.AsyncClient(base_url=views_url, timeout=30) as views,
        ):
            yield Both(ingest, views, ingest_server)


async def _directory(server: IngestServer) -> Directory:
    follower = DirectoryFollower(server.bootstrap, server.directory_topic, Directory(3600))
    await follower.start()
    await follower.stop()
    return follower.directory


async def test_settings_put_racing_an_operator_update_loses_neither(both: Both) -> None:
    acme = both.server.tenant
    operator = {"authorization": f"Bearer {both.server.operator_key}"}
    admin = {"authorization": f"Bearer {acme.admin}"}
    tenant_url, settings_url = f"/v1/admin/tenants/{acme.tenant_id}", f"/api/dashboard/{acme.tenant_id}/settings"
    renamed = await both.ingest.put(
        tenant_url, json={"name": "Acme Renamed", "monthly_budget_usd": "40"}, headers=operator
    )
    assert renamed.status_code == 200, renamed.text
    saved = await both.views.put(settings_url, json={"description": "Hydraulics"}, headers=admin)
    assert saved.status_code == 200, saved.text
    # and both at once
    budget, voice = await asyncio.gather(
        both.ingest.put(tenant_url, json={"name": "Acme Renamed", "monthly_budget_usd": "50"}, headers=operator),
        both.views.put(settings_url, json={"brand_voice": "Plain"}, headers=admin),
    )
    assert (budget.status_code, voice.status_code) == (200, 200), (budget.text, voice.text)

    tenant = (await _directory(both.server)).tenant(acme.tenant_id)
    assert tenant is not None
    assert (tenant.name, tenant.monthly_budget_usd) == ("Acme Renamed", 50)
    assert (tenant.store.description, tenant.store.brand_voice) == ("Hydraulics", "Plain")
    for _ in range(50):  # the ingest service follows the topic: it sees the settings too
        listed = (await both.ingest.get("/v1/admin/tenants", headers=operator)).json()
        mine: dict[str, Any] = next(t for t in listed if t["tenant_id"] == acme.tenant_id)
        if mine["store"]["brand_voice"] == "Plain":
            break
        await asyncio.sleep(0.1)
    assert (mine["name"], mine["store"]["description"], mine["store"]["brand_voice"]) == (
        "Acme Renamed",
        "Hydraulics",
        "Plain",
    )


async def test_settings_writes_use_etag_and_if_match(both: Both) -> None:
    acme = both.server.tenant
    admin = {"authorization": f"Bearer {acme.admin}"}
    info_url, settings_url = f"/api/dashboard/{acme.tenant_id}/info", f"/api/dashboard/{acme.tenant_id}/settings"
    seen = await both.views.get(info_url, headers=admin)
    etag = seen.headers["etag"]
    assert seen.status_code == 200 and etag.startswith('"')
    full = {"description": "Pumps", "brand_voice": "Dry", "ai": {"temperature": 0.2, "max_products_shown": 7}}
    # two writers read the same version: exactly one wins, the other is told to read again
    first, second = await asyncio.gather(
        both.views.put(settings_url, json=full, headers={**admin, "if-match": etag}),
        both.views.put(settings_url, json={**full, "description": "Valves"}, headers={**admin, "if-match": etag}),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 412], (first.text, second.text)
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert "If-Match" in loser.json()["error"]
    assert winner.headers["etag"] != etag
    now = await both.views.get(info_url, headers=admin)
    assert now.headers["etag"] == winner.headers["etag"] and now.json()["settings"] == winner.json()["settings"]

    # without If-Match only the fields sent change (ai field by field)
    merged = await both.views.put(settings_url, json={"ai": {"temperature": 1.5}}, headers=admin)
    assert merged.status_code == 200, merged.text
    expected = {**winner.json()["settings"], "ai": {"temperature": 1.5, "max_products_shown": 7}}
    assert merged.json()["settings"] == expected
    star = await both.views.put(settings_url, json={"brand_voice": "Warm"}, headers={**admin, "if-match": "*"})
    assert star.status_code == 200 and star.json()["settings"]["description"] == ""  # If-Match: a full replace
    stale = await both.views.put(settings_url, json=full, headers={**admin, "if-match": etag})
    assert stale.status_code == 412
    huge = await both.views.put(settings_url, json=full, headers={**admin, "if-match": "x" * 5000})
    assert huge.status_code == 422 and "if-match" in huge.text
