"""End to end through ingest: HTTP batches -> `tallystream-ingest` -> Kafka -> `tallystream-combined` -> views API.

    python bench/e2e.py                        # throughput: 2 min flat out, then freshness at half of it
    python bench/e2e.py --seconds 30 --fresh-seconds 20
    python bench/e2e.py --soak --rate 10000    # make soak: 30 min at half of --rate, RSS and lag every 10 s
    python bench/e2e.py --soak --minutes 3

Starts its own broker (bench/common.py `broker`; --bootstrap to use another), creates `--tenants` tenants
with an ingest key each (and `fresh`, the freshness markers' tenant) in the directory, then runs the real
ingest and worker processes. Every request is one tenant's `--batch` events (bench/e2e_load.py: LLM calls
and messages over 8 models, fresh ids, timestamps of the last two minutes), from `--concurrency` senders.
Ingest's per-tenant rate limit and the views' limits are lifted.

Throughput: R, the same batch records produced with plain aiokafka (ingest's producer settings) from the
same senders, is the ingest baseline; then a warm-up, then `--seconds` of load (flat out, or paced with
--rate): ingest-accepted ev/s, and queryable ev/s = accepted events / (first send -> the views API shows
every one); then `--fresh-seconds` paced at half the sustained rate (--fresh-rate to choose) with a
marker event every 0.2 s: sent -> visible in the rollups through the views API, p50/p95/p99; at the end a
plain aiokafka drain of the events topic (records cut into events) is the worker's baseline.
Soak: `--minutes` at half of --rate (default 10,000 ev/s): the worker's RSS and the consumer lag every
`--sample-seconds`; RSS flat within 10 % (median of the first 5 min after warm-up vs the last 5; a third
of the run each when shorter), max and final lag. Both modes end by checking every accepted event is
counted once: per tenant, events, tokens and cost in the views' rollups equal the sum of what ingest
answered 200 for. Writes bench/results/e2e-latest.json (e2e-soak-latest.json for --soak).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from common import REPO, broker, git_commit, pct, rss_mb
from e2e_load import FRESH, Filler, Load, Phase, compare, freshness, templates, views_totals
from e2e_stack import Stack

from schemas.records import batch_headers, encode_batches, format_of, split_events

TARGET_RATE, TARGET_FRESH_P95_MS, RSS_FLAT = 30_000, 1000.0, 0.10
FIGURES: dict[str, dict[str, Any]] = {}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def figure(name: str, value: float, unit: str, baseline: str = "", check: str = "") -> None:
    FIGURES[name] = {"value": round(value, 3), "unit": unit, "baseline": baseline, "check": check}


async def raw_produce(bootstrap: str, topic: str, requests: list[list[bytes]], concurrency: int) -> Phase:
    """R: each request's events as ingest publishes them (batch records, zstd, idempotent, acks=all) with a
    plain aiokafka producer, `concurrency` tasks each awaiting its acks, as ingest does per request."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5, compression_type="zstd",
        max_batch_size=1 << 20,
    )  # fmt: skip
    await producer.start()
    phase, todo, headers = Phase("R raw produce"), iter(requests), batch_headers()
    try:

        async def sender() -> None:
            for events in todo:
                key = orjson.loads(events[0])["tenant_id"].encode()
                values = encode_batches(events, 1000, 512 * 1024)
                await asyncio.gather(*[await producer.send(topic, v, key=key, headers=headers) for v in values])
                phase.accepted += len(events)

        t0 = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(concurrency)))
        phase.wall = time.perf_counter() - t0
    finally:
        await producer.stop()
    return phase


async def raw_consume(bootstrap: str, topic: str, records: int, timeout: float = 120) -> float:
    """B: a plain aiokafka drain of the `records` of `topic`, cut into events (no decoding); ev/s."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
        group_id=f"bench-raw-{uuid.uuid4().hex[:6]}", max_partition_fetch_bytes=4 << 20,
    )  # fmt: skip
    await consumer.start()
    seen, read, t0 = 0, 0, time.perf_counter()
    try:
        while read < records and time.perf_counter() - t0 < timeout:
            for msgs in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                read += len(msgs)
                seen += sum(len(split_events(format_of(m.headers), m.value)) for m in msgs)
    finally:
        wall = time.perf_counter() - t0
        await consumer.stop()
    return seen / wall


def cpu_line(before: dict[str, float], after: dict[str, float], wall: float) -> str:
    return ", ".join(f"{k} {(after[k] - before[k]) / wall:.2f}" for k in before) + " cores"


async def drained(stack: Stack, load: Load, timeout: float) -> float | None:
    """When the views API shows every accepted event (the worker's stored count first, then the rollups
    of every tenant); None after `timeout` s."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if await stack.metric("tally_worker_events_stored_total") >= load.ledger.accepted:
            shown = await views_totals(stack.views, [*load.ledger.expected])
            if all(shown[t].events == want.events for t, want in load.ledger.expected.items()):
                return time.perf_counter()
        await asyncio.sleep(0.25)
    return None


