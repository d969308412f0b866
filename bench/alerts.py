"""Alert latency: from the triggering event's ingest 2xx to the webhook receiving the notification.

    .venv/bin/python bench/alerts.py --trials 100

Starts its own broker (deploy/kafka/kafka.sh on free ports), `tallystream-ingest` and
`tallystream-combined` (worker + views, default batch and alert intervals), and a local webhook
receiver. Trial i has its own rule — LLM requests of feature `trial-i` in the last 5 minutes > 0,
notifying the receiver — so each trial is one ok -> firing transition. A trial posts one event
through ingest, notes when the 2xx came back, and waits for the webhook naming its rule.
Prints p50/p95/max over the trials next to the raw floor of the same path in the same run: a
Kafka produce -> consume round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI, Request

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from common import broker, free_port, pct  # noqa: E402

from alerting.rulebook import dump  # noqa: E402
from deploy.topics import ensure_alert_topics, ensure_all_topics  # noqa: E402
from schemas.alerts import AlertRule, WebhookChannel, rule_record_key  # noqa: E402
from schemas.tenancy import TenantRecord  # noqa: E402
from tenancy.kafka_log import DirectoryWriter, KeyedLogWriter  # noqa: E402

SECRET = "bench-secret-0123456789"  # noqa: S105 (a local receiver's test key)


class Receiver:
    """A webhook endpoint noting when each rule's firing arrived."""

    def __init__(self) -> None:
        self.fired: dict[str, float] = {}
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> dict[str, bool]:
            arrived = time.perf_counter()
            for alert in orjson.loads(await request.body())["alerts"]:
                if alert["kind"] == "firing":
                    self.fired.setdefault(alert["rule_id"], arrived)
            return {"ok": True}

    def serve(self, port: int) -> uvicorn.Server:
        server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        return server


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit(log.read_text()[-3000:])
            try:
                if (await client.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


async def raw_round_trip(bootstrap: str, topic: str, n: int) -> list[float]:
    """Produce (acks=all) -> consume latency of single records, the floor under any stream alert."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="latest", fetch_max_wait_ms=10)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    await asyncio.sleep(1.0)
    times = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            await producer.send_and_wait(topic, str(i).encode())
            while True:
                batch = await consumer.getmany(timeout_ms=1000)
                if any(r.value == str(i).encode() for rs in batch.values() for r in rs):
                    break
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        await producer.stop()
        await consumer.stop()
    return times


async def run(args: argparse.Namespace, bootstrap: str, tmp: Path) -> None:
    prefix = f"bench-alerts-{uuid.uuid4().hex[:6]}"
    topics = {k: f"{prefix}.{k}" for k in ("raw", "dlq", "tenants", "alert-rules", "alert-state", "baseline")}
    await ensure_all_topics(bootstrap, topics["raw"], topics["dlq"], topics["tenants"], partitions=6)
    await ensure_alert_topics(bootstrap, topics["alert-rules"], topics["alert-state"])
    directory = DirectoryWriter(bootstrap, topics["tenants"])
    await directory.start()
    now = datetime.now(UTC)
    await directory.put_tenant(TenantRecord(tenant_id="bench", name="bench", created_at=now))
    ingest_key, _, _ = await directory.create_key("bench", "ingest")
    await directory.stop()

    receiver = Receiver()
    hook_port = free_port()
    server = receiver.serve(hook_port)
    rules = KeyedLogWriter(bootstrap, topics["alert-rules"])
    await rules.start()
    channel = WebhookChannel(url=f"http://127.0.0.1:{hook_port}/hook", secret=SECRET)
    for i in range(args.trials):
        rule = AlertRule(
            rule_id=f"trial-{i}", tenant_id="bench", name=f"trial {i}", metric="requests", window="5m",
            threshold=Decimal(0), filters={"feature": f"trial-{i}"}, channels=[channel], created_at=now, updated_at=now,
        )  # fmt: skip
        await rules.write(rule_record_key("bench", rule.rule_id), dump(rule))
    await rules.stop()

    ingest_port, views_port = free_port(), free_port()
    env = {
        **os.environ,
        "TALLY_KAFKA_BOOTSTRAP": bootstrap,
        "TALLY_EVENTS_TOPIC": topics["raw"],
        "TALLY_DLQ_TOPIC": topics["dlq"],
        "TALLY_DIRECTORY_TOPIC": topics["tenants"],
        "TALLY_ALERT_RULES_TOPIC": topics["alert-rules"],
        "TALLY_ALERT_STATE_TOPIC": topics["alert-state"],
        "TALLY_ALERT_DELIVERY_GROUP": f"{prefix}-delivery",
        "TALLY_WORKER_GROUP": f"{prefix}-worker",
        "TALLY_DATABASE": prefix.replace("-", "_"),
        "TALLY_CHDB_PATH": str(tmp / "chdb"),
        "TALLY_DATA_DIR": str(tmp / "faust"),
        "TALLY_VIEWS_PORT": str(views_port),
        "TALLY_INGEST_PORT": str(ingest_port),
        "TALLY_INGEST_HOST": "127.0.0.1",
        "TALLY_OUTBOUND_ALLOW_CIDRS": "127.0.0.0/8",  # the local receiver (non-public addresses are refused)
    }
    env.pop("CLICKHOUSE_URL", None)
    procs = []
    try:
        for name, port in (("combined", views_port), ("ingest", ingest_port)):
            log = tmp / f"{name}.log"
            with open(log, "wb") as out:
                procs.append(subprocess.Popen([str(BIN / f"tallystream-{name}")], env=env, stdout=out, stderr=out))
            await wait_healthy(f"http://127.0.0.1:{port}", procs[-1], log)
        await asyncio.sleep(3)  # the worker joins its group and becomes leader
        latencies: list[float] = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ingest_port}", timeout=30) as client:
            headers = {"authorization": f"Bearer {ingest_key}"}
            for i in range(args.trials):
                event = {
                    "event_id": str(uuid.uuid4()), "type": "llm_call", "tenant_id": "bench",
                    "timestamp": datetime.now(UTC).isoformat(), "provider": "openai", "model": "gpt-4o-mini",
                    "input_tokens": 100, "output_tokens": 20, "latency_ms": 300, "feature": f"trial-{i}",
                }  # fmt: skip
                response = await client.post("/v1/events", json=[event], headers=headers)
                acked = time.perf_counter()
                if response.status_code != 200:
                    raise SystemExit(f"ingest answered {response.status_code}: {response.text}")
                deadline = acked + 30
                while f"trial-{i}" not in receiver.fired:
                    if time.perf_counter() > deadline:
                        raise SystemExit(f"trial {i}: no notification within 30 s (see {tmp})")
                    await asyncio.sleep(0.005)
                latencies.append((receiver.fired[f"trial-{i}"] - acked) * 1000)
                if (i + 1) % 20 == 0:
                    print(
                        f"  {i + 1}/{args.trials} trials, p50 so far {statistics.median(latencies):.0f} ms", flush=True
                    )
                await asyncio.sleep(random.uniform(0.05, 1.0))  # arrive at any phase of the batch and timer cycles
            scrape = (await client.get(f"http://127.0.0.1:{views_port}/metrics")).text
            evaluation = [line for line in scrape.splitlines() if line.startswith("tally_alert_evaluation_seconds")]
            print("\n".join(evaluation), flush=True)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        server.should_exit = True
    floor = await raw_round_trip(bootstrap, topics["raw"].replace(".raw", ".dlq"), 50)
    print(f"\nalert latency, ingest 2xx -> webhook received, {len(latencies)} trials, {os.cpu_count()} CPUs")
    print(f"{'':32} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    raw_line = f"{statistics.median(floor):8.1f} {pct(floor, 0.95):8.1f} {max(floor):8.1f}"
    print(f"{'raw: Kafka produce -> consume':32} {raw_line}")
    print(
        f"{'alert: 2xx -> webhook':32} {statistics.median(latencies):8.1f} {pct(latencies, 0.95):8.1f} "
        f"{max(latencies):8.1f}   (target p95 <= 1000 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp_dir:
        tmp = Path(tmp_dir)
        if args.bootstrap:
            asyncio.run(run(args, args.bootstrap, tmp))
            return
        with broker(tmp / "var") as (bootstrap, _):
            asyncio.run(run(args, bootstrap, tmp))


if __name__ == "__main__":
    main()
