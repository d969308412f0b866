"""Ingest throughput and batch latency, next to the raw aiokafka produce baseline, in one run.

    .venv/bin/python bench/ingest.py --events 200000 --batch 500 --concurrency 8

Without --bootstrap it starts its own broker (deploy/kafka/kafka.sh on free ports, temporary
TALLY_VAR) and stops it at the end. Every event is generated and serialised before anything is timed:

  R   raw produce: the same event bytes through a plain idempotent acks=all aiokafka producer (the
      settings of ingest.publisher), `--concurrency` tasks each sending a `--batch` with send() and
      awaiting every ack, which is what ingest does per request;
  R2  the same through create_batch()/send_batch() (one append per event, one future per batch);
  I   the real `tallystream-ingest` in its own process: `--concurrency` keep-alive HTTP/1.1 senders
      posting `--batch`-event JSON arrays; Igz the same gzip-compressed (fresh event ids).

Prints events/s, batch latency percentiles and the CPU seconds of this client, ingest, the broker and
the whole machine (they share its cores), checks that the topic holds exactly the accepted events,
and, when py-spy is available, profiles ingest under load and prints its hottest frames. For A/B runs:
--ingest-procs N starts N ingest processes (senders alternate), --ingest-cmd runs another ingest command.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import itertools
import json
import os
import random
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from common import BIN, CLK_TCK, broker, free_port, topic_events, topic_size

from deploy.topics import ensure_all_topics, ensure_topics
from schemas.tenancy import TenantRecord
from tenancy.kafka_log import DirectoryWriter

MODELS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("anthropic", "claude-3-5-haiku"), ("groq", "llama-3.1-8b")]
TARGET_RATE, TARGET_P99_MS, TARGET_RATIO = 30_000, 100.0, 0.5


def generate(n: int, tenant: str, seed: int) -> list[bytes]:
    """`n` wire-format events of one tenant: per turn a user message, an llm_call, an assistant message."""
    rng, now, out = random.Random(seed), datetime.now(UTC), []
    session = user = ""
    for i in range(n):
        if i % 3 == 0:
            session, user = f"s-{rng.randrange(10**6)}", f"u-{rng.randrange(5000)}"
        ev = {"event_id": str(uuid.uuid4()), "tenant_id": tenant, "session_id": session, "end_user_id": user}
        ev |= {"timestamp": (now - timedelta(seconds=rng.randint(0, 3000))).isoformat(), "domain": "shop.example.com"}
        if i % 3 == 1:
            (provider, model), inp = MODELS[rng.randrange(len(MODELS))], rng.randint(100, 5000)
            ev |= {"type": "llm_call", "provider": provider, "model": model, "input_tokens": inp, "feature": "chat"}
            ev |= {"output_tokens": rng.randint(10, 800), "cached_input_tokens": rng.choice((0, 0, inp // 2))}
            ev |= {"latency_ms": rng.randint(100, 3000), "status": "ok"}
        else:
            ev |= {"type": "message", "role": "assistant" if i % 3 else "user", "content_chars": rng.randint(5, 2000)}
        out.append(orjson.dumps(ev))
    return out


def chunks(events: list[bytes], size: int) -> list[list[bytes]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def body(events: list[bytes]) -> bytes:
    return b"[" + b",".join(events) + b"]"


def proc_cpu(pid: int | None) -> float:
    """utime + stime of a process in seconds (all its threads), from /proc; nan when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_now(ingest: list[int], broker: int | None) -> tuple[float, ...]:
    """CPU seconds so far of (this process, the ingest processes, the broker, the whole machine)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    machine = (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK  # every core's busy time: all but idle and iowait
    return (time.process_time(), sum(map(proc_cpu, ingest)) if ingest else float("nan"), proc_cpu(broker), machine)


@dataclass
class Phase:
    name: str
    events: int = 0
    wall: float = 0.0
    cpu: tuple[float, ...] = ()
    """CPU seconds of (this client, the ingest process, the broker, the whole machine) during the phase."""
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.events / self.wall

    def pct(self, q: float) -> float:
        lat = sorted(self.latencies)
        return 1000 * lat[min(len(lat) - 1, int(q * len(lat)))]


async def measured(phase: Phase, pids: tuple, items: Sequence, concurrency: int, send: Callable) -> Phase:
    """Run `send(item)` over `items` from `concurrency` tasks; fill in wall, CPU and per-item latency."""
    it = iter(items)

    async def worker() -> None:
        for item in it:
            t = time.perf_counter()
            await send(item)
            phase.latencies.append(time.perf_counter() - t)

    cpu0, t0 = cpu_now(*pids), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.wall = time.perf_counter() - t0
    phase.cpu = tuple(b - a for a, b in zip(cpu0, cpu_now(*pids), strict=True))
    return phase


async def raw(bootstrap: str, topic: str, key: bytes, batches: list[list[bytes]], args, broker, name: str) -> Phase:
    """Produce `batches` with the producer settings of ingest.publisher.KafkaPublisher, awaiting every ack:
    with send() per event (as ingest does), or with create_batch()/send_batch() when `name` says so."""
    prod = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5, max_batch_size=1 << 20
    )
    await prod.start()
    try:
        parts = sorted(await prod.partitions_for(topic))
        partition = DefaultPartitioner()(key, parts, parts)

        async def send(batch: list[bytes]) -> None:
            await asyncio.gather(*[await prod.send(topic, v, key=key) for v in batch])

        async def send_batch(batch: list[bytes]) -> None:
            futures, builder = [], prod.create_batch()
            for value in batch:
                if builder.append(key=key, value=value, timestamp=None) is None:  # full: ship it, start another
                    futures.append(await prod.send_batch(builder, topic, partition=partition))
                    builder = prod.create_batch()
                    builder.append(key=key, value=value, timestamp=None)
            futures.append(await prod.send_batch(builder, topic, partition=partition))
            await asyncio.gather(*futures)

        phase = Phase(name, sum(map(len, batches)))
        return await measured(phase, ([], broker), batches, args.concurrency, send_batch if "batch" in name else send)
    finally:
        await prod.stop()


async def create_tenant(bootstrap: str, directory_topic: str, tenant_id: str) -> str:
    """Put a tenant in the directory and return a fresh ingest key for it."""
    writer = DirectoryWriter(bootstrap, directory_topic)
    await writer.start()
    try:
        await writer.put_tenant(TenantRecord(tenant_id=tenant_id, name=tenant_id, created_at=datetime.now(UTC)))
        return (await writer.create_key(tenant_id, "ingest", "bench"))[0]
    finally:
        await writer.stop()


class Poster:
    """POSTs bodies to /v1/events of the ingest processes in turn, counting statuses and accepted events."""

    def __init__(self, client: httpx.AsyncClient, urls: list[str], key: str, gzipped: bool) -> None:
        self.client, self.urls, self.accepted, self.statuses = client, itertools.cycle(urls), 0, Counter[int | str]()
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.headers |= {"Content-Encoding": "gzip"} if gzipped else {}

    async def __call__(self, body: bytes) -> None:
        try:
            r = await self.client.post(f"{next(self.urls)}/v1/events", content=body, headers=self.headers)
        except httpx.HTTPError as exc:  # counted as a failure, by exception name
            self.statuses[type(exc).__name__] += 1
            return
        self.statuses[r.status_code] += 1
        if r.status_code in (200, 207):
            self.accepted += orjson.loads(r.content)["accepted"]


async def profile(poster: Poster, bodies: list[bytes], pid: int, args) -> list[str]:
    """py-spy record the ingest process while the senders keep posting `bodies` round and round;
    returns the summary: self and inclusive sample shares per function."""
    out, rate = Path(args.profile_out), 200
    spy = await asyncio.create_subprocess_exec(
        *[str(shutil.which("py-spy", path=str(BIN))), "record", "--format", "raw", "-o", str(out)],
        *["-d", str(args.profile_seconds), "-r", str(rate), "-p", str(pid)],
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    sent = 0

    async def worker(i: int) -> None:
        nonlocal sent
        while spy.returncode is None:
            await poster(bodies[i % len(bodies)])
            i, sent = i + args.concurrency, sent + 1

    waiter = asyncio.create_task(spy.communicate())
    await asyncio.gather(*(worker(k) for k in range(args.concurrency)), waiter)
    if spy.returncode != 0 or not out.exists():
        return [f"py-spy failed: {waiter.result()[1].decode()[-500:]}"]
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = []
        for frame in stack.split(";"):
            name, _, loc = frame.partition(" (")
            frames.append(f"{name} ({'/'.join(Path(loc.rsplit(':', 1)[0]).parts[-2:])})")
        own[frames[-1]] += int(count)
        for f in set(frames):
            incl[f] += int(count)
    total, expected = sum(own.values()), args.profile_seconds * rate
    lines = [
        f"py-spy profile of ingest under load ({out}): {total} non-idle samples of ~{expected} "
        f"(busy ~{total / expected:.0%}; ~{sent * args.batch / args.profile_seconds:,.0f} ev/s while profiled)",
        "  self %   function",
    ]
    lines += [f"  {100 * n / total:6.1f}   {name}" for name, n in own.most_common(15)]
    lines.append("  incl %   function (frames in every sample left out)")
    return lines + [f"  {100 * n / total:6.1f}   {name}" for name, n in incl.most_common(45) if n < total]


def report(phases: list[Phase], args, wrong: int) -> None:
    print(
        f"\n{args.events:,} events/phase, batches of {args.batch}, concurrency {args.concurrency}, "
        f"{args.ingest_procs} ingest process(es), {os.cpu_count()} CPUs; CPU columns: CPU-seconds used during the "
        "phase and cores (= /wall); machine = every process, so machine - the others = anything else running"
    )
    head = f"{'phase':32}{'events/s':>10}{'wall s':>8}{'p50':>7}{'p90':>7}{'p99':>7}{'max':>7}  "
    print(head + "".join(f"{h:>13}" for h in ("client cpu", "ingest cpu", "broker cpu", "machine cpu")) + "  statuses")
    for p in phases:
        cpu = "".join(f"{c:6.1f}s {c / p.wall:4.2f}c" if c == c else f"{'-':>13}" for c in p.cpu)
        print(
            f"{p.name:32}{p.rate:10,.0f}{p.wall:8.2f}{p.pct(0.5):7.1f}{p.pct(0.9):7.1f}{p.pct(0.99):7.1f}"
            f"{1000 * max(p.latencies):7.1f}  {cpu}  {dict(p.statuses) or ''}"
        )
    print("(latencies in ms per batch)")
    r, i = phases[0], next(p for p in phases if p.name.startswith("I "))
    checks = [
        (f"I events/s >= {TARGET_RATE:,} (target: 500-event batches)", f"{i.rate:,.0f}", i.rate >= TARGET_RATE),
        (f"I p99 batch latency <= {TARGET_P99_MS:.0f} ms", f"{i.pct(0.99):.1f} ms", i.pct(0.99) <= TARGET_P99_MS),
        (f"I/R >= {TARGET_RATIO}", f"{i.rate / r.rate:.3f}", i.rate / r.rate >= TARGET_RATIO),
        ("every request answered 200", f"{wrong} not", wrong == 0),
    ]
    print(f"\nI/R = {i.rate / r.rate:.3f}   (I {i.rate:,.0f} ev/s, R {r.rate:,.0f} ev/s)")
    for name, value, ok in checks:
        print(f"  {name:50} {value:>10}   {'reached' if ok else 'NOT reached'}")


async def wait_healthy(client: httpx.AsyncClient, url: str, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"ingest exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(f"{url}/healthz")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"ingest not healthy after 60 s:\n{log.read_text()[-3000:]}")


async def run(args, bootstrap: str, tmp: Path, broker: int | None) -> None:
    prefix, tenant = f"bench-{uuid.uuid4().hex[:8]}", "bench-tenant"
    raw_topic, events_topic, directory_topic = f"{prefix}.baseline", f"{prefix}.raw", f"{prefix}.tenants"
    await ensure_all_topics(bootstrap, events_topic, f"{prefix}.dlq", directory_topic, partitions=6)
    await ensure_topics(bootstrap, [raw_topic, f"{raw_topic}0", f"{raw_topic}2"], partitions=6)
    t0 = time.perf_counter()
    plain = generate(args.events, tenant, 1)
    other = generate(args.events, tenant, 2) if args.gzip else []
    bodies = [body(c) for c in chunks(plain, args.batch)]
    gz_bodies = [gzip.compress(body(c), 6) for c in chunks(other, args.batch)]
    print(
        f"generated {len(plain) + len(other):,} events ({sum(map(len, plain)) / len(plain):.0f} B each, "
        f"{sum(map(len, bodies)) / len(bodies) / 1024:.0f} KiB per batch, gzip "
        f"{sum(map(len, gz_bodies)) / max(1, len(gz_bodies)) / 1024:.0f} KiB) in {time.perf_counter() - t0:.1f}s",
        flush=True,
    )
    key, batches = tenant.encode(), chunks(plain, args.batch)
    await raw(bootstrap, f"{raw_topic}0", key, batches[: 4 * args.concurrency], args, broker, "warm-up")
    phases = [await raw(bootstrap, raw_topic, key, batches, args, broker, "R   raw produce, send()")]
    phases.append(await raw(bootstrap, f"{raw_topic}2", key, batches, args, broker, "R2  raw produce, send_batch()"))
    print(f"R  {phases[0].rate:,.0f} ev/s, R2 {phases[1].rate:,.0f} ev/s", flush=True)

    ingest_key, procs, urls = await create_tenant(bootstrap, directory_topic, tenant), [], []
    accepted, profile_lines, limits = 0, [], httpx.Limits(max_connections=args.concurrency * args.ingest_procs)
    try:
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            for n in range(args.ingest_procs):
                urls.append(f"http://127.0.0.1:{free_port()}")
                env = {**os.environ, "TALLY_KAFKA_BOOTSTRAP": bootstrap, "TALLY_EVENTS_TOPIC": events_topic}
                env |= {"TALLY_DIRECTORY_TOPIC": directory_topic, "TALLY_INGEST_HOST": "127.0.0.1"}
                env |= {"TALLY_INGEST_PORT": urls[-1].rsplit(":", 1)[1], "TALLY_INGEST_RATE_LIMIT_PER_SECOND": "1e12"}
                with open(tmp / f"ingest{n}.log", "wb") as log:
                    procs.append(subprocess.Popen(shlex.split(args.ingest_cmd), env=env, stdout=log, stderr=log))
                await wait_healthy(client, urls[-1], procs[-1], tmp / f"ingest{n}.log")
            await asyncio.gather(*(client.get(f"{u}/healthz") for u in urls for _ in range(args.concurrency)))
            warm = [body(c) for c in chunks(generate(len(batches[0]) * 32, tenant, 3), args.batch)]
            runs = [("warm-up", warm, False), ("I   ingest, JSON", bodies, False)]
            for name, items, gz in [*runs, ("Igz ingest, JSON + gzip", gz_bodies, True)]:
                poster = Poster(client, urls, ingest_key, gz)
                phase = await measured(Phase(name), ([p.pid for p in procs], broker), items, args.concurrency, poster)
                phase.events, phase.statuses, accepted = poster.accepted, poster.statuses, accepted + poster.accepted
                if items and name != "warm-up":
                    phases.append(phase)
                    print(f"{name.split()[0]} {phase.rate:,.0f} ev/s, statuses {dict(phase.statuses)}", flush=True)
            if args.profile_seconds > 0:
                poster = Poster(client, urls, ingest_key, False)
                profile_lines = await profile(poster, bodies, procs[0].pid, args)
                accepted += poster.accepted
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
    wrong = sum(n for p in phases[2:] for s, n in p.statuses.items() if s != 200)
    report(phases, args, wrong)
    if args.json:
        figures = {
            p.name.split()[0]: {"events_per_s": p.rate, "p50_ms": p.pct(0.5), "p99_ms": p.pct(0.99), "events": p.events}
            for p in phases
        }
        Path(args.json).write_text(
            json.dumps({"batch": args.batch, "concurrency": args.concurrency, "phases": figures})
        )
    stored = [await topic_size(bootstrap, t) for t in (raw_topic, f"{raw_topic}2")] + [
        await topic_events(bootstrap, events_topic)
    ]
    print(
        f"\nR topics hold {stored[0]:,} and {stored[1]:,} records (sent {args.events:,} each); the ingest topic "
        f"holds {stored[2]:,} events, events accepted (warm-up and profiling included) {accepted:,}: "
        f"{'OK' if stored[2] == accepted else 'MISMATCH'}\n"
    )
    print("\n".join(profile_lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--ingest-procs", type=int, default=1, help="ingest processes; senders alternate")
    parser.add_argument("--ingest-cmd", default=str(BIN / "tallystream-ingest"), help="command that runs ingest")
    parser.add_argument("--no-gzip", dest="gzip", action="store_false", help="skip the gzip phase")
    parser.add_argument("--profile-seconds", type=int, default=10 if shutil.which("py-spy", path=str(BIN)) else 0)
    parser.add_argument("--json", help="also write the phases' figures to this file")
    parser.add_argument("--profile-out", default=str(Path(tempfile.gettempdir()) / "ingest-profile.txt"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp_dir:
        tmp = Path(tmp_dir)
        if args.bootstrap:
            asyncio.run(run(args, args.bootstrap, tmp, None))
            return
        with broker(tmp / "var") as (bootstrap, pid):
            asyncio.run(run(args, bootstrap, tmp, pid))


if __name__ == "__main__":
    main()