async def totals_check(stack: Stack, load: Load, tenants: list[str]) -> bool:
    """Every accepted event counted once: per tenant, the views' rollups against what ingest accepted."""
    shown = await views_totals(stack.views, [*tenants, FRESH])
    wrong = compare(load.ledger.expected, shown)
    want = sum(t.events for t in load.ledger.expected.values())
    got = sum(t.events for t in shown.values())
    cost_want = sum((t.cost_usd for t in load.ledger.expected.values()), start=Decimal(0))
    cost_got = sum((t.cost_usd for t in shown.values()), start=Decimal(0))
    stats = {k: await stack.metric(m) for k, m in stack.WORKER_COUNTS.items()}
    dlq = await stack.topic_records(stack.dlq_topic)
    say(
        f"totals: ingest accepted {load.ledger.accepted:,} events (answered 200 in full: {want:,}); the views show "
        f"{got:,}; cost ${cost_want:.6f} accepted, ${cost_got:.6f} shown; statuses {dict(load.ledger.statuses)}; "
        f"requests without a sure outcome {load.ledger.inexact}; worker {stats}; dead letters on the topic {dlq}"
    )
    for line in wrong[:10]:
        say(f"  MISMATCH {line}")
    ok = not wrong and load.ledger.inexact == 0 and want == load.ledger.accepted
    figure("events_accepted", load.ledger.accepted, "events")
    figure("events_in_views", got, "events", check="exact" if ok else "MISMATCH")
    figure("cost_accepted_usd", float(cost_want), "USD")
    figure(
        "cost_in_views_usd", float(cost_got), "USD", check="to the cent" if abs(cost_want - cost_got) < 0.005 else ""
    )
    figure("non_200_requests", sum(n for s, n in load.ledger.statuses.items() if s != 200), "requests")
    figure("dead_letters", dlq, "events")
    return ok


async def throughput(args: argparse.Namespace, stack: Stack, load: Load) -> None:
    say(f"warm-up: {args.warmup_seconds:.0f} s flat out")
    await load.run("warm-up", args.warmup_seconds, None, args.concurrency)
    if await drained(stack, load, 180) is None:
        raise SystemExit("the warm-up's events were not all queryable within 180 s")
    stored0, cpu0 = await stack.metric("tally_worker_events_stored_total"), stack.cpu()
    say(f"load: {args.seconds:.0f} s {'flat out' if not args.rate else f'at {args.rate:,.0f} ev/s'}")
    t0 = time.perf_counter()
    phase = await load.run("load", args.seconds, args.rate, args.concurrency)
    stored_end, cpu1 = await stack.metric("tally_worker_events_stored_total"), stack.cpu()
    done = await drained(stack, load, max(180.0, 3 * args.seconds))
    queryable = phase.accepted / (done - t0) if done else 0.0
    during = (stored_end - stored0) / phase.wall
    say(f"  CPU during the load: {cpu_line(cpu0, cpu1, phase.wall)}")
    r = FIGURES["R_raw_produce"]["value"]
    figure("ingest_accepted", phase.rate, "ev/s", f"R {r:,.0f} ev/s ({phase.rate / r:.2f}x)")
    figure("worker_stored_during_load", during, "ev/s")
    figure("worker_peak_rss", rss_mb(stack.procs["worker"].pid, peak=True), "MB", check="VmHWM after the load")
    ok = queryable >= TARGET_RATE and args.seconds >= 120
    check = f">= {TARGET_RATE:,} for 2 min: {'reached' if ok else 'NOT reached'}"
    figure("sustained_queryable", queryable, "ev/s", check=check + ("" if done else " (not all queryable!)"))
    figure("drain_after_load", (done or time.perf_counter()) - t0 - phase.wall, "s")
    figure("load_seconds", phase.wall, "s")
    for q in (0.5, 0.99):
        figure(f"ingest_request_p{int(q * 100)}", 1000 * pct(phase.latencies, q), "ms", check=f"{args.batch} events")
    for role in cpu0:
        figure(f"cpu_{role}", (cpu1[role] - cpu0[role]) / phase.wall, "cores")

    fresh_rate = args.fresh_rate or (queryable or phase.rate) / 2
    say(f"freshness: {args.fresh_seconds:.0f} s at {fresh_rate:,.0f} ev/s, a marker every 0.2 s")
    stop = asyncio.Event()
    marking = asyncio.create_task(freshness(load, stack.views, stop))
    paced = await load.run("freshness", args.fresh_seconds, fresh_rate, args.concurrency)
    stop.set()
    fresh = await marking
    figure("freshness_load", paced.rate, "ev/s", check=f"asked {fresh_rate:,.0f}")
    for q in (0.5, 0.95, 0.99):
        value = pct(fresh.visible, q)
        check = f"<= {TARGET_FRESH_P95_MS:.0f} ms: {'reached' if value <= TARGET_FRESH_P95_MS else 'NOT reached'}"
        figure(f"freshness_p{int(q * 100)}", value, "ms", f"at {fresh_rate:,.0f} ev/s", check if q == 0.95 else "")
    for q in (0.5, 0.95):
        figure(f"marker_ingest_2xx_p{int(q * 100)}", pct(fresh.acked, q), "ms", check="part of freshness")
    figure("freshness_markers_seen", len(fresh.visible), "markers", check=f"of {fresh.sent} sent")
    if await drained(stack, load, 180) is None:
        say("NOT every accepted event was queryable within 180 s after the freshness phase")


