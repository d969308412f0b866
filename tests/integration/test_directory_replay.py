"""Replaying an old signed directory record does not undo a later one: a revoked key stays revoked, a
disabled tenant stays disabled (records carry signed versions); admin writes are rate-limited per key."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.tenancy import key_record_key, tenant_record_key
from tests.factories import message
from tests.live import IngestServer, create_tenant

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC) - timedelta(minutes=5)


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def _records(bootstrap: str, topic: str, key: bytes) -> list[Any]:
    """Every record of `key` in the directory topic, oldest first, as consumed (headers included)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        found = []
        while await consumer.position(partition) < end:
            for record in (await consumer.getmany(partition, timeout_ms=1000)).get(partition, []):
                if record.key == key:
                    found.append(record)
        return found
    finally:
        await consumer.stop()


async def _replay(server: IngestServer, record: Any) -> None:
    """Produce `record` again, exactly as it was (key, value, signed headers), then wait until the
    server's follower has read past it."""
    producer = AIOKafkaProducer(bootstrap_servers=server.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            server.directory_topic, record.value, key=record.key, partition=0, headers=list(record.headers)
        )
    finally:
        await producer.stop()
    marker = await create_tenant(server.bootstrap, server.directory_topic, f"m{time.monotonic_ns()}")
    for _ in range(100):
        if server.app.state.directory.tenant(marker.tenant_id) is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the follower did not read past the replayed record")


async def test_a_revoked_keys_replayed_record_does_not_bring_it_back(ingest_server: IngestServer) -> None:
    t = ingest_server.tenant
    event = [message(t.tenant_id, NOW)]
    async with httpx.AsyncClient(base_url=ingest_server.url, timeout=30) as client:
        created = await client.post(
            "/v1/admin/keys", json={"tenant_id": t.tenant_id, "scope": "ingest"}, headers=_auth(t.admin)
        )
        key, key_id = created.json()["key"], created.json()["key_id"]
        assert (await client.post("/v1/events", json=event, headers=_auth(key))).status_code == 200
        revoked = await client.delete(f"/v1/admin/keys/{key_id}", headers=_auth(t.admin))
        assert revoked.status_code == 200
        refused_before = ingest_server.app.state.directory.refused_records
        live_record = (await _records(ingest_server.bootstrap, ingest_server.directory_topic, key_record_key(key_id)))[
            0
        ]
        await _replay(ingest_server, live_record)
        after = await client.post("/v1/events", json=event, headers=_auth(key))
        health = (await client.get("/healthz")).json()
    assert (after.status_code, after.json()) == (401, {"error": "revoked API key"})  # before: 200, live again
    assert health["directory_refused_records"] == refused_before + 1


async def test_a_disabled_tenants_replayed_record_does_not_enable_it(ingest_server: IngestServer) -> None:
    o = ingest_server.other
    operator = _auth(ingest_server.operator_key)
    event = [message(o.tenant_id, NOW)]
    async with httpx.AsyncClient(base_url=ingest_server.url, timeout=30) as client:
        assert (await client.post("/v1/events", json=event, headers=_auth(o.ingest))).status_code == 200
        enabled = (
            await _records(ingest_server.bootstrap, ingest_server.directory_topic, tenant_record_key(o.tenant_id))
        )[0]
        put = await client.put(
            f"/v1/admin/tenants/{o.tenant_id}", json={"name": o.tenant_id, "disabled": True}, headers=operator
        )
        assert put.status_code == 200 and put.json()["disabled"] is True
        await _replay(ingest_server, enabled)
        refused = await client.post("/v1/events", json=event, headers=_auth(o.ingest))
        assert (refused.status_code, refused.json()) == (401, {"error": "tenant is disabled"})  # before: 200
        # a normal update still applies, here and in a follower started afresh
        put = await client.put(
            f"/v1/admin/tenants/{o.tenant_id}", json={"name": "Renamed", "disabled": False}, headers=operator
        )
        assert put.status_code == 200 and put.json()["name"] == "Renamed"
        assert (await client.post("/v1/events", json=event, headers=_auth(o.ingest))).status_code == 200
    from tenancy.directory import Directory
    from tenancy.kafka_log import DirectoryFollower

    fresh = DirectoryFollower(ingest_server.bootstrap, ingest_server.directory_topic, Directory())
    await fresh.start()
    await fresh.stop()
    tenant = fresh.directory.tenant(o.tenant_id)
    assert tenant is not None and (tenant.name, tenant.disabled) == ("Renamed", False)
    assert fresh.refused >= 1  # the replayed record, refused on a fresh load too


async def test_admin_writes_are_rate_limited_per_key(ingest_server: IngestServer) -> None:
    t = ingest_server.tenant
    body = {"tenant_id": t.tenant_id, "scope": "read"}
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=ingest_server.url, timeout=30) as client:
        started = time.monotonic()
        for _ in range(40):
            answer = await client.post("/v1/admin/keys", json=body, headers=_auth(t.admin))
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                break
        elapsed = time.monotonic() - started
        other = await client.post("/v1/admin/keys", json=body, headers=_auth(ingest_server.operator_key))
    assert statuses[-1] == 429, statuses  # before: 40 keys created in a row
    created = statuses.count(201)
    assert 20 <= created <= 20 + 5 * elapsed + 1, (created, elapsed)  # a burst of 20, then 5/s
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.json() == {
        "error": "this admin key is over its rate of 5 writes/s (TALLY_INGEST_ADMIN_WRITES_PER_SECOND); retry later"
    }
    assert other.status_code == 201  # per key: the operator's key is not held back
