"""The benchmark's events and the two ways the events topic holds them.

- single-event records: one event per record, keyed by its tenant, as direct producers write them;
- batch records formed the way ingest forms them (schemas.records): one tenant's request of 100-500
  events per record, its events as NDJSON, the `tally-format` header, zstd-compressed by Kafka.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import AIOKafkaProducer
from common import say

from deploy.chaos_workload import TopicRecord, topic_records
from schemas.records import batch_headers

MODELS = [
    ("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("openai", "gpt-4.1-mini"), ("openai", "o3-mini"),
    ("anthropic", "claude-3-5-haiku-latest"), ("anthropic", "claude-sonnet-4-0"), ("groq", "llama-3.1-8b-instant"),
    ("google", "gemini-2.0-flash"),
]  # fmt: skip
BATCH_EVENTS = (100, 500)
"""Events per batch record: one ingest request's worth (schemas.records)."""
COMPRESSION = "zstd"
"""How ingest's producer compresses the topic's batches (ingest/publisher.py)."""

Pair = tuple[bytes, bytes]
"""(key, value) of one event."""


def event(rng: random.Random, now: datetime, i: int, tenants: int, tenant: str | None = None) -> Pair:
    """A realistic event: 4 in 5 are LLM calls, the rest messages, over `tenants` tenants (or of `tenant`)
    and 8 models."""
    tenant = tenant or f"t{i % tenants:04d}"
    base = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "tenant_id": tenant,
        "timestamp": (now - timedelta(seconds=rng.randint(0, 1800))).isoformat(),
        "session_id": f"s-{rng.randrange(200_000)}",
        "end_user_id": f"u-{rng.randrange(20_000)}",
        "domain": f"shop{i % 3}.example.com",
    }
    if i % 5 == 4:
        doc = {
            **base,
            "type": "message",
            "role": "user" if i % 2 else "assistant",
            "content_chars": rng.randint(5, 900),
        }
    else:
        provider, model = MODELS[i % len(MODELS)]
        doc = {
            **base, "type": "llm_call", "provider": provider, "model": model, "feature": rng.choice(["chat", "search"]),
            "input_tokens": rng.randint(100, 6000), "output_tokens": rng.randint(10, 900),
            "cached_input_tokens": rng.choice([0, 0, 64]), "latency_ms": rng.randint(80, 4000),
            "status": "error" if rng.random() < 0.03 else "ok",
        }  # fmt: skip
    return tenant.encode(), orjson.dumps(doc)


def request(rng: random.Random, i: int, tenants: int) -> TopicRecord:
    """One ingest request's batch record: a random tenant's 100-500 events (event numbers from `i`)."""
    tenant, now = f"t{rng.randrange(tenants):04d}", datetime.now(UTC)
    values = [event(rng, now, i + j, tenants, tenant)[1] for j in range(rng.randint(*BATCH_EVENTS))]
    return tenant.encode(), b"\n".join(values), batch_headers()


def batch_records(pairs: list[Pair]) -> list[TopicRecord]:
    """The same events as batch records formed the way ingest forms them: per tenant, in order."""
    return topic_records(pairs, seed=7, single_share=0.0, batch_events=BATCH_EVENTS)


async def produce(bootstrap: str, topic: str, n: int, tenants: int) -> list[Pair]:
    """`n` events to `topic` as single-event records; returns them."""
    rng, now = random.Random(7), datetime.now(UTC)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    pairs: list[Pair] = []
    try:
        pending = []
        for i in range(n):
            key, value = event(rng, now, i, tenants)
            pairs.append((key, value))
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
                if (i + 1) % 200_000 == 0:
                    say(f"  produced {i + 1:,}/{n:,}")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return pairs


async def produce_records(
    bootstrap: str, topic: str, records: list[TopicRecord], compression: str | None = COMPRESSION
) -> None:
    """Topic records (key, value, headers) to `topic`, compressed as ingest's producer does by default."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1024 * 1024,
        compression_type=compression,
    )  # fmt: skip
    await producer.start()
    try:
        pending = []
        for key, value, headers in records:
            pending.append(await producer.send(topic, value, key=key, headers=headers))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
