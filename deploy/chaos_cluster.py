"""The processes of one chaos run (deploy/chaos.py): Kafka nodes, store, workers, ingest; their
environment, and how to kill and revive them."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from tenancy.replication import Replication, describe, replication_env

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
    killed_at: float | None = None
    """When a broker was killed for good (time.monotonic())."""

    def log(self, what: str) -> None:
        self.events.append(f"{time.strftime('%H:%M:%S')} {what}")
        print(f"[chaos] {what}", file=sys.stderr, flush=True)

    def kafka(self, *action: str) -> None:
        subprocess.run(["bash", str(KAFKA_SH), *action], env=self.env, check=action[0] != "stop", capture_output=True)

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


def environment(args: argparse.Namespace, var: Path, prefix: str, replication: Replication) -> dict[str, str]:
    """The environment of every process of the run: Kafka nodes on free ports, fresh names, the store."""
    ports = [_free_port() for _ in range(args.brokers)]
    store_port, ingest_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "TALLY_VAR": str(var),
        "KAFKA_NODES": str(args.brokers),
        "KAFKA_PORTS": ",".join(map(str, ports)),
        "KAFKA_CONTROLLER_PORTS": ",".join(str(_free_port()) for _ in ports),
        "TALLY_KAFKA_BOOTSTRAP": ",".join(f"127.0.0.1:{p}" for p in ports),  # every node: survive losing one
        **replication_env(replication),
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
        "TALLY_INGEST_PORT": str(ingest_port),
        "TALLY_INGEST_URL": f"http://127.0.0.1:{ingest_port}",
        # a request waiting for a partition whose leader died answers 503 after this, and is re-sent
        "TALLY_INGEST_PUBLISH_TIMEOUT_SECONDS": "3",
    }
    for name in ("CLICKHOUSE_URL", "KAFKA_PORT", "KAFKA_CONTROLLER_PORT"):
        env.pop(name, None)
    return env


async def replication_report(bootstrap: str, topics: list[str]) -> dict[str, Any]:
    """Per topic: replicas, min.insync.replicas and the smallest in-sync replica set now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        isr = {m["topic"]: min(len(p["isr"]) for p in m["partitions"]) for m in await admin.describe_topics(topics)}
        return {
            t.topic: {"replicas": t.replicas, "min_insync": t.min_insync, "smallest_isr": isr[t.topic]}
            for t in await describe(admin, topics)
        }
    finally:
        await admin.close()