async def soak(args: argparse.Namespace, stack: Stack, load: Load) -> None:
    rate = (args.rate or 10_000) / 2
    say(f"warm-up: {args.warmup_seconds:.0f} s at {rate:,.0f} ev/s")
    await load.run("warm-up", args.warmup_seconds, rate, args.concurrency)
    seconds, samples = args.minutes * 60, []
    say(f"soak: {args.minutes:g} min at {rate:,.0f} ev/s (half of {args.rate or 10_000:,.0f}), a sample every "
        f"{args.sample_seconds:.0f} s")  # fmt: skip
    running = asyncio.create_task(load.run("soak", seconds, rate, args.concurrency))
    t0, cpu0 = time.perf_counter(), stack.cpu()
    while not running.done():
        await asyncio.wait({running}, timeout=args.sample_seconds)
        s = await stack.sample(load.ledger.accepted)
        samples.append({"t": round(time.perf_counter() - t0, 1), **s})
        say(f"  {samples[-1]}")
    phase = running.result()
    cpu1 = stack.cpu()
    done = await drained(stack, load, 300)
    window = min(300.0, seconds / 3)
    first = statistics.median(
        [s["worker_rss_mb"] for s in samples if s["t"] <= window] or [samples[0]["worker_rss_mb"]]
    )
    last = statistics.median(s["worker_rss_mb"] for s in samples if s["t"] >= samples[-1]["t"] - window)
    flat = abs(last - first) / first <= RSS_FLAT
    figure("soak_rate_sent", phase.rate, "ev/s", check=f"asked {rate:,.0f}")
    figure("soak_minutes", phase.wall / 60, "min")
    figure("worker_rss_first", samples[0]["worker_rss_mb"], "MB")
    figure("worker_rss_last", samples[-1]["worker_rss_mb"], "MB")
    figure("worker_rss_max", max(s["worker_rss_mb"] for s in samples), "MB")
    figure("worker_peak_rss", rss_mb(stack.procs["worker"].pid, peak=True), "MB", check="VmHWM, warm-up included")
    figure("worker_rss_median_first", first, "MB", check=f"first {window / 60:.1f} min")
    verdict = f"{'flat' if flat else 'NOT flat'} within {RSS_FLAT:.0%}"
    change = f"last {window / 60:.1f} min: {(last - first) / first:+.1%}, {verdict}"
    figure("worker_rss_median_last", last, "MB", check=change)
    figure("lag_records_max", max(s["lag_records"] for s in samples), "records")
    figure("lag_records_final", samples[-1]["lag_records"], "records", check="at the end of the load")
    figure("lag_events_max", max(s["lag_events"] for s in samples), "events", check="accepted - stored")
    figure("lag_events_final", samples[-1]["lag_events"], "events")
    figure(
        "drain_after_soak", (done or time.perf_counter()) - t0 - phase.wall, "s", check="" if done else "NOT drained"
    )
    for role in cpu0:
        figure(f"cpu_{role}", (cpu1[role] - cpu0[role]) / phase.wall, "cores")
    FIGURES["samples"] = {"value": samples, "unit": "", "baseline": "", "check": ""}


