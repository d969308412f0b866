"""`make bench`: every benchmark in one run, next to its raw baseline, with a table, JSON and a chart.

    .venv/bin/python bench/run.py            # full: 1M events, queries at 1M and 10M (~25 min)
    .venv/bin/python bench/run.py --quick    # small sizes, a few minutes; CI runs it to keep it working

Starts its own broker, pre-produces realistic events (LLM calls and messages over many tenants and
models, bench/workload.py) to two topics: one event per record (as direct producers write), and the
same events as batch records formed the way ingest forms them (one tenant's request of 100-500
events per record, NDJSON, zstd). It measures on the same bytes (bench/baselines.py, bench/combined.py):

single-event records
  B1  raw consume: aiokafka getmany() of the topic, no decoding (msgs/s);
  B2  raw compute: B1 plus decode, validate, price and aggregate into windows in memory (ev/s);
  B3  raw sink: bulk insert of the same priced rows and their rollup rows into chDB at the
      pipeline's batch size (rows/s);
  P   the real worker (`tallystream-combined`) draining the topic until every event is counted by
      the views API: sustained ev/s, events per CPU-second, peak RSS; ratios P/B1, P/B2, B3/P;
  freshness: producers at 25 %, 50 %, 80 % of P; event produced -> visible in the rollups through
      the views API, p50/p95/p99;
batch records (`*_batched`)
  B1  raw consume, records cut into their events, no validation (ev/s);
  B2  raw compute: B1 plus the worker's columnar batch step without I/O (ColumnarBatchHandler.prepare
      on batches of whole records of up to 20,000 events, the worker's TALLY_BATCH_MAX, after an
      untimed warm-up) (ev/s);
  P   the real worker on this topic (its defaults: the columnar path, a batch record its own rollup
      range): ev/s, ev/CPU-s, peak RSS; ratios P/B1, P/B2 and P batched / P single-event;
  freshness: producers writing batch records at 50 % of P batched (markers: one-event requests);
and
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
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from baselines import BATCH, ColumnarCompute, Compute, drain, events_counted, events_in, sink
from combined import Worker, freshness, pipeline
from common import BIN, REPO, broker, free_port, git_commit, pct, rss_mb, say
from workload import COMPRESSION, MODELS, batch_records, produce, produce_records
from workload import event as event  # re-exported: tests and bench modules import the workload from here

from deploy.topics import ensure_all_topics
from schemas.tenancy import TenantRecord
from storage.remote import RemoteWarehouse
from storage.store_token import default_token_file
from tenancy.kafka_log import DirectoryWriter

FIGURES: dict[str, dict[str, Any]] = {}


def figure(name: str, value: float, unit: str, **extra: Any) -> None:
    FIGURES[name] = {"value": round(value, 3), "unit": unit, "cpus": os.cpu_count(), "commit": COMMIT, **extra}


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


async def operator_key(bootstrap: str, prefix: str, tenants: int) -> str:
    """The benchmark's tenants in the directory (the views answer 404 for unknown ones) and an operator key."""
    directory = DirectoryWriter(bootstrap, f"{prefix}.tenants")
    await directory.start()
    try:
        now = datetime.now(UTC)
        for tenant in ["fresh", *(f"t{t:04d}" for t in range(tenants))]:
            await directory.put_tenant(TenantRecord(tenant_id=tenant, name=tenant, created_at=now))
        return (await directory.create_key(None, "admin", "bench"))[0]
    finally:
        await directory.stop()


def freshness_figures(name: str, latencies: list[float], what: str) -> None:
    for q in (0.5, 0.95, 0.99):
        figure(f"{name}_p{int(q * 100)}", pct(latencies, q), "ms", samples=len(latencies))
    say(f"freshness {what}: p50 {pct(latencies, 0.5):.0f} ms, p95 {pct(latencies, 0.95):.0f} ms")


async def single_events(args: argparse.Namespace, bootstrap: str, prefix: str, tmp: Path, key: str) -> float:
    """B1, B2, B3, P and freshness at 25/50/80 % of P on the topic of single-event records; returns P."""
    n, topic = args.events, f"{prefix}.raw"
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
        say("P: the worker drains the topic of single-event records")
        p = await pipeline(worker, n, args.tenants, key)
        figure("P_pipeline", p["rate"], "ev/s", wall_s=round(p["wall"], 1))
        figure("P_events_per_cpu_second", p["per_cpu_s"], "ev/cpu-s")
        figure("P_worker_peak_rss", p["rss_mb"], "MB")
        figure("ratio_P_B1", p["rate"] / b1, "ratio")
        figure("ratio_P_B2", p["rate"] / b2, "ratio")
        figure("ratio_B3_P", b3 / p["rate"], "ratio")
        say(f"P {p['rate']:,.0f} ev/s, {p['per_cpu_s']:,.0f} ev/CPU-s, RSS {p['rss_mb']:.0f} MB")
        for share in (0.25, 0.5, 0.8):
            latencies = await freshness(worker, bootstrap, topic, share * p["rate"], args.fresh_seconds, key)
            freshness_figures(f"freshness_{int(share * 100)}pct", latencies, f"at {share:.0%} of P")
    finally:
        worker.stop()
    return p["rate"]


