"""`tallystream-chaos` (`make chaos`): a known workload through crashes, then exact totals or exit 1.

Starts its own broker (deploy/kafka/kafka.sh, free ports, temporary data), a `tallystream-store`
(the embedded engine, so several processes share it) and `--workers` worker processes in one
consumer group. The workload goes to the topic as ingest and direct producers write it at once:
batch records of 100-500 events and, for `--single-share` of the events, single-event records.
While the workload is produced it SIGKILLs a random worker `--kills` times (and
restarts it), restarts the broker once, and kills the store for `--store-outage` seconds (every
write fails meanwhile). Then it waits for the pipeline to drain and compares the raw table and
the minute/hour/day rollups, per tenant, with totals computed from the workload itself. Prints a
JSON report (`expected`, `observed`, `lost`, `duplicated` per check) and exits 1 on any difference.

`--brokers 3` runs a three-node KRaft cluster instead (topics with replication factor 3 and
min.insync.replicas 2, every process given all three addresses); `--kill-broker-for-good` then
SIGKILLs node 1 mid-run instead of restarting the broker, and it never comes back. `--ingest` sends
the workload over HTTP through a `tallystream-ingest` process, as clients do: a 503 is re-sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from deploy import chaos_ingest
from deploy.chaos_cluster import Cluster, environment, replication_report
from deploy.chaos_workload import Expected, Workload, generate, topic_records
from deploy.topics import ensure_all_topics
from storage.remote import RemoteWarehouse
from storage.store_token import default_token_file
from tenancy.replication import for_local_cluster


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


async def _produce(
    bootstrap: str, topic: str, workload: Workload, seconds: float, cluster: Cluster, single_share: float
) -> None:
    """Send every event, `single_share` of them as single-event records and the rest in batch records
    formed like ingest forms them, spread over about `seconds`, retrying through broker restarts."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=10, compression_type="zstd"
    )
    records = topic_records(workload.records, single_share=single_share)  # batch records and single events
    await producer.start()
    try:
        chunk = 2000 if single_share >= 1 else 200
        pause = seconds / max(1, len(records) / chunk)
        for start in range(0, len(records), chunk):
            part = records[start : start + chunk]
            while True:
                try:
                    futures = [await producer.send(topic, value, key=key, headers=h) for key, value, h in part]
                    await asyncio.gather(*futures)
                    break
                except Exception as exc:  # broker restarting: send the chunk again (ids dedup)
                    cluster.log(f"produce failed ({type(exc).__name__}); retrying the chunk")
                    await asyncio.sleep(1)
            await asyncio.sleep(pause)
    finally:
        await producer.stop()


async def _chaos(
    cluster: Cluster,
    seconds: float,
    kills: int,
    broker_restart: bool,
    store_outage: float,
    rng: random.Random,
    kill_broker_for_good: bool = False,
) -> None:
    """Kill workers at random moments, restart the broker once (or kill one for good), take the store down once."""
    actions: list[tuple[float, str]] = [(rng.uniform(0.1, 0.9) * seconds, "kill") for _ in range(kills)]
    if broker_restart or kill_broker_for_good:
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
        elif action == "broker" and kill_broker_for_good:
            cluster.log("SIGKILL Kafka node 1 for good")
            await asyncio.to_thread(cluster.kafka, "kill", "1")
            cluster.killed_at = time.monotonic()
            cluster.log("Kafka node 1 is gone")
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


async def _start_ingest(cluster: Cluster, workload: Workload) -> dict[str, str]:
    """Every tenant of the workload with an ingest key, and a tallystream-ingest process; returns the keys."""
    env = cluster.env
    tenants = sorted({key.decode() for key, _ in workload.records})
    keys = await chaos_ingest.provision(env["TALLY_KAFKA_BOOTSTRAP"], env["TALLY_DIRECTORY_TOPIC"], tenants)
    cluster.spawn("ingest", "tallystream-ingest")
    await _wait_http(env["TALLY_INGEST_URL"], timeout=120)
    return keys


