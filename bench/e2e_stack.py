"""The processes of bench/e2e.py: topics, tenants and keys, `tallystream-ingest` and `tallystream-combined`,
and what is read off them (CPU per role, RSS, the worker's counters, consumer lag)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from common import BIN, CLK_TCK, UNLIMITED_VIEWS, cpu_seconds, free_port, rss_mb, topic_size

from deploy.topics import ensure_all_topics, ensure_topics
from processors.alerts.probe import PipelineProbe
from schemas.tenancy import TenantRecord
from tenancy.kafka_log import DirectoryWriter

STORED = "tally_worker_events_stored_total"


def _descendants(pid: int) -> list[int]:
    """`pid` and every process below it (a worker's helpers count as the worker's)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def _machine_cpu() -> float:
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLK_TCK  # every core's busy time: all but idle and iowait


class Stack:
    """Ingest and the worker (+ views API, embedded chDB) on the topics of `prefix`."""

    WORKER_COUNTS = {
        "duplicates_dropped": "tally_worker_duplicates_dropped_total",
        "dead_letters": "tally_worker_dead_letters_total",
        "late": "tally_worker_events_late_total",
        "replayed": "tally_worker_events_replayed_total",
    }

    def __init__(self, bootstrap: str, broker_pid: int | None, tmp: Path, prefix: str, ingest_procs: int) -> None:
        self.bootstrap, self.broker_pid, self.tmp, self.prefix = bootstrap, broker_pid, tmp, prefix
        self.events_topic, self.dlq_topic, self.directory_topic = f"{prefix}.raw", f"{prefix}.dlq", f"{prefix}.tenants"
        self.baseline_topic = f"{prefix}.baseline"
        self.ingest_urls = [f"http://127.0.0.1:{free_port()}" for _ in range(ingest_procs)]
        self.views_port, self.group = free_port(), f"{prefix}-worker"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.views = httpx.AsyncClient()
        self.probe = PipelineProbe(bootstrap, self.group, self.events_topic, self.dlq_topic, every=0)

    async def topics(self) -> None:
        await ensure_all_topics(self.bootstrap, self.events_topic, self.dlq_topic, self.directory_topic, partitions=6)
        await ensure_topics(self.bootstrap, [self.baseline_topic], partitions=6)

    async def start(self, tenants: list[str], args: argparse.Namespace) -> dict[str, str]:
        """Tenants and an ingest key each in the directory, then the worker and ingest; returns the keys."""
        writer, keys = DirectoryWriter(self.bootstrap, self.directory_topic), {}
        await writer.start()
        try:
            for tenant in tenants:
                await writer.put_tenant(TenantRecord(tenant_id=tenant, name=tenant, created_at=datetime.now(UTC)))
                keys[tenant] = (await writer.create_key(tenant, "ingest", "bench"))[0]
            admin = (await writer.create_key(None, "admin", "bench"))[0]
        finally:
            await writer.stop()
        topics = {"TALLY_KAFKA_BOOTSTRAP": self.bootstrap, "TALLY_EVENTS_TOPIC": self.events_topic}
        topics |= {"TALLY_DLQ_TOPIC": self.dlq_topic, "TALLY_DIRECTORY_TOPIC": self.directory_topic}
        worker = {
            **os.environ, **topics, "TALLY_WORKER_GROUP": self.group, "TALLY_DATABASE": "bench",
            "TALLY_ALERT_RULES_TOPIC": f"{self.prefix}.alert-rules",
            "TALLY_ALERT_STATE_TOPIC": f"{self.prefix}.alert-state",
            "TALLY_ALERT_DELIVERY_GROUP": f"{self.prefix}-delivery", "TALLY_CHDB_PATH": str(self.tmp / "chdb"),
            "TALLY_DATA_DIR": str(self.tmp / "faust"), "TALLY_VIEWS_PORT": str(self.views_port), **UNLIMITED_VIEWS,
        }  # fmt: skip
        worker.pop("CLICKHOUSE_URL", None)
        self._spawn("worker", "tallystream-combined", worker)
        views = f"http://127.0.0.1:{self.views_port}"
        self.views = httpx.AsyncClient(base_url=views, timeout=60, headers={"authorization": f"Bearer {admin}"})
        for n, url in enumerate(self.ingest_urls):
            env = {**os.environ, **topics, "TALLY_INGEST_HOST": "127.0.0.1", "TALLY_INGEST_PORT": url.rsplit(":", 1)[1]}
            env["TALLY_INGEST_RATE_LIMIT_PER_SECOND"] = "1e12"  # the per-tenant limit lifted: this measures throughput
            self._spawn(f"ingest{n}", "tallystream-ingest", env)
        for name, url in [("worker", views), *((f"ingest{n}", u) for n, u in enumerate(self.ingest_urls))]:
            await self._healthy(name, url)
        return keys

    def _spawn(self, name: str, exe: str, env: dict[str, str]) -> None:
        with open(self.tmp / f"{name}.log", "wb") as log:
            self.procs[name] = subprocess.Popen([str(BIN / exe)], env=env, stdout=log, stderr=log)

    async def _healthy(self, name: str, url: str) -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(1200):
                if self.procs[name].poll() is not None:
                    raise SystemExit(f"{name} exited:\n{(self.tmp / f'{name}.log').read_text()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise SystemExit(f"{name} not healthy after 120 s")

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each role, and of the whole machine (anything else running is in it too)."""
        ingest = [p.pid for n, p in self.procs.items() if n.startswith("ingest")]
        worker = _descendants(self.procs["worker"].pid) if "worker" in self.procs else []
        broker = _cpu([self.broker_pid]) if self.broker_pid else float("nan")
        return {
            "sender": time.process_time(), "ingest": _cpu(ingest), "broker": broker, "worker": _cpu(worker),
            "machine": _machine_cpu(),
        }  # fmt: skip

    async def metric(self, name: str) -> float:
        """The sum of a worker metric over its labels (0 when absent)."""
        text = (await self.views.get("/metrics")).text
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith((f"{name} ", f"{name}{{"))
        )

    async def sample(self, accepted: int) -> dict[str, float]:
        """The worker's RSS, ingest's, the group's lag in records and in events (accepted - stored)."""
        stored = await self.metric(STORED)
        lag = (await self.probe())["consumer_lag"]
        ingest = sum(rss_mb(p.pid) for n, p in self.procs.items() if n.startswith("ingest"))
        return {
            "worker_rss_mb": round(rss_mb(self.procs["worker"].pid), 1), "ingest_rss_mb": round(ingest, 1),
            "lag_records": int(lag), "lag_events": int(accepted - stored), "stored": int(stored),
        }  # fmt: skip

    async def topic_records(self, topic: str) -> int:
        """Records in `topic` (bench.common.topic_size)."""
        return await topic_size(self.bootstrap, topic)

    async def stop(self) -> None:
        await self.views.aclose()
        for proc in reversed(self.procs.values()):
            proc.terminate()
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                print(f"{name} did not stop within 60 s: killed")
