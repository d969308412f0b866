"""The real worker (`tallystream-combined`) on a benchmark topic: P (drain until the views count every
event) and freshness (event produced -> visible in the views' rollups) under a steady load."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from common import BIN, UNLIMITED_VIEWS, cpu_seconds, free_port, rss_mb, say
from workload import COMPRESSION, event, request

from schemas.records import batch_headers


class Worker:
    """`tallystream-combined` on the benchmark topic, with an operator key for the views API."""

    def __init__(self, bootstrap: str, prefix: str, topic: str, tmp: Path, name: str) -> None:
        self.port, self.tmp, self.name = free_port(), tmp, name
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ, "TALLY_KAFKA_BOOTSTRAP": bootstrap, "TALLY_EVENTS_TOPIC": topic,
            "TALLY_DLQ_TOPIC": f"{prefix}.dlq", "TALLY_DIRECTORY_TOPIC": f"{prefix}.tenants",
            "TALLY_ALERT_RULES_TOPIC": f"{prefix}.alert-rules", "TALLY_ALERT_STATE_TOPIC": f"{prefix}.alert-state",
            "TALLY_ALERT_DELIVERY_GROUP": f"{prefix}-{name}-delivery", "TALLY_WORKER_GROUP": f"{prefix}-{name}",
            "TALLY_CHDB_PATH": str(tmp / f"chdb-{name}"), "TALLY_DATA_DIR": str(tmp / f"faust-{name}"),
            "TALLY_VIEWS_PORT": str(self.port), "TALLY_DATABASE": "bench",
            **UNLIMITED_VIEWS,  # the benchmark times the queries, not the per-key rate limit
        }  # fmt: skip
        self.env.pop("CLICKHOUSE_URL", None)
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with open(self.tmp / f"{self.name}.log", "wb") as log:
            self.proc = subprocess.Popen([str(BIN / "tallystream-combined")], env=self.env, stdout=log, stderr=log)
        async with httpx.AsyncClient() as client:
            for _ in range(600):
                if self.proc.poll() is not None:
                    raise SystemExit((self.tmp / f"{self.name}.log").read_text()[-3000:])
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)

    async def stored(self, client: httpx.AsyncClient) -> float:
        for line in (await client.get(f"{self.url}/metrics")).text.splitlines():
            if line.startswith("tally_worker_events_stored_total "):
                return float(line.split()[-1])
        return 0.0

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=60)


async def pipeline(worker: Worker, n: int, tenants: int, key: str, label: str = "P") -> dict[str, float]:
    """P: from the worker's start to every event counted by the views API."""
    await worker.start()
    assert worker.proc is not None
    pid = worker.proc.pid
    cpu0, start = cpu_seconds(pid), time.perf_counter()
    async with httpx.AsyncClient(timeout=60, headers={"authorization": f"Bearer {key}"}) as client:
        last = 0.0
        while (stored := await worker.stored(client)) < n:
            if time.perf_counter() - last > 10:
                say(f"  {label}: {stored:,.0f}/{n:,} stored")
                last = time.perf_counter()
            await asyncio.sleep(0.25)
        counted = 0
        for t in range(tenants):  # every event must be in the rollups the views read
            path = f"{worker.url}/api/dashboard/t{t:04d}/series"
            body = (await client.get(path, params={"type": "llm_call", "period": "24h"})).json()
            counted += sum(p["values"]["events"] for p in body["points"])
            body = (await client.get(path, params={"type": "message", "period": "24h"})).json()
            counted += sum(p["values"]["events"] for p in body["points"])
        wall = time.perf_counter() - start
    assert counted == n, f"the views count {counted} events of {n}"
    cpu = cpu_seconds(pid) - cpu0
    return {"rate": n / wall, "per_cpu_s": n / cpu, "rss_mb": rss_mb(pid, peak=True), "wall": wall}


async def freshness(
    worker: Worker, bootstrap: str, topic: str, rate: float, seconds: float, key: str, batched: bool = False
) -> list[float]:
    """Produce at `rate` ev/s for `seconds`; every 0.2 s a marker LLM call of tenant `fresh` with a feature
    of its own; its latency = from Kafka's ack to its feature being in the views' rollup series.

    `batched`: the load and the markers are written as ingest writes them: each request one batch record
    of one tenant's 100-500 events (a marker: a request of one event), zstd; else single-event records."""
    rng = random.Random(11)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5 if batched else 2,
        compression_type=COMPRESSION if batched else None, max_batch_size=1024 * 1024,
    )  # fmt: skip
    await producer.start()
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = asyncio.Event()

    async def load() -> None:
        i, t0 = 0, time.perf_counter()
        while not stop.is_set():
            due = int((time.perf_counter() - t0) * rate)
            while i < due:
                if batched:
                    k, v, headers = request(rng, i, 200)
                    await producer.send(topic, v, key=k, headers=headers)
                    i += v.count(b"\n") + 1
                else:
                    k, v = event(rng, datetime.now(UTC), i, 200)
                    await producer.send(topic, v, key=k)
                    i += 1
            await asyncio.sleep(0.01)

    async def markers() -> None:
        while not stop.is_set():
            feature = f"m{uuid.uuid4().hex[:10]}"
            doc = {
                "event_id": str(uuid.uuid4()), "type": "llm_call", "tenant_id": "fresh",
                "timestamp": datetime.now(UTC).isoformat(), "provider": "openai", "model": "gpt-4o-mini",
                "feature": feature, "input_tokens": 10, "output_tokens": 1, "latency_ms": 100,
            }  # fmt: skip
            headers = batch_headers() if batched else []
            await producer.send_and_wait(topic, orjson.dumps(doc), key=b"fresh", headers=headers)
            sent[feature] = time.perf_counter()
            await asyncio.sleep(0.2)

    async def watch(client: httpx.AsyncClient) -> None:
        params = {"type": "llm_call", "period": "1h", "group_by": "feature", "measures": "events"}
        while not stop.is_set() or len(seen) < len(sent):
            body = (await client.get(f"{worker.url}/api/dashboard/fresh/series", params=params)).json()
            now = time.perf_counter()
            for point in body["points"]:
                feature = point["group"]["feature"]
                if feature in sent and feature not in seen:
                    seen[feature] = now
            await asyncio.sleep(0.1)  # every poll is a query on the worker's store: keep the probe light

    async with httpx.AsyncClient(timeout=30, headers={"authorization": f"Bearer {key}"}) as client:
        tasks = [asyncio.create_task(f) for f in (load(), markers(), watch(client))]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    await producer.stop()
    return [(seen[f] - sent[f]) * 1000 for f in sent if f in seen]