async def run(args: argparse.Namespace, bootstrap: str, broker_pid: int | None, tmp: Path) -> bool:
    tenants = [f"t{t:03d}" for t in range(args.tenants)]
    say(f"templates: {args.variants} x {args.tenants} tenants x {args.batch} events")
    bodies = templates(tenants, args.variants, args.batch)
    stack = Stack(bootstrap, broker_pid, tmp, f"e2e-{uuid.uuid4().hex[:6]}", args.ingest_procs)
    await stack.topics()
    if not args.soak:  # the baseline's requests: the same templates, ids of their own
        filler = Filler()
        bodies_r = (filler.body(bodies[i % len(bodies)]) for i in range(args.raw_events // args.batch))
        requests = [[orjson.dumps(e) for e in orjson.loads(b)] for b in bodies_r]
        say(f"R: {sum(map(len, requests)):,} events as batch records through plain aiokafka")
        cpu0, r = stack.cpu(), await raw_produce(bootstrap, stack.baseline_topic, requests, args.concurrency)
        say(f"  R {r.rate:,.0f} ev/s; CPU {cpu_line(cpu0, stack.cpu(), r.wall)}")
        figure("R_raw_produce", r.rate, "ev/s", check="baseline of ingest_accepted")
    try:
        keys = await stack.start([*tenants, FRESH], args)
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=args.concurrency + 4)) as c:
            load = Load(c, stack.ingest_urls, keys, bodies)
            await (soak(args, stack, load) if args.soak else throughput(args, stack, load))
            ok = await totals_check(stack, load, tenants)
        stored = await stack.topic_records(stack.events_topic)
    finally:
        await stack.stop()
    if not args.soak:
        b = await raw_consume(bootstrap, stack.events_topic, stored)
        figure("B_raw_consume", b, "ev/s", check="baseline of sustained_queryable")
        q = FIGURES["sustained_queryable"]
        q["baseline"] = f"B {b:,.0f} ev/s ({q['value'] / b:.2f}x)"
    return ok


def report(args: argparse.Namespace, ok: bool) -> None:
    print(f"\n{'figure':28} {'value':>14} {'unit':8}  {'baseline':28} check")
    for name, f in FIGURES.items():
        if name != "samples":
            print(f"{name:28} {f['value']:14,.3f} {f['unit']:8}  {f['baseline']:28} {f['check']}")
    print(f"\ntotals exact (every accepted event counted once): {'yes' if ok else 'NO'}")
    print(f"{os.cpu_count()} CPUs shared by the sender, ingest, the broker and the worker (cpu_* figures)")
    doc = {
        "when": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"), "mode": "soak" if args.soak else "throughput",
        "args": vars(args) | {"out": str(args.out)}, "cpus": os.cpu_count(), "commit": git_commit(),
        "totals_exact": ok, "figures": FIGURES,
    }  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / ("e2e-soak-latest.json" if args.soak else "e2e-latest.json")
    path.write_text(json.dumps(doc, indent=2, default=str))
    print(f"written: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--soak", action="store_true", help="soak mode (make soak); throughput otherwise")
    parser.add_argument("--seconds", type=float, default=120, help="throughput: seconds of load")
    parser.add_argument("--rate", type=float, help="ev/s: throughput paces at it (default flat out); soak: P")
    parser.add_argument("--fresh-seconds", type=float, default=60)
    parser.add_argument("--fresh-rate", type=float, help="ev/s of the freshness phase (default: half sustained)")
    parser.add_argument("--minutes", type=float, default=30, help="soak: minutes of load")
    parser.add_argument("--sample-seconds", type=float, default=10, help="soak: RSS and lag every so often")
    parser.add_argument("--warmup-seconds", type=float, default=10)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--batch", type=int, default=500, help="events per request (one tenant's)")
    parser.add_argument("--variants", type=int, default=4, help="request templates per tenant")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent HTTP senders")
    parser.add_argument("--ingest-procs", type=int, default=1, help="ingest processes; senders alternate")
    parser.add_argument("--raw-events", type=int, default=200_000, help="events of the raw produce baseline")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp_dir:
        tmp = Path(tmp_dir)
        if args.bootstrap:
            ok = asyncio.run(run(args, args.bootstrap, None, tmp))
        else:
            with broker(tmp / "var") as (bootstrap, pid):
                ok = asyncio.run(run(args, bootstrap, pid, tmp))
    report(args, ok)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
