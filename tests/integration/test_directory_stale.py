"""A role whose directory follower lost the broker fails closed: beyond TALLY_DIRECTORY_MAX_STALE_SECONDS
every key (valid or revoked) gets 503 with Retry-After, and keys work again once the broker is back."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from ingest.app import create_app
from tenancy.settings import tenancy_settings
from tests.conftest import KAFKA_SH, free_port
from tests.integration.test_ingest_kafka_down import own_broker  # noqa: F401 - a fixture
from tests.live import create_tenant, ingest_settings, serve, start_ingest_topics

pytestmark = pytest.mark.integration

MAX_STALE = 3


@pytest.fixture
def max_stale(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TALLY_DIRECTORY_MAX_STALE_SECONDS", str(MAX_STALE))
    tenancy_settings.cache_clear()
    yield
    monkeypatch.undo()
    tenancy_settings.cache_clear()


async def _until(client: httpx.AsyncClient, headers: dict[str, str], status: int, seconds: float) -> httpx.Response:
    """Ask until the answer has `status` (generous bound: the broker restarts on a loaded machine)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        response = await client.get("/v1/admin/keys", params={"tenant_id": "acme"}, headers=headers)
        if response.status_code == status or asyncio.get_running_loop().time() > deadline:
            return response
        await asyncio.sleep(0.5)


async def test_stale_directory_refuses_keys_then_recovers(
    max_stale: None,
    own_broker: tuple[str, dict[str, str]],  # noqa: F811
    unique: str,
) -> None:
    bootstrap, env = own_broker
    _, _, directory = await start_ingest_topics(bootstrap, unique)
    keys = await create_tenant(bootstrap, directory, "acme")
    app = create_app(ingest_settings(bootstrap, unique, publish_timeout_seconds=3))
    valid = {"authorization": f"Bearer {keys.admin}"}
    with serve(app, free_port()) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            read_key_id = keys.read[4:20]
            assert (await client.delete(f"/v1/admin/keys/{read_key_id}", headers=valid)).status_code == 200
            revoked = {"authorization": f"Bearer {keys.read}"}
            assert (await client.get("/v1/admin/keys", headers=revoked)).json() == {"error": "revoked API key"}
            assert (await client.get("/v1/admin/keys", params={"tenant_id": "acme"}, headers=valid)).status_code == 200
            assert (await client.get("/healthz")).status_code == 200

            subprocess.run(["bash", str(KAFKA_SH), "stop"], env=env, check=True)
            stale = await _until(client, valid, 503, 60)
            assert stale.status_code == 503, stale.text
            assert stale.headers["retry-after"] == "5"
            assert "directory stale" in stale.json()["error"]
            for headers in (valid, revoked):
                answer = await client.get("/v1/admin/keys", params={"tenant_id": "acme"}, headers=headers)
                assert (answer.status_code, answer.headers["retry-after"]) == (503, "5")
            health = await client.get("/healthz")
            assert health.status_code == 503 and health.json()["directory_age_seconds"] > MAX_STALE
            assert (await client.get("/v1/admin/keys")).status_code == 401  # no key: answered without the directory

            subprocess.run(["bash", str(KAFKA_SH), "start"], env=env, check=True)
            back = await _until(client, valid, 200, 120)
            assert back.status_code == 200, back.text
            assert (await client.get("/v1/admin/keys", headers=revoked)).json() == {"error": "revoked API key"}
            assert (await client.get("/healthz")).status_code == 200
