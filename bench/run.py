"""`make bench`: every benchmark in one run, next to its raw baseline, with a table, JSON and a chart.

    .venv/bin/python bench/run.py            # full: 1M events, queries at 1M and 10M (~25 min)
    .venv/bin/python bench/run.py --quick    # small sizes, a few minutes; CI runs it to keep it working

Starts its own broker, pre-produces realistic events (LLM calls and messages over many tenants and
models) to one topic, and measures on the same bytes:
  B1  raw consume: aiokafka getmany() of the topic, no decoding (msgs/s);
  B2  raw compute: B1 plus decode, validate, price and aggregate into windows in memory (ev/s);
  B3  raw sink: bulk insert of the same priced rows and their rollup rows into chDB at the
      pipeline's batch size (rows/s);
  P   the real worker (`tallystream-combined`) draining the topic until every event is counted by
      the views API: sustained ev/s, events per CPU-second, peak RSS; ratios P/B1, P/B2, B3/P;
  freshness: producers at 25 %, 50 %, 80 % of P; event produced -> visible in the rollups through
      the views API, p50/p95/p99;
  ingest: HTTP batches of 100 and 500 through the ingest service vs raw aiokafka produce
      (bench/ingest.py);
  queries: p50/p95 of the dashboard endpoints at 1M and 10M stored events (bench/views.py);
  memory: a fresh worker's peak RSS after 10k tenants x 20 models went through its windows (the
      worker alone: the embedded engine runs in its own `tallystream-store` process, measured apart).
Writes bench/results/latest.json and a timestamped copy (every figure with its unit, the CPU count
and the git commit) and bench/results/latest.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from common import BIN, REPO, UNLIMITED_VIEWS, broker, cpu_seconds, free_port, git_commit, pct, rss_mb

from deploy.topics import ensure_all_topics
from processors.pricing import PriceBook
from processors.rows import Record, build_batch
from processors.windows import UTC_ZONE, Agg, keys_of, rollup_row
from schemas.ddl import render_ddl
from schemas.rollups import render_rollup_ddl
from schemas.tenancy import TenantRecord
from storage.chdb_store import ChdbWarehouse
from storage.remote import RemoteWarehouse
from storage.store_token import default_token_file
from tenancy.kafka_log import DirectoryWriter

MODELS = [
    ("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("openai", "gpt-4.1-mini"), ("openai", "o3-mini"),
    ("anthropic", "claude-3-5-haiku-latest"), ("anthropic", "claude-sonnet-4-0"), ("groq", "llama-3.1-8b-instant"),
    ("google", "gemini-2.0-flash"),
]  # fmt: skip
BATCH = 5000
FIGURES: dict[str, dict[str, Any]] = {}


def figure(name: str, value: float, unit: str, **extra: Any) -> None:
    FIGURES[name] = {"value": round(value, 3), "unit": unit, "cpus": os.cpu_count(), "commit": COMMIT, **extra}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def event(rng: random.Random, now: datetime, i: int, tenants: int) -> tuple[bytes, bytes]:
    """A realistic event: 4 in 5 are LLM calls, the rest messages, over `tenants` tenants and 8 models."""
    tenant = f"t{i % tenants:04d}"
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


async def produce(bootstrap: str, topic: str, n: int, tenants: int) -> list[bytes]:
    rng, now = random.Random(7), datetime.now(UTC)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    values: list[bytes] = []
    try:
        pending = []
        for i in range(n):
            key, value = event(rng, now, i, tenants)
            values.append(value)
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
                if (i + 1) % 200_000 == 0:
                    say(f"  produced {i + 1:,}/{n:,}")
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return values


async def drain(bootstrap: str, topic: str, n: int, handle: Any = None) -> float:
    """Consume `n` records of `topic` (from the start) in getmany() batches; `handle(records)` per batch."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
        group_id=f"bench-{uuid.uuid4().hex[:6]}", max_partition_fetch_bytes=4 << 20,
    )  # fmt: skip
    await consumer.start()
    seen, start = 0, time.perf_counter()
    try:
        while seen < n:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=BATCH)).values():
                seen += len(records)
                if handle is not None:
                    handle(records)
    finally:
        elapsed = time.perf_counter() - start
        await consumer.stop()
    return n / elapsed


