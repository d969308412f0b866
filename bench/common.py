"""Shared pieces of the benchmarks: a private broker, process CPU and memory, percentiles, provenance."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tenancy.replication import for_local_cluster, replication_env

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
UNLIMITED_VIEWS = {
    "TALLY_VIEWS_KEY_REQUESTS_PER_SECOND": "1000000",
    "TALLY_VIEWS_TENANT_REQUESTS_PER_SECOND": "1000000",
}
"""The views' request rate limits lifted: benchmarks time the queries, one key sending back to back."""


def say(text: str) -> None:
    """A progress line with the time of day."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def broker(var: Path) -> Iterator[tuple[str, int]]:
    """A Kafka broker of the project's own scripts on free ports, under `var`; yields (bootstrap, pid).
    One broker keeps one copy: this process and its children are told so (tenancy.replication)."""
    os.environ.update(replication_env(for_local_cluster(1)))
    port, controller = free_port(), free_port()
    env = {**os.environ, "TALLY_VAR": str(var), "KAFKA_PORT": str(port), "KAFKA_CONTROLLER_PORT": str(controller)}
    kafka = ["bash", str(REPO / "deploy/kafka/kafka.sh")]
    subprocess.run([*kafka, "start"], env=env, check=True, stdout=subprocess.DEVNULL)
    try:
        yield f"127.0.0.1:{port}", int((var / "kafka/kafka.pid").read_text())
    finally:
        subprocess.run([*kafka, "stop"], env=env, check=False, stdout=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int, peak: bool = False) -> float:
    """Resident memory of `pid` in MB (its high-water mark with `peak`)."""
    wanted = "VmHWM:" if peak else "VmRSS:"
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(wanted):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def git_commit() -> str:
    try:
        return subprocess.run(
            [shutil.which("git") or "/usr/bin/git", "rev-parse", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


async def topic_size(bootstrap: str, topic: str) -> int:
    """Records in `topic`: the sum over partitions of end minus beginning offsets."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap)  # subscribed: its metadata is loaded
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends, starts = await consumer.end_offsets(tps), await consumer.beginning_offsets(tps)
        return sum(ends[tp] - starts[tp] for tp in tps)
    finally:
        await consumer.stop()


async def topic_events(bootstrap: str, topic: str) -> int:
    """Events in `topic`: every record read from the start, batch records cut into their events."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from schemas.records import format_of, split_events

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(tps)
        events = 0
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for msgs in (await consumer.getmany(timeout_ms=1000, max_records=10000)).values():
                events += sum(len(split_events(format_of(m.headers), m.value)) for m in msgs)
        return events
    finally:
        await consumer.stop()