async def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.kill_broker_for_good and args.brokers < 3:
        raise SystemExit("--kill-broker-for-good needs --brokers 3 or more (the rest keep two copies)")
    rng = random.Random(args.seed)
    var = Path(tempfile.mkdtemp(prefix="tally-chaos-"))
    prefix = f"chaos{rng.randrange(10**6)}"
    replication = for_local_cluster(args.brokers)
    env = environment(args, var, prefix, replication)
    cluster = Cluster(var, env, args.workers)
    workload = generate(args.events, args.tenants, datetime.now(UTC), seed=args.seed)
    cluster.log(
        f"workload: {args.events} events + {workload.duplicates} re-sent, {workload.late} late, {args.tenants} tenants"
    )
    store = RemoteWarehouse(env["TALLY_STORE_URL"], token_file=default_token_file(Path(env["TALLY_CHDB_PATH"])))
    stats = chaos_ingest.IngestStats()
    try:
        cluster.kafka("start")
        bootstrap = env["TALLY_KAFKA_BOOTSTRAP"]
        topics = [env["TALLY_EVENTS_TOPIC"], env["TALLY_DLQ_TOPIC"], env["TALLY_DIRECTORY_TOPIC"]]
        await ensure_all_topics(bootstrap, topics[0], topics[1], topics[2], 6, replication=replication)
        cluster.spawn("store", "tallystream-store")
        await _wait_http(env["TALLY_STORE_URL"])
        for i in range(args.workers):
            cluster.spawn(f"worker-{i}", "tallystream-worker")
        keys = await _start_ingest(cluster, workload) if args.ingest else {}
        started = time.monotonic()
        send = (
            chaos_ingest.send(env["TALLY_INGEST_URL"], keys, workload, args.seconds, stats, lambda: cluster.killed_at)
            if args.ingest
            else _produce(bootstrap, env["TALLY_EVENTS_TOPIC"], workload, args.seconds, cluster, args.single_share)
        )
        await asyncio.gather(
            send,
            _chaos(
                cluster,
                args.seconds,
                args.kills,
                args.broker_restart,
                args.store_outage,
                rng,
                args.kill_broker_for_good,
            ),
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
        if args.ingest:  # every event acknowledged (after re-sends), nothing refused
            ok = ok and not stats.failures and stats.acknowledged == len(workload.records)
        return {
            "ok": ok,
            "events": args.events,
            "duplicates_sent": workload.duplicates,
            "late_sent": workload.late,
            "workers": args.workers,
            "brokers": args.brokers,
            "seconds_to_exact": round(drained, 1),
            "events_per_second": round(len(workload.records) / drained, 1),
            "chaos": cluster.events,
            "checks": report,
            "ingest": stats.report() if args.ingest else None,
            "replication": await replication_report(bootstrap, topics),
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
    p.add_argument("--brokers", type=int, choices=range(1, 6), default=1, help="Kafka nodes (3: a KRaft cluster)")
    p.add_argument(
        "--kill-broker-for-good", action="store_true", help="SIGKILL node 1 mid-run instead of restarting the broker"
    )
    p.add_argument("--ingest", action="store_true", help="send through tallystream-ingest over HTTP (503: re-send)")
    p.add_argument("--store-outage", type=float, default=8.0, help="seconds the store is down (0: never)")
    p.add_argument("--seconds", type=float, default=60.0, help="spread the workload over about this long")
    p.add_argument("--timeout", type=float, default=600.0, help="give up waiting for exact totals after this")
    p.add_argument("--range-span", type=int, default=5000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--single-share",
        type=float,
        default=0.25,
        help="share of events produced as single-event records; the rest go in batch records of 100-500 (1: none)",
    )
    return p


def main() -> None:
    report = asyncio.run(run(parser().parse_args()))
    print(json.dumps(report, indent=2))
    raise SystemExit(0 if report["ok"] else 1)