async def batched_events(
    args: argparse.Namespace, bootstrap: str, prefix: str, tmp: Path, key: str, p_single: float
) -> None:
    """B1 (events/s), B2 (the columnar step without I/O), P and freshness at 50 % of P on the topic of
    the same events as batch records formed the way ingest forms them."""
    n, topic = args.events, f"{prefix}.batched"
    b1 = await drain(bootstrap, topic, n, count=events_in)
    figure("b1_batched_events", b1, "ev/s", note="records cut into events, no validation")
    say(f"B1 raw consume of batch records (cut into events): {b1:,.0f} ev/s")
    await ColumnarCompute.warm_up()
    compute = ColumnarCompute()
    b2 = await drain(bootstrap, topic, n, compute, count=events_counted)
    assert compute.events == n, f"the columnar step counted {compute.events} new events of {n}"
    note = f"ColumnarBatchHandler.prepare, no I/O, batches of <= {compute.batch_max:,} events, after a warm-up"
    figure("b2_batched_compute", b2, "ev/s", note=note, batches=compute.batches, rollup_rows=compute.rollup_rows)
    say(f"B2 raw compute of batch records ({note}): {b2:,.0f} ev/s, {compute.rollup_rows:,} rollup rows")
    del compute

    worker = Worker(bootstrap, prefix, topic, tmp, "pb")
    try:
        say("P: the worker drains the topic of batch records")
        p = await pipeline(worker, n, args.tenants, key, "P batched")
        figure("p_batched", p["rate"], "ev/s", wall_s=round(p["wall"], 1))
        figure("p_batched_events_per_cpu_second", p["per_cpu_s"], "ev/cpu-s")
        figure("p_batched_worker_peak_rss", p["rss_mb"], "MB")
        figure("ratio_p_b1_batched", p["rate"] / b1, "ratio")
        figure("ratio_p_b2_batched", p["rate"] / b2, "ratio")
        figure("ratio_p_batched_p_single", p["rate"] / p_single, "ratio")
        say(f"P batched {p['rate']:,.0f} ev/s, {p['per_cpu_s']:,.0f} ev/CPU-s, RSS {p['rss_mb']:.0f} MB")
        rate = 0.5 * p["rate"]
        latencies = await freshness(worker, bootstrap, topic, rate, args.fresh_seconds, key, batched=True)
        freshness_figures("freshness_batched_50pct", latencies, "at 50% of P batched, batch records")
    finally:
        worker.stop()


async def run(args: argparse.Namespace, bootstrap: str, tmp: Path) -> None:
    n, tenants = args.events, args.tenants
    prefix = f"bench-{uuid.uuid4().hex[:6]}"
    for topic in (f"{prefix}.raw", f"{prefix}.batched"):
        await ensure_all_topics(bootstrap, topic, f"{prefix}.dlq", f"{prefix}.tenants", partitions=6)
    key = await operator_key(bootstrap, prefix, tenants)

    say(f"producing {n:,} events over {tenants} tenants and {len(MODELS)} models")
    pairs = await produce(bootstrap, f"{prefix}.raw", n, tenants)
    figure("event_size", sum(len(value) for _, value in pairs) / n, "bytes")
    records = batch_records(pairs)
    del pairs
    await produce_records(bootstrap, f"{prefix}.batched", records)
    figure("batch_record_events", n / len(records), "events", records=len(records), compression=COMPRESSION)
    say(f"the same events as {len(records):,} batch records ({n / len(records):.0f} events each, {COMPRESSION})")
    del records

    p_single = await single_events(args, bootstrap, prefix, tmp, key)
    await batched_events(args, bootstrap, prefix, tmp, key, p_single)
    await memory(args, bootstrap, prefix, tmp)
    await ingest_and_queries(args, bootstrap, tmp)


async def memory(args: argparse.Namespace, bootstrap: str, prefix: str, tmp: Path) -> None:
    """A fresh worker's peak RSS after every one of tenants x 20 models went through its windows."""
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


async def ingest_and_queries(args: argparse.Namespace, bootstrap: str, tmp: Path) -> None:
    """bench/ingest.py (HTTP batches of 100 and 500 vs raw produce) and bench/views.py (dashboard queries)."""
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
        views = {p: s for p, s in result["endpoints"].items() if p != "raw SQL" and not p.startswith("/explore")}
        figure(f"query_{label}_worst_p95", max(s["p95_ms"] for s in views.values()), "ms")
        explore = [s["p95_ms"] for p, s in result["endpoints"].items() if p.startswith("/explore")]
        figure(f"explore_{label}_worst_p95", max(explore), "ms")
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
        "ingest_http_batch500": (">=", 30_000), "query_10M_worst_p95": ("<=", 50), "explore_10M_worst_p95": ("<=", 100),
        "memory_worker_peak_rss": ("<=", 300),
        # the same targets on batch records, the way ingest writes the topic
        "p_batched": (">=", 50_000), "ratio_p_b2_batched": (">=", 0.5), "freshness_batched_50pct_p95": ("<=", 1000),
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
