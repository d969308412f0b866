"""POST /v1/events over real HTTP against the real broker: every status code the contract names."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from schemas.records import EVENTS_BATCH_V1
from tests.factories import llm_call, message
from tests.live import IngestServer, read_events, read_topic_records

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_accepted_events_are_in_kafka_keyed_by_tenant(ingest_server: IngestServer) -> None:
    t = ingest_server.tenant
    events = [llm_call(t.tenant_id, NOW), message(t.tenant_id, NOW), llm_call(t.tenant_id, NOW)]
    del events[2]["tenant_id"]  # filled in from the key
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        response = await client.post("/v1/events", json=events, headers=_auth(t.ingest))
    assert response.status_code == 200
    assert response.json() == {"accepted": 3, "rejected": 0, "errors": []}
    records = await read_events(ingest_server.bootstrap, ingest_server.events_topic, 3)
    assert sorted((k, v["event_id"], v["tenant_id"]) for k, v in records) == sorted(
        (t.tenant_id.encode(), e["event_id"], t.tenant_id) for e in events
    )


async def test_partly_invalid_batch_is_a_207_naming_each_bad_event(ingest_server: IngestServer) -> None:
    t = ingest_server.tenant
    good, bad = llm_call(t.tenant_id, NOW), llm_call(t.tenant_id, NOW, latency_ms=-1)
    body = b"\n".join(orjson.dumps(e) for e in (good, bad))
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        response = await client.post(
            "/v1/events",
            content=gzip.compress(body),
            headers={"content-type": "application/x-ndjson", "content-encoding": "gzip", **_auth(t.ingest)},
        )
    assert response.status_code == 207
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (1, 1)
    assert result["errors"][0]["index"] == 1 and result["errors"][0]["event_id"] == bad["event_id"]
    assert result["errors"][0]["error"].startswith("llm_call.latency_ms: Input should be greater than or equal to 0")
    records = await read_events(ingest_server.bootstrap, ingest_server.events_topic, 1)
    assert [v["event_id"] for _, v in records] == [good["event_id"]]


async def test_a_request_is_published_as_batch_records_keyed_by_tenant_and_split_at_the_bounds(
    ingest_server: IngestServer,
) -> None:
    """998 events (and 2 invalid ones) with records bounded at 400 events -> 3 batch records of 400, 400
    and 198 valid events, in order, on the tenant's partition, under the tally-format header; the 207
    names only the invalid ones."""
    t = ingest_server.tenant
    settings = ingest_server.app.state.settings
    ingest_server.app.state.settings = settings.model_copy(update={"record_max_events": 400})
    events = [message(t.tenant_id, NOW, content_chars=i) for i in range(998)]
    bad = [llm_call(t.tenant_id, NOW, latency_ms=-1), message(t.tenant_id, NOW, role="robot")]
    body = [*events[:700], bad[0], *events[700:], bad[1]]
    async with httpx.AsyncClient(base_url=ingest_server.url, timeout=30) as client:
        response = await client.post("/v1/events", json=body, headers=_auth(t.ingest))
    assert response.status_code == 207
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (998, 2)
    assert [e["index"] for e in result["errors"]] == [700, 999]
    records = await read_topic_records(ingest_server.bootstrap, ingest_server.events_topic, 998)
    assert [len(r.events) for r in records] == [400, 400, 198]
    assert all(r.headers == [("tally-format", EVENTS_BATCH_V1)] for r in records)
    assert {(r.key, r.partition) for r in records} == {(t.tenant_id.encode(), records[0].partition)}
    assert [r.offset for r in records] == [records[0].offset + i for i in range(3)]
    assert [e["event_id"] for r in records for e in r.events] == [e["event_id"] for e in events]


def _altered(key: str) -> str:
    """The key with its last character changed (a well-formed key nobody holds)."""
    return key[:-1] + ("B" if key.endswith("A") else "A")


async def test_refusals_name_what_is_wrong_and_publish_nothing(ingest_server: IngestServer) -> None:
    t, other = ingest_server.tenant, ingest_server.other
    cases = [
        # (body, headers, status, part of the error)
        (b'[{"event_id": ', _auth(t.ingest), 400, "malformed JSON"),
        (orjson.dumps([llm_call(t.tenant_id, NOW)] * 1001), _auth(t.ingest), 413, "at most 1000 per request"),
        (orjson.dumps([llm_call(t.tenant_id, NOW)]), {}, 401, "missing API key"),
        (orjson.dumps([llm_call(t.tenant_id, NOW)]), _auth("tsk_nonsense"), 401, "malformed API key"),
        (orjson.dumps([llm_call(t.tenant_id, NOW)]), _auth(_altered(other.ingest)), 401, "unknown API key"),
        (orjson.dumps([llm_call(t.tenant_id, NOW)]), _auth(t.read), 403, "scope does not allow"),
        (
            orjson.dumps([llm_call(t.tenant_id, NOW), llm_call(other.tenant_id, NOW)]),
            _auth(t.ingest),
            403,
            f"has tenant_id '{other.tenant_id}', but this key belongs to tenant '{t.tenant_id}'",
        ),
        (b"[]", {"content-encoding": "br", **_auth(t.ingest)}, 415, "unsupported Content-Encoding 'br'"),
    ]
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        for body, headers, status, part in cases:
            response = await client.post(
                "/v1/events", content=body, headers={"content-type": "application/json", **headers}
            )
            assert response.status_code == status, (status, response.text)
            assert part in response.json()["error"], response.text
            if status == 401:
                assert response.headers["www-authenticate"] == "Bearer"
    assert await read_events(ingest_server.bootstrap, ingest_server.events_topic, 1, max_wait_s=1.5) == []


async def test_revoked_key_is_refused_within_a_second(ingest_server: IngestServer) -> None:
    t = ingest_server.tenant
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        created = await client.post(
            "/v1/admin/keys", json={"tenant_id": t.tenant_id, "scope": "ingest", "label": "ci"}, headers=_auth(t.admin)
        )
        assert created.status_code == 201
        key, key_id = created.json()["key"], created.json()["key_id"]
        assert key.startswith(f"tsk_{key_id}_")
        ok = await client.post("/v1/events", json=[message(t.tenant_id, NOW)], headers=_auth(key))
        assert ok.status_code == 200
        listed = await client.get("/v1/admin/keys", params={"tenant_id": t.tenant_id}, headers=_auth(t.admin))
        assert key_id in [k["key_id"] for k in listed.json()]
        assert all("secret" not in str(k) and key not in str(k) for k in listed.json())
        revoked = await client.delete(f"/v1/admin/keys/{key_id}", headers=_auth(t.admin))
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        refused = await client.post("/v1/events", json=[message(t.tenant_id, NOW)], headers=_auth(key))
        assert refused.status_code == 401 and refused.json()["error"] == "revoked API key"
        # a tenant admin cannot touch another tenant, nor create tenants
        other = ingest_server.other
        assert (await client.delete(f"/v1/admin/keys/{key_id}", headers=_auth(other.admin))).status_code == 404
        put = await client.put("/v1/admin/tenants/x1", json={"name": "x"}, headers=_auth(t.admin))
        assert put.status_code == 403


async def test_rate_limit_answers_429_with_retry_after_and_413_beyond_the_burst(ingest_server: IngestServer) -> None:
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        operator = _auth(ingest_server.operator_key)
        tenant = (
            await client.put(
                "/v1/admin/tenants/slow-tenant", json={"name": "Slow", "rate_limit_per_second": 100}, headers=operator
            )
        ).json()
        assert tenant["rate_limit_per_second"] == 100
        key = (
            await client.post("/v1/admin/keys", json={"tenant_id": "slow-tenant", "scope": "ingest"}, headers=operator)
        ).json()["key"]
        too_big = await client.post(
            "/v1/events", json=[message("slow-tenant", NOW) for _ in range(201)], headers=_auth(key)
        )
        first = await client.post(
            "/v1/events", json=[message("slow-tenant", NOW) for _ in range(200)], headers=_auth(key)
        )
        second = await client.post(
            "/v1/events", json=[message("slow-tenant", NOW) for _ in range(150)], headers=_auth(key)
        )
    assert too_big.status_code == 413  # burst = 100/s x 2 s
    assert (
        too_big.json()["error"]
        == "201 events exceed tenant 'slow-tenant''s burst of 200 events (100/s); send smaller batches"
    )
    assert first.status_code == 200
    assert second.status_code == 429
    assert int(second.headers["retry-after"]) >= 1
    assert "over its rate limit of 100 events/s" in second.json()["error"]


async def test_metrics_count_accepted_and_rejected_by_reason(ingest_server: IngestServer) -> None:
    t = ingest_server.tenant
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        await client.post("/v1/events", json=[message(t.tenant_id, NOW)] * 2, headers=_auth(t.ingest))
        await client.post(
            "/v1/events",
            json=[message(t.tenant_id, NOW), message(t.tenant_id, NOW, role="robot")],
            headers=_auth(t.ingest),
        )
        text = (await client.get("/metrics")).text
    assert 'tally_ingest_events_accepted_total{source="events"} 3.0' in text
    assert 'tally_ingest_events_rejected_total{reason="invalid"} 1.0' in text
    assert 'tally_ingest_requests_total{route="/v1/events",status="207"} 1.0' in text
    assert 'tally_ingest_request_seconds_count{route="/v1/events"} 2.0' in text


async def test_events_land_on_the_partition_a_plain_keyed_send_would_choose(ingest_server: IngestServer) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    t = ingest_server.tenant
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        response = await client.post(
            "/v1/events", json=[message(t.tenant_id, NOW) for _ in range(50)], headers=_auth(t.ingest)
        )
    assert response.status_code == 200
    producer = AIOKafkaProducer(bootstrap_servers=ingest_server.bootstrap)
    await producer.start()
    try:
        meta = await producer.send_and_wait(ingest_server.events_topic, b"{}", key=t.tenant_id.encode())
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        ingest_server.events_topic, bootstrap_servers=ingest_server.bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        got: list[tuple[int, int]] = []
        for _ in range(20):
            for tp, msgs in (await consumer.getmany(timeout_ms=300)).items():
                got += [(tp.partition, m.offset) for m in msgs]
            if len(got) >= 2:
                break
    finally:
        await consumer.stop()
    assert len(got) == 2  # the request's 50 events in one batch record, then the plain send
    assert {partition for partition, _ in got} == {meta.partition}  # one partition per tenant, the keyed one
    assert sorted(offset for _, offset in got) == [0, 1]
