"""Keys are bounded per tenant and for operators (409 naming the limit); revoked keys do not count and
are kept only up to their own bound (the oldest revocations are deleted), over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tenancy.settings import tenancy_settings
from tests.live import IngestServer

pytestmark = pytest.mark.integration


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Small limits for this test (the settings are read once per process: re-read around it)."""
    monkeypatch.setenv("TALLY_MAX_KEYS_PER_TENANT", "4")
    monkeypatch.setenv("TALLY_MAX_OPERATOR_KEYS", "2")
    monkeypatch.setenv("TALLY_MAX_REVOKED_KEYS_PER_TENANT", "1")
    tenancy_settings.cache_clear()
    yield
    monkeypatch.undo()
    tenancy_settings.cache_clear()


async def test_key_quotas_answer_409_and_revoked_keys_are_bounded(limits: None, ingest_server: IngestServer) -> None:
    acme = ingest_server.tenant  # 3 live keys: ingest, read, admin
    admin = {"authorization": f"Bearer {acme.admin}"}
    operator = {"authorization": f"Bearer {ingest_server.operator_key}"}
    new = {"tenant_id": acme.tenant_id, "scope": "read", "label": "dash"}
    async with httpx.AsyncClient(base_url=ingest_server.url, timeout=30) as client:
        first = await client.post("/v1/admin/keys", json=new, headers=admin)
        assert first.status_code == 201, first.text
        full = await client.post("/v1/admin/keys", json=new, headers=admin)
        assert full.status_code == 409
        assert full.json() == {
            "error": f"tenant {acme.tenant_id!r} already has 4 live keys, the limit "
            "(TALLY_MAX_KEYS_PER_TENANT=4); revoke one first"
        }
        # another tenant's quota is its own
        other = {"tenant_id": ingest_server.other.tenant_id, "scope": "read"}
        assert (await client.post("/v1/admin/keys", json=other, headers=operator)).status_code == 201

        # revoked keys do not count; only the latest revocation is kept (TALLY_MAX_REVOKED_KEYS_PER_TENANT=1)
        older = first.json()["key_id"]
        assert (await client.delete(f"/v1/admin/keys/{older}", headers=admin)).status_code == 200
        second = await client.post("/v1/admin/keys", json=new, headers=admin)
        assert second.status_code == 201, second.text
        newer = second.json()["key_id"]
        assert (await client.delete(f"/v1/admin/keys/{newer}", headers=admin)).status_code == 200
        listed = (await client.get("/v1/admin/keys", params={"tenant_id": acme.tenant_id}, headers=admin)).json()
        revoked = [k["key_id"] for k in listed if k["revoked_at"] is not None]
        assert (revoked, len(listed)) == ([newer], 4)
        gone = await client.get("/v1/admin/keys", headers={"authorization": f"Bearer {second.json()['key']}"})
        assert gone.status_code == 401  # revoked and forgotten keys stay refused

        # operator keys: 1 from the fixture, limit 2
        op = {"tenant_id": None, "scope": "admin"}
        assert (await client.post("/v1/admin/keys", json=op, headers=operator)).status_code == 201
        refused = await client.post("/v1/admin/keys", json=op, headers=operator)
        assert refused.status_code == 409 and "TALLY_MAX_OPERATOR_KEYS=2" in refused.json()["error"]

        # hostile input: a huge label is a 422 naming it, never stored
        huge = await client.post("/v1/admin/keys", json={**new, "label": "x" * 10_000}, headers=admin)
        assert huge.status_code == 422 and "label" in huge.text

    # the forgotten key's record is a tombstone on the topic: a fresh follower does not hold it
    from tenancy.kafka_log import DirectoryFollower

    follower = DirectoryFollower(ingest_server.bootstrap, ingest_server.directory_topic)
    await follower.start()
    await follower.stop()
    assert older not in follower.directory.keys and follower.directory.keys[newer].revoked_at is not None
