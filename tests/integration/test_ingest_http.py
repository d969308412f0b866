"""POST /v1/events against the real broker: every 2xx means the events are in Kafka."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from deploy.topics import ensure_topics
from ingest.app import create_app
from ingest.publisher import KafkaPublisher
from ingest.settings import IngestSettings
from tests.factories import llm_call, message

pytestmark = pytest.mark.integration
TS = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)


@pytest.fixture
async def ingest(kafka_bootstrap: str, unique: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    topic = f"{unique}.raw"
    await ensure_topics(kafka_bootstrap, [topic], partitions=6)
    settings = IngestSettings(kafka_bootstrap=kafka_bootstrap, events_topic=topic, max_batch_events=10)
    publisher = KafkaPublisher(kafka_bootstrap, topic, timeout=10)
    await publisher.start()
    app = create_app(settings, publisher)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client:
            yield client, topic
    finally:
        await publisher.stop()


async def _records(bootstrap: str, topic: str, want: int) -> list[tuple[bytes, dict]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    out: list[tuple[bytes, dict]] = []
    try:
        for _ in range(20):
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                out += [(m.key, orjson.loads(m.value)) for m in msgs]
            if len(out) >= want:
                break
    finally:
        await consumer.stop()
    return out


async def test_accepted_events_are_in_kafka_keyed_by_tenant(kafka_bootstrap: str, ingest) -> None:
    client, topic = ingest
    events = [llm_call("acme", TS), message("acme", TS), llm_call("globex", TS)]
    response = await client.post("/v1/events", json=events)
    assert response.status_code == 200
    assert response.json() == {"accepted": 3, "rejected": 0, "errors": []}
    records = await _records(kafka_bootstrap, topic, 3)
    assert sorted((k, v["event_id"]) for k, v in records) == sorted(
        (e["tenant_id"].encode(), e["event_id"]) for e in events
    )


async def test_partly_invalid_batch_is_a_207_naming_each_bad_event(kafka_bootstrap: str, ingest) -> None:
    client, topic = ingest
    good, bad = llm_call("acme", TS), llm_call("acme", TS, latency_ms=-1)
    body = b"\n".join(orjson.dumps(e) for e in (good, bad))
    response = await client.post(
        "/v1/events",
        content=gzip.compress(body),
        headers={"content-type": "application/x-ndjson", "content-encoding": "gzip"},
    )
    assert response.status_code == 207
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (1, 1)
    assert result["errors"][0]["index"] == 1 and result["errors"][0]["event_id"] == bad["event_id"]
    assert result["errors"][0]["error"].startswith("llm_call.latency_ms: Input should be greater than or equal to 0")
    records = await _records(kafka_bootstrap, topic, 1)
    assert [v["event_id"] for _, v in records] == [good["event_id"]]


@pytest.mark.parametrize(
    ("body", "status", "message_part"),
    [
        (b'[{"event_id": ', 400, "malformed JSON"),
        (orjson.dumps([llm_call("acme", TS)] * 11), 413, "at most 10 per request"),
    ],
)
async def test_unreadable_or_oversized_bodies_are_refused(ingest, body: bytes, status: int, message_part: str) -> None:
    client, _ = ingest
    response = await client.post("/v1/events", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert message_part in response.json()["error"]
