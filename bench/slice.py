"""Throughput of the foundation slice, next to the raw consume baseline, in one run.

    python bench/slice.py --events 200000

Pre-produces N realistic events to a fresh topic on the local broker ($TALLY_KAFKA_BOOTSTRAP),
then measures (B1) a raw aiokafka getmany() drain of the topic without decoding, and (P) the real
`tallystream-combined` process draining the same topic into chDB until every event is queryable
through the views API. Prints events/s and the ratio P/B1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy.topics import ensure_all_topics
from tenancy.kafka_log import DirectoryWriter
from tenancy.replication import for_local_cluster, replication_env

MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("groq", "llama-3.1-8b-instant"),
]


def _event(rng: random.Random, now: datetime, i: int) -> tuple[bytes, bytes]:
    tenant = f"tenant-{i % 50}"
    provider, model = MODELS[i % len(MODELS)]
    ev = {
        "event_id": str(uuid.uuid4()),
        "type": "llm_call",
        "tenant_id": tenant,
        "timestamp": (now - timedelta(seconds=rng.randint(0, 3000))).isoformat(),
        "session_id": f"s-{rng.randrange(100000)}",
        "provider": provider,
        "model": model,
        "input_tokens": rng.randint(100, 5000),
        "output_tokens": rng.randint(10, 800),
        "cached_input_tokens": 0,
        "latency_ms": rng.randint(100, 3000),
        "status": "ok",
        "feature": "chat",
        "end_user_id": f"u-{rng.randrange(5000)}",
        "domain": "shop.example.com",
    }
    return tenant.encode(), orjson.dumps(ev)


async def produce(bootstrap: str, topic: str, n: int) -> None:
    rng, now = random.Random(1), datetime.now(UTC)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        futures = []
        for i in range(n):
            key, value = _event(rng, now, i)
            futures.append(await producer.send(topic, value, key=key))
            if len(futures) >= 20000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def raw_consume(bootstrap: str, topic: str, n: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    seen, start = 0, time.perf_counter()
    try:
        while seen < n:
            for msgs in (await consumer.getmany(timeout_ms=1000, max_records=10000)).values():
                seen += len(msgs)
    finally:
        elapsed = time.perf_counter() - start
        await consumer.stop()
    return n / elapsed


def _stored(response: httpx.Response) -> float:
    for line in response.text.splitlines():
        if line.startswith("tally_worker_events_stored_total "):
            return float(line.split()[-1])
    return 0.0


async def operator_key(bootstrap: str, directory_topic: str) -> str:
    writer = DirectoryWriter(bootstrap, directory_topic)
    await writer.start()
    try:
        return (await writer.create_key(None, "admin", "bench"))[0]
    finally:
        await writer.stop()


async def pipeline(bootstrap: str, topic: str, n: int, tmp: Path) -> float:
    port = 18000 + random.randrange(1000)
    key = await operator_key(bootstrap, f"{topic}.tenants")
    env = {
        **os.environ,
        "TALLY_KAFKA_BOOTSTRAP": bootstrap,
        "TALLY_EVENTS_TOPIC": topic,
        "TALLY_DLQ_TOPIC": f"{topic}.dlq",
        "TALLY_DIRECTORY_TOPIC": f"{topic}.tenants",
        "TALLY_WORKER_GROUP": f"bench-{uuid.uuid4().hex[:6]}",
        "TALLY_CHDB_PATH": str(tmp / "chdb"),
        "TALLY_DATA_DIR": str(tmp / "faust"),
        "TALLY_VIEWS_PORT": str(port),
        "TALLY_DATABASE": "bench",
    }
    exe = str(Path(sys.executable).with_name("tallystream-combined"))
    with open(tmp / "combined.log", "wb") as log:
        proc = subprocess.Popen([exe], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            headers = {"authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, headers=headers) as client:
                while True:
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        await asyncio.sleep(0.1)
                start = time.perf_counter()
                # cheap progress from /metrics (no warehouse queries competing with the inserts) ...
                while _stored(await client.get("/metrics")) < n:
                    await asyncio.sleep(0.25)
                # ... then the totals the views serve must account for every event
                total = 0
                for t in range(50):
                    total += (await client.get(f"/api/dashboard/tenant-{t}/costs?days=2")).json()["total_requests"]
                assert total == n, f"views count {total} of {n}"
                return n / (time.perf_counter() - start)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()
    bootstrap = os.environ.get("TALLY_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    for name, value in replication_env(for_local_cluster(1)).items():  # `make run`'s single broker, unless set
        os.environ.setdefault(name, value)
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    await ensure_all_topics(bootstrap, topic, f"{topic}.dlq", f"{topic}.tenants", partitions=6)
    t0 = time.perf_counter()
    await produce(bootstrap, topic, args.events)
    print(f"produced {args.events} events in {time.perf_counter() - t0:.1f}s", flush=True)
    b1 = await raw_consume(bootstrap, topic, args.events)
    print(f"B1 raw consume (aiokafka getmany, no decoding): {b1:,.0f} msgs/s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        p = await pipeline(bootstrap, topic, args.events, Path(tmp))
    print(f"P  pipeline (worker to queryable in chDB):      {p:,.0f} ev/s")
    print(f"P/B1 = {p / b1:.3f}   (cpus: {os.cpu_count()})")


if __name__ == "__main__":
    asyncio.run(main())