class Compute:
    """B2's work: decode, validate, price (the worker's build_batch) and aggregate into windows."""

    def __init__(self) -> None:
        self.book, self.now = PriceBook(), datetime.now(UTC)
        self.windows: dict[Any, Agg] = defaultdict(Agg)
        self.rows: list[dict[str, Any]] = []
        self.keep = True

    def __call__(self, records: list[Any]) -> None:
        batch = build_batch(
            [Record(r.key, r.value, r.partition, r.offset) for r in records], self.book, self.now,
            retention=timedelta(days=30),
        )  # fmt: skip
        for row, ts in zip(batch.rows, batch.times, strict=True):
            for key in keys_of(row, ts, UTC_ZONE):
                self.windows[key].add_row(row)
        if self.keep:
            self.rows.extend(batch.rows)


async def sink(rows: list[dict[str, Any]], windows: dict[Any, Agg], tmp: Path) -> tuple[float, int]:
    """B3: the priced rows and their rollup rows inserted into chDB in pipeline-sized batches."""
    wh = ChdbWarehouse(tmp / "sink")
    retention = {"minute": 7, "hour": 400, "day": 1830}
    for statement in render_ddl("sink") + render_rollup_ddl("sink", retention):
        await wh.execute(statement)
    rollups = [rollup_row(k, agg, 0, 0, 1) for k, agg in windows.items()]
    start = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        await wh.insert("sink.events", rows[i : i + BATCH])
    for i in range(0, len(rollups), BATCH):
        await wh.insert("sink.rollups", rollups[i : i + BATCH])
    elapsed = time.perf_counter() - start
    await wh.close()
    return (len(rows) + len(rollups)) / elapsed, len(rollups)


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


async def pipeline(worker: Worker, n: int, tenants: int, key: str) -> dict[str, float]:
    """P: from the worker's start to every event counted by the views API."""
    await worker.start()
    assert worker.proc is not None
    pid = worker.proc.pid
    cpu0, start = cpu_seconds(pid), time.perf_counter()
    async with httpx.AsyncClient(timeout=60, headers={"authorization": f"Bearer {key}"}) as client:
        last = 0.0
        while (stored := await worker.stored(client)) < n:
            if time.perf_counter() - last > 10:
                say(f"  P: {stored:,.0f}/{n:,} stored")
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


async def freshness(worker: Worker, bootstrap: str, topic: str, rate: float, seconds: float, key: str) -> list[float]:
    """Produce at `rate` ev/s for `seconds`; every 0.2 s a marker LLM call of tenant `fresh` with a feature
    of its own; its latency = from Kafka's ack to its feature being in the views' rollup series."""
    rng, producer = random.Random(11), AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = asyncio.Event()

    async def load() -> None:
        i, t0 = 0, time.perf_counter()
        while not stop.is_set():
            due = int((time.perf_counter() - t0) * rate)
            while i < due:
                k, v = event(rng, datetime.now(UTC), i, 200)
                await producer.send(topic, v, key=k)
                i += 1
            await asyncio.sleep(0.01)

    async def markers() -> None:
        m = 0
        while not stop.is_set():
            feature = f"m{uuid.uuid4().hex[:10]}"
            doc = {
                "event_id": str(uuid.uuid4()), "type": "llm_call", "tenant_id": "fresh",
                "timestamp": datetime.now(UTC).isoformat(), "provider": "openai", "model": "gpt-4o-mini",
                "feature": feature, "input_tokens": 10, "output_tokens": 1, "latency_ms": 100,
            }  # fmt: skip
            await producer.send_and_wait(topic, orjson.dumps(doc), key=b"fresh")
            sent[feature] = time.perf_counter()
            m += 1
            await asyncio.sleep(0.2)

    async def watch(client: httpx.AsyncClient) -> None:
        params = {"type": "llm_call", "period": "1h", "group_by": "d3", "measures": "events"}
        while not stop.is_set() or len(seen) < len(sent):
            body = (await client.get(f"{worker.url}/api/dashboard/fresh/series", params=params)).json()
            now = time.perf_counter()
            for point in body["points"]:
                feature = point["group"]["d3"]
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


