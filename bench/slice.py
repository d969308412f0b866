"""Throughput of the foundation slice, next to the raw consume baseline, in one run.

    python bench/slice.py --events 200000
    python bench/slice.py --events 100000 --batched   # single-event and batch records, same events

Pre-produces N realistic events to a fresh topic on the local broker ($TALLY_KAFKA_BOOTSTRAP; without
it, a broker of its own), then measures (B1) a raw aiokafka getmany() drain of the topic without
decoding, and (P) the real `tallystream-combined` process draining the same topic into chDB until
every event is queryable through the views API. Prints events/s and the ratio P/B1.

With `--batched`, the same events also go to a second topic as batch records formed the way ingest
forms them (schemas.records: one tenant's requests of 100-500 events, zstd); B1 there counts events
(records cut into their events, no validation), and each topic gets its own B1 and P in the same run.
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
from aiokafka import AIOKafkaConsumer
from workload import produce_records

from deploy.chaos_workload import TopicRecord, topic_records
from deploy.topics import ensure_all_topics
from schemas.records import format_of, split_events
from schemas.tenancy import TenantRecord
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


def events(n: int) -> list[tuple[bytes, bytes]]:
    rng, now = random.Random(1), datetime.now(UTC)
    return [_event(rng, now, i) for i in range(n)]


async def raw_consume(bootstrap: str, topic: str, n: int) -> float:
    """Events/s of a raw drain: records cut into their events (schemas.records), no decoding."""
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
                seen += sum(len(split_events(format_of(m.headers), m.value)) for m in msgs)
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
    """An operator key, once the 50 tenants exist in the directory (the views answer 404 for unknown ones)."""
    writer = DirectoryWriter(bootstrap, directory_topic)
    await writer.start()
    try:
        now = datetime.now(UTC)
        for t in range(50):
            await writer.put_tenant(TenantRecord(tenant_id=f"tenant-{t}", name=f"tenant-{t}", created_at=now))
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
        "TALLY_VIEWS_KEY_REQUESTS_PER_SECOND": "1000000",  # the views' rate limits lifted (bench/common.py)
        "TALLY_VIEWS_TENANT_REQUESTS_PER_SECOND": "1000000",
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
                    answer = (await client.get(f"/api/dashboard/tenant-{t}/costs?days=2")).json()
                    assert "total_requests" in answer, answer
                    total += answer["total_requests"]
                assert total == n, f"views count {total} of {n}"
                return n / (time.perf_counter() - start)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


async def measure(bootstrap: str, name: str, records: list[TopicRecord], n: int, compression: str | None) -> None:
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    await ensure_all_topics(bootstrap, topic, f"{topic}.dlq", f"{topic}.tenants", partitions=6)
    t0 = time.perf_counter()
    await produce_records(bootstrap, topic, records, compression)
    print(f"[{name}] produced {n} events in {len(records)} records in {time.perf_counter() - t0:.1f}s", flush=True)
    b1 = await raw_consume(bootstrap, topic, n)
    print(f"[{name}] B1 raw consume (records cut into events, no decoding): {b1:,.0f} ev/s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        p = await pipeline(bootstrap, topic, n, Path(tmp))
    print(f"[{name}] P  pipeline (worker to queryable in chDB):           {p:,.0f} ev/s", flush=True)
    print(f"[{name}] P/B1 = {p / b1:.3f}   (cpus: {os.cpu_count()})", flush=True)


async def run(bootstrap: str, n: int, batched: bool, single: bool = True) -> None:
    for name, value in replication_env(for_local_cluster(1)).items():  # `make run`'s single broker, unless set
        os.environ.setdefault(name, value)
    produced = events(n)
    if single:
        await measure(bootstrap, "single-event records", [(k, v, []) for k, v in produced], n, None)
    if batched:  # the same events, as ingest publishes them
        records = topic_records(produced, seed=1, single_share=0.0, batch_events=(100, 500))
        await measure(bootstrap, "batch records", records, n, "zstd")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batched", action="store_true", help="also a topic of batch records formed like ingest's")
    parser.add_argument("--batched-only", action="store_true", help="only the topic of batch records")
    args = parser.parse_args()
    args.batched = args.batched or args.batched_only
    bootstrap = os.environ.get("TALLY_KAFKA_BOOTSTRAP")
    if bootstrap:
        asyncio.run(run(bootstrap, args.events, args.batched, not args.batched_only))
        return
    from common import broker

    with tempfile.TemporaryDirectory(prefix="tally-slice-") as tmp, broker(Path(tmp) / "var") as (started, _):
        asyncio.run(run(started, args.events, args.batched, not args.batched_only))


if __name__ == "__main__":
    main()
