"""`tallystream-chaos` (`make chaos`): a known workload through crashes, then exact totals or exit 1.

Starts its own broker (deploy/kafka/kafka.sh, free ports, temporary data), a `tallystream-store`
(the embedded engine, so several processes share it) and `--workers` worker processes in one
consumer group. While the workload is produced it SIGKILLs a random worker `--kills` times (and
restarts it), restarts the broker once, and kills the store for `--store-outage` seconds (every
write fails meanwhile). Then it waits for the pipeline to drain and compares the raw table and
the minute/hour/day rollups, per tenant, with totals computed from the workload itself. Prints a
JSON report (`expected`, `observed`, `lost`, `duplicated` per check) and exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from deploy.chaos_workload import Expected, Workload, generate
from deploy.topics import ensure_all_topics
from storage.remote import RemoteWarehouse
from storage.store_token import default_token_file

KAFKA_SH = Path(__file__).with_name("kafka") / "kafka.sh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@dataclass
class Cluster:
    """The processes of one chaos run, and how to kill and revive them."""

    var: Path
    env: dict[str, str]
    workers: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    def log(self, what: str) -> None:
        self.events.append(f"{time.strftime('%H:%M:%S')} {what}")
        print(f"[chaos] {what}", file=sys.stderr, flush=True)

    def kafka(self, action: str) -> None:
        subprocess.run(["bash", str(KAFKA_SH), action], env=self.env, check=action == "start", capture_output=True)

    def spawn(self, name: str, command: str) -> None:
        out = open(self.var / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.procs[name] = subprocess.Popen([_bin(command)], env=self.env, stdout=out, stderr=out)

    def kill(self, name: str) -> None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def revive_exited(self) -> None:
        """Restart workers that died on their own (a supervisor's job; counted in the report)."""
        for i in range(self.workers):
            name = f"worker-{i}"
            if self.procs[name].poll() is not None:
                self.log(f"{name} exited with {self.procs[name].returncode}; restarting it")
                self.spawn(name, "tallystream-worker")

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.kill(name)
        self.kafka("stop")


async def _wait_http(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def _produce(bootstrap: str, topic: str, workload: Workload, seconds: float, cluster: Cluster) -> None:
    """Send every record, spread over about `seconds`, retrying through broker restarts."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=10)
    await producer.start()
    try:
        chunk = 2000
        pause = seconds / max(1, len(workload.records) / chunk)
        for start in range(0, len(workload.records), chunk):
            part = workload.records[start : start + chunk]
            while True:
                try:
                    futures = [await producer.send(topic, value, key=key) for key, value in part]
                    await asyncio.gather(*futures)
                    break
                except Exception as exc:  # broker restarting: send the chunk again (ids dedup)
                    cluster.log(f"produce failed ({type(exc).__name__}); retrying the chunk")
                    await asyncio.sleep(1)
            await asyncio.sleep(pause)
    finally:
        await producer.stop()


async def _chaos(
    cluster: Cluster, seconds: float, kills: int, broker_restart: bool, store_outage: float, rng: random.Random
) -> None:
    """Kill workers at random moments, restart the broker once, take the store down once."""
    actions: list[tuple[float, str]] = [(rng.uniform(0.1, 0.9) * seconds, "kill") for _ in range(kills)]
    if broker_restart:
        actions.append((rng.uniform(0.3, 0.6) * seconds, "broker"))
    if store_outage > 0:
        actions.append((rng.uniform(0.2, 0.8) * seconds, "store"))
    started = time.monotonic()
    for at, action in sorted(actions):
        await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))
        if action == "kill":
            name = f"worker-{rng.randrange(cluster.workers)}"
            cluster.log(f"SIGKILL {name}")
            cluster.kill(name)
            await asyncio.sleep(rng.uniform(0.5, 3))
            cluster.spawn(name, "tallystream-worker")
            cluster.log(f"restarted {name}")
        elif action == "broker":
            cluster.log("restarting the Kafka broker")
            await asyncio.to_thread(cluster.kafka, "stop")
            await asyncio.to_thread(cluster.kafka, "start")
            cluster.log("broker back")
        else:
            cluster.log(f"store down for {store_outage:.0f}s (SIGKILL)")
            cluster.kill("store")
            await asyncio.sleep(store_outage)
            cluster.spawn("store", "tallystream-store")
            await _wait_http(cluster.env["TALLY_STORE_URL"])
            cluster.log("store back")


_ROLLUP_CHECKS = tuple(
    f"rollup.{g}.{m}" for g in ("minute", "hour", "day") for m in ("events", "cost_usd", "input_tokens")
)
CHECKS = ("raw.events", "raw.cost_usd", "late.events", *_ROLLUP_CHECKS)


async def observe(store: RemoteWarehouse, database: str) -> dict[str, dict[str, Any]]:
    """Per check, per tenant, what the store holds now."""
    out: dict[str, dict[str, Any]] = {name: {} for name in CHECKS}
    raw = await store.query(
        f"SELECT tenant_id, count() AS n, sum(cost_usd) AS cost FROM {database}.events FINAL GROUP BY tenant_id"
    )
    for r in raw:
        out["raw.events"][r["tenant_id"]] = int(r["n"])
        out["raw.cost_usd"][r["tenant_id"]] = Decimal(r["cost"])
    rollups = await store.query(
        "SELECT granularity, tenant_id, type = 'late' AS late, sum(events) AS n, sum(cost_usd) AS cost, "
        f"sum(input_tokens) AS tokens FROM {database}.rollups FINAL GROUP BY granularity, tenant_id, late"
    )
    for r in rollups:
        tenant, g = r["tenant_id"], r["granularity"]
        if r["late"]:
            if g == "day":
                out["late.events"][tenant] = int(r["n"])
            continue
        out[f"rollup.{g}.events"][tenant] = int(r["n"])
        out[f"rollup.{g}.cost_usd"][tenant] = Decimal(r["cost"])
        out[f"rollup.{g}.input_tokens"][tenant] = int(r["tokens"])
    return out


def expected_checks(expected: Expected) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        "raw.events": dict(expected.raw_events),
        "raw.cost_usd": dict(expected.raw_cost),
        "late.events": dict(expected.late),
    }
    for g in ("minute", "hour", "day"):
        out[f"rollup.{g}.events"] = dict(expected.rollup_events)
        out[f"rollup.{g}.cost_usd"] = dict(expected.rollup_cost)
        out[f"rollup.{g}.input_tokens"] = dict(expected.rollup_input_tokens)
    return out


def _text(value: Any) -> str:
    return format(value.normalize(), "f") if isinstance(value, Decimal) else str(value)


def compare(expected: dict[str, dict[str, Any]], observed: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One report line per check: totals, and what was lost or counted twice (summed over tenants)."""
    report = []
    for name in CHECKS:
        want, got = expected[name], observed[name]
        tenants = sorted(set(want) | set(got))
        lost = sum((max(want.get(t, 0) - got.get(t, 0), 0) for t in tenants), type(next(iter(want.values()), 0))(0))
        extra = sum((max(got.get(t, 0) - want.get(t, 0), 0) for t in tenants), type(next(iter(want.values()), 0))(0))
        report.append(
            {
                "check": name,
                "expected": _text(sum(want.values())),
                "observed": _text(sum(got.values())),
                "lost": _text(lost),
                "duplicated": _text(extra),
                "tenants_off": [t for t in tenants if want.get(t, 0) != got.get(t, 0)][:10],
            }
        )
    return report


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    var = Path(tempfile.mkdtemp(prefix="tally-chaos-"))
    prefix = f"chaos{rng.randrange(10**6)}"
    kafka_port, store_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "TALLY_VAR": str(var),
        "KAFKA_PORT": str(kafka_port),
        "KAFKA_CONTROLLER_PORT": str(_free_port()),
        "TALLY_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
        "TALLY_EVENTS_TOPIC": f"{prefix}.raw",
        "TALLY_DLQ_TOPIC": f"{prefix}.dlq",
        "TALLY_DIRECTORY_TOPIC": f"{prefix}.tenants",
        "TALLY_WORKER_GROUP": f"{prefix}-workers",
        "TALLY_DATABASE": prefix,
        "TALLY_CHDB_PATH": str(var / "chdb"),
        "TALLY_DATA_DIR": str(var / "faust"),
        "TALLY_STORE_PORT": str(store_port),
        "TALLY_STORE_URL": f"http://127.0.0.1:{store_port}",
        "TALLY_BATCH_SECONDS": "0.3",
        "TALLY_RANGE_SPAN": str(args.range_span),
    }
    env.pop("CLICKHOUSE_URL", None)
    cluster = Cluster(var, env, args.workers)
    workload = generate(args.events, args.tenants, datetime.now(UTC), seed=args.seed)
    cluster.log(
        f"workload: {args.events} events + {workload.duplicates} re-sent, {workload.late} late, {args.tenants} tenants"
    )
    store = RemoteWarehouse(env["TALLY_STORE_URL"], token_file=default_token_file(Path(env["TALLY_CHDB_PATH"])))
    try:
        cluster.kafka("start")
        bootstrap = env["TALLY_KAFKA_BOOTSTRAP"]
        await ensure_all_topics(
            bootstrap, env["TALLY_EVENTS_TOPIC"], env["TALLY_DLQ_TOPIC"], env["TALLY_DIRECTORY_TOPIC"], 6
        )
        cluster.spawn("store", "tallystream-store")
        await _wait_http(env["TALLY_STORE_URL"])
        for i in range(args.workers):
            cluster.spawn(f"worker-{i}", "tallystream-worker")
        started = time.monotonic()
        await asyncio.gather(
            _produce(bootstrap, env["TALLY_EVENTS_TOPIC"], workload, args.seconds, cluster),
            _chaos(cluster, args.seconds, args.kills, args.broker_restart, args.store_outage, rng),
        )
        cluster.log(f"workload sent in {time.monotonic() - started:.1f}s; waiting for the pipeline to drain")
        want = expected_checks(workload.expected)
        deadline = time.monotonic() + args.timeout
        observed: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            cluster.revive_exited()
            try:
                observed = await observe(store, prefix)
            except Exception as exc:  # the store is busy: ask again
                cluster.log(f"query failed: {exc}")
            if observed and all(observed[name] == want[name] for name in CHECKS):
                break
            await asyncio.sleep(2)
        drained = time.monotonic() - started
        report = compare(want, observed) if observed else []
        ok = bool(report) and all(
            line["lost"] == line["duplicated"] == "0" and not line["tenants_off"] for line in report
        )
        return {
            "ok": ok,
            "events": args.events,
            "duplicates_sent": workload.duplicates,
            "late_sent": workload.late,
            "workers": args.workers,
            "seconds_to_exact": round(drained, 1),
            "events_per_second": round(len(workload.records) / drained, 1),
            "chaos": cluster.events,
            "checks": report,
        }
    finally:
        await store.close()
        cluster.stop_all()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=200_000)
    p.add_argument("--tenants", type=int, default=40)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--broker-restart", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--store-outage", type=float, default=8.0, help="seconds the store is down (0: never)")
    p.add_argument("--seconds", type=float, default=60.0, help="spread the workload over about this long")
    p.add_argument("--timeout", type=float, default=600.0, help="give up waiting for exact totals after this")
    p.add_argument("--range-span", type=int, default=5000)
    p.add_argument("--seed", type=int, default=7)
    return p


def main() -> None:
    report = asyncio.run(run(parser().parse_args()))
    print(json.dumps(report, indent=2))
    raise SystemExit(0 if report["ok"] else 1)