async def wait_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit(f"{url}: the process exited")
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


async def subprocess_json(args: list[str], out: Path) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(sys.executable, *args, "--json", str(out), cwd=REPO)
    if await proc.wait() != 0:
        raise SystemExit(f"{' '.join(args)} failed")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


async def run(args: argparse.Namespace, bootstrap: str, tmp: Path) -> None:
    n, tenants = args.events, args.tenants
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    topic = f"{prefix}.raw"
    await ensure_all_topics(bootstrap, topic, f"{prefix}.dlq", f"{prefix}.tenants", partitions=6)
    directory = DirectoryWriter(bootstrap, f"{prefix}.tenants")
    await directory.start()
    now = datetime.now(UTC)
    for tenant in ["fresh", *(f"t{t:04d}" for t in range(tenants))]:
        await directory.put_tenant(TenantRecord(tenant_id=tenant, name=tenant, created_at=now))
    key = (await directory.create_key(None, "admin", "bench"))[0]
    await directory.stop()

    say(f"producing {n:,} events over {tenants} tenants and {len(MODELS)} models")
    values = await produce(bootstrap, topic, n, tenants)
    figure("event_size", sum(map(len, values)) / n, "bytes")
    del values
    b1 = await drain(bootstrap, topic, n)
    figure("B1_raw_consume", b1, "msgs/s")
    say(f"B1 raw consume: {b1:,.0f} msgs/s")
    compute = Compute()
    b2 = await drain(bootstrap, topic, n, compute)
    figure("B2_raw_compute", b2, "ev/s")
    say(f"B2 raw compute (decode, validate, price, aggregate): {b2:,.0f} ev/s, {len(compute.windows):,} window keys")
    b3, rollup_rows = await sink(compute.rows, compute.windows, tmp)
    figure("B3_raw_sink", b3, "rows/s", rows=len(compute.rows) + rollup_rows, batch=BATCH)
    say(f"B3 raw sink: {b3:,.0f} rows/s ({len(compute.rows):,} events + {rollup_rows:,} rollup rows)")
    del compute

    worker = Worker(bootstrap, prefix, topic, tmp, "p")
    try:
        say("P: the worker drains the topic")
        p = await pipeline(worker, n, tenants, key)
        figure("P_pipeline", p["rate"], "ev/s", wall_s=round(p["wall"], 1))
        figure("P_events_per_cpu_second", p["per_cpu_s"], "ev/cpu-s")
        figure("P_worker_peak_rss", p["rss_mb"], "MB")
        figure("ratio_P_B1", p["rate"] / b1, "ratio")
        figure("ratio_P_B2", p["rate"] / b2, "ratio")
        figure("ratio_B3_P", b3 / p["rate"], "ratio")
        say(f"P {p['rate']:,.0f} ev/s, {p['per_cpu_s']:,.0f} ev/CPU-s, RSS {p['rss_mb']:.0f} MB")
        for share in (0.25, 0.5, 0.8):
            latencies = await freshness(worker, bootstrap, topic, share * p["rate"], args.fresh_seconds, key)
            name = f"freshness_{int(share * 100)}pct"
            for q in (0.5, 0.95, 0.99):
                figure(f"{name}_p{int(q * 100)}", pct(latencies, q), "ms", samples=len(latencies))
            say(f"freshness at {share:.0%} of P: p50 {pct(latencies, 0.5):.0f} ms, p95 {pct(latencies, 0.95):.0f} ms")
    finally:
        worker.stop()

    say("memory: a fresh worker, every one of tenants x 20 models once")
    mem_topic = f"{prefix}.memory"
    await ensure_all_topics(bootstrap, mem_topic, f"{prefix}.dlq", f"{prefix}.tenants", partitions=6)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    stamp = datetime.now(UTC).isoformat()
    for t in range(args.memory_tenants):
        for m in range(20):
            doc = {
                "event_id": str(uuid.uuid4()), "type": "llm_call", "tenant_id": f"mem{t:05d}", "timestamp": stamp,
                "provider": "openai", "model": f"model-{m}", "input_tokens": 100, "output_tokens": 10,
                "latency_ms": 200,
            }  # fmt: skip
            await producer.send(mem_topic, orjson.dumps(doc), key=f"mem{t:05d}".encode())
    await producer.stop()
    # the worker alone (the engine in its own tallystream-store process), so its RSS is the worker's
    store_port = free_port()
    env = {
        **os.environ, "TALLY_KAFKA_BOOTSTRAP": bootstrap, "TALLY_EVENTS_TOPIC": mem_topic,
        "TALLY_DLQ_TOPIC": f"{prefix}.dlq", "TALLY_DIRECTORY_TOPIC": f"{prefix}.tenants",
        "TALLY_ALERT_RULES_TOPIC": f"{prefix}.alert-rules", "TALLY_ALERT_STATE_TOPIC": f"{prefix}.alert-state",
        "TALLY_ALERT_DELIVERY_GROUP": f"{prefix}-mem-delivery", "TALLY_WORKER_GROUP": f"{prefix}-mem",
        "TALLY_CHDB_PATH": str(tmp / "chdb-mem"), "TALLY_DATA_DIR": str(tmp / "faust-mem"), "TALLY_DATABASE": "mem",
        "TALLY_STORE_PORT": str(store_port), "TALLY_STORE_URL": f"http://127.0.0.1:{store_port}",
    }  # fmt: skip
    env.pop("CLICKHOUSE_URL", None)
    procs = []
    try:
        for role in ("store", "worker"):
            with open(tmp / f"mem-{role}.log", "wb") as log:
                procs.append(subprocess.Popen([str(BIN / f"tallystream-{role}")], env=env, stdout=log, stderr=log))
            if role == "store":
                await wait_http(env["TALLY_STORE_URL"], procs[-1])
        store = RemoteWarehouse(env["TALLY_STORE_URL"], token_file=default_token_file(Path(env["TALLY_CHDB_PATH"])))
        want = args.memory_tenants * 20
        while True:
            rows = await store.query("SELECT count() AS n FROM mem.events")
            if int(rows[0]["n"]) >= want:
                break
            await asyncio.sleep(0.5)
        await store.close()
        await asyncio.sleep(1)
        worker_rss, store_rss = rss_mb(procs[1].pid, peak=True), rss_mb(procs[0].pid, peak=True)
        figure("memory_worker_peak_rss", worker_rss, "MB", tenants=args.memory_tenants, models=20)
        figure("memory_store_peak_rss", store_rss, "MB", note="the embedded ClickHouse engine, its own process")
        say(f"memory: worker peak RSS {worker_rss:.0f} MB, store (embedded engine) {store_rss:.0f} MB")
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=60)

    say("ingest: HTTP batches of 100 and 500 vs raw produce (bench/ingest.py)")
    for batch in (100, 500):
        result = await subprocess_json(
            ["bench/ingest.py", "--bootstrap", bootstrap, "--events", str(args.ingest_events), "--batch", str(batch),
             "--concurrency", "4", "--no-gzip", "--profile-seconds", "0"], tmp / f"ingest{batch}.json",
        )  # fmt: skip
        phases = result["phases"]
        figure(f"ingest_raw_produce_batch{batch}", phases["R"]["events_per_s"], "ev/s")
        figure(f"ingest_http_batch{batch}", phases["I"]["events_per_s"], "ev/s", p99_ms=round(phases["I"]["p99_ms"], 1))
        figure(f"ingest_ratio_batch{batch}", phases["I"]["events_per_s"] / phases["R"]["events_per_s"], "ratio")

    for events in args.query_sizes:
        say(f"queries at {events:,} stored events (bench/views.py)")
        result = await subprocess_json(
            ["bench/views.py", "--events", str(events), "--runs", str(args.query_runs), "--export-rows",
             str(args.export_rows)], tmp / f"views{events}.json",
        )  # fmt: skip
        label = f"{events // 1_000_000}M" if events >= 1_000_000 else f"{events // 1000}k"
        for path, stats in result["endpoints"].items():
            figure(f"query_{label}_{path}_p50", stats["p50_ms"], "ms")
            figure(f"query_{label}_{path}_p95", stats["p95_ms"], "ms")
        worst = max(s["p95_ms"] for p, s in result["endpoints"].items() if p != "raw SQL")
        figure(f"query_{label}_worst_p95", worst, "ms")
        if result.get("export"):
            figure(
                f"export_{label}_rows_per_s", result["export"]["rows_per_s"], "rows/s", rows=result["export"]["rows"]
            )
            figure(f"export_{label}_rss_growth", result["export"]["rss_growth_mb"], "MB")


