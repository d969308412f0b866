"""Only holders of the signing key write the tenant directory: a record produced to the topic by anyone
else (unsigned, signed with another key, or a signed record moved to another key) is refused by every
follower, counted, and never authenticates."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas.tenancy import ApiKeyRecord, key_record_key, new_key
from tenancy.directory import Directory, Principal
from tenancy.kafka_log import DirectoryFollower
from tenancy.signing import HEADER, signature, signing_key
from tests.live import IngestServer, create_tenant

pytestmark = pytest.mark.integration


def _operator_record() -> tuple[str, bytes, bytes]:
    token, key_id, digest = new_key()
    record = ApiKeyRecord(
        key_id=key_id, tenant_id=None, scope="admin", secret_sha256=digest, created_at=datetime.now(UTC)
    )
    return token, key_record_key(key_id), record.model_dump_json().encode()


async def test_forged_directory_records_are_refused_by_the_follower(ingest_server: IngestServer) -> None:
    topic = ingest_server.directory_topic
    unsigned, unsigned_key, unsigned_value = _operator_record()
    other_key, other_key_key, other_key_value = _operator_record()
    moved, moved_key, moved_value = _operator_record()
    _, donor_key, _ = _operator_record()
    producer = AIOKafkaProducer(bootstrap_servers=ingest_server.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, unsigned_value, key=unsigned_key, partition=0)
        wrong = signature(b"not-the-signing-key-" * 2, topic, other_key_key, other_key_value)
        await producer.send_and_wait(topic, other_key_value, key=other_key_key, partition=0, headers=[(HEADER, wrong)])
        # a validly signed record (for donor_key's name) replayed under another key
        replayed = signature(signing_key(), topic, donor_key, moved_value)
        await producer.send_and_wait(topic, moved_value, key=moved_key, partition=0, headers=[(HEADER, replayed)])
    finally:
        await producer.stop()
    # a signed record written after the forged ones: once the follower applied it, it saw them too
    marker = await create_tenant(ingest_server.bootstrap, topic, f"marker-{ingest_server.tenant.tenant_id}")
    async with httpx.AsyncClient(base_url=ingest_server.url, timeout=30) as client:
        for _ in range(100):
            seen = await client.get(
                "/v1/admin/keys",
                params={"tenant_id": marker.tenant_id},
                headers={"authorization": f"Bearer {marker.admin}"},
            )
            if seen.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert seen.status_code == 200, seen.text
        for token in (unsigned, other_key, moved):
            forged = await client.get("/v1/admin/tenants", headers={"authorization": f"Bearer {token}"})
            assert (forged.status_code, forged.json()) == (401, {"error": "unknown API key"})
        operator = await client.get(
            "/v1/admin/tenants", headers={"authorization": f"Bearer {ingest_server.operator_key}"}
        )
        assert operator.status_code == 200  # signed records still apply
        health = (await client.get("/healthz")).json()
    assert health["directory_refused_records"] == 3
    assert ingest_server.app.state.directory.refused_records == 3


async def test_refusals_are_logged_without_the_record(
    ingest_server: IngestServer, caplog: pytest.LogCaptureFixture
) -> None:
    token, key, value = _operator_record()
    producer = AIOKafkaProducer(bootstrap_servers=ingest_server.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(ingest_server.directory_topic, value, key=key, partition=0)
    finally:
        await producer.stop()
    follower = DirectoryFollower(ingest_server.bootstrap, ingest_server.directory_topic, Directory())
    with caplog.at_level("WARNING", logger="tenancy.kafka_log"):
        await follower.start()
        await follower.stop()
    assert follower.refused == follower.directory.refused_records == 1
    assert key.decode()[4:] not in follower.directory.keys
    assert ingest_server.tenant.tenant_id in follower.directory.tenants  # the signed records loaded
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]  # the server's follower too
    assert lines and all(
        line.startswith(f"refused a record of {ingest_server.directory_topic} at offset ") for line in lines
    )
    assert not any(key.decode() in line or "secret" in line or token[:20] in line for line in lines)


async def test_admin_cli_adopts_unsigned_records_and_keeps_tenant_fields(kafka_bootstrap: str, unique: str) -> None:
    """After the upgrade, `tallystream-admin directory adopt-unsigned` signs the records written before;
    `tenant put` keeps the fields it does not change; `make run`'s provisioning does not pile up keys."""
    from deploy import admin_cli
    from schemas.tenancy import TenantRecord, tenant_record_key
    from tests.live import start_ingest_topics

    _, _, topic = await start_ingest_topics(kafka_bootstrap, unique)
    old = TenantRecord(tenant_id="old", name="Old", created_at=datetime.now(UTC), timezone="Europe/Paris")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:  # as written before records were signed
        await producer.send_and_wait(topic, old.model_dump_json().encode(), key=tenant_record_key("old"), partition=0)
    finally:
        await producer.stop()
    async with admin_cli.directory_session(kafka_bootstrap, topic) as (directory, _):
        assert directory.tenant("old") is None and directory.refused_records == 1
    assert await admin_cli.adopt_unsigned(kafka_bootstrap, topic) == 1
    assert await admin_cli.adopt_unsigned(kafka_bootstrap, topic) == 0  # idempotent
    base = ["--bootstrap", kafka_bootstrap, "--topic", topic]
    with pytest.raises(SystemExit) as done:
        await asyncio.to_thread(admin_cli.main, [*base, "tenant", "put", "old", "--disable"])
    assert done.value.code == 0
    for _ in range(2):
        keys = await admin_cli.provision_demo(kafka_bootstrap, topic, "demo")
    async with admin_cli.directory_session(kafka_bootstrap, topic) as (directory, _):
        tenant = directory.tenant("old")
        assert tenant is not None and (tenant.name, tenant.timezone, tenant.disabled) == ("Old", "Europe/Paris", True)
        demo = [k for k in directory.keys.values() if k.label == "make-run"]
        assert sum(k.revoked_at is None for k in demo) == 4 and len(demo) == 8  # 4 live, 4 revoked kept
        operator, read = directory.authenticate(keys.operator, ("admin",)), directory.authenticate(keys.read, ("read",))
        assert isinstance(operator, Principal) and operator.tenant_id is None
        assert isinstance(read, Principal) and read.tenant_id == "demo"