def report(out_dir: Path, quick: bool) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    doc = {"when": stamp, "quick": quick, "cpus": os.cpu_count(), "commit": COMMIT, "figures": FIGURES}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("latest.json", f"{stamp}.json"):
        (out_dir / name).write_text(json.dumps(doc, indent=2))
    targets = {
        "P_pipeline": (">=", 50_000), "ratio_P_B1": (">=", 0.3), "freshness_50pct_p95": ("<=", 1000),
        "ingest_http_batch500": (">=", 30_000), "query_10M_worst_p95": ("<=", 50),
        "memory_worker_peak_rss": ("<=", 300),
    }  # fmt: skip
    print(f"\n{'figure':58} {'value':>14} {'unit':10} target")
    for name, f in FIGURES.items():
        if name.startswith("query_") and not name.endswith("worst_p95"):
            continue
        target = targets.get(name)
        mark = ""
        if target:
            ok = f["value"] >= target[1] if target[0] == ">=" else f["value"] <= target[1]
            mark = f"{target[0]} {target[1]:,} {'reached' if ok else 'NOT reached'}"
        print(f"{name:58} {f['value']:14,.3f} {f['unit']:10} {mark}")
    print(f"(per-endpoint query figures in {out_dir / 'latest.json'})")
    chart(out_dir / "latest.png")


def chart(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = [(n, f["value"]) for n, f in FIGURES.items() if f["unit"] in ("msgs/s", "ev/s", "rows/s")]
    lat = [(n, f["value"]) for n, f in FIGURES.items() if n.startswith("freshness") or n.endswith("worst_p95")]
    fig, (a, b) = plt.subplots(1, 2, figsize=(14, 6))
    a.barh([n for n, _ in rates], [v for _, v in rates], color="#3b6cf6")
    a.set_xscale("log")
    a.set_title(f"throughput (log scale), {os.cpu_count()} CPUs, {COMMIT[:8]}")
    b.barh([n for n, _ in lat], [v for _, v in lat], color="#12b886")
    b.set_title("latency, ms")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"chart: {path}")


COMMIT = git_commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    if args.quick:
        args.events, args.tenants, args.fresh_seconds, args.memory_tenants = 20_000, 20, 3.0, 100
        args.ingest_events, args.query_sizes, args.query_runs, args.export_rows = 10_000, [100_000], 3, 0
    else:
        args.tenants, args.fresh_seconds, args.memory_tenants = 200, 15.0, 10_000
        args.ingest_events, args.query_sizes, args.query_runs, args.export_rows = (
            200_000,
            [1_000_000, 10_000_000],
            20,
            0,
        )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tally-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        with broker(tmp / "var") as (bootstrap, _):
            asyncio.run(run(args, bootstrap, tmp))
    report(args.out, args.quick)
    print(f"make bench took {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
