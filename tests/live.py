"""Running services for tests: the ingest app served over real HTTP, tenants and keys, topic reads."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn
from aiokafka import AIOKafkaConsumer

from deploy.topics import ensure_all_topics
from ingest.settings import IngestSettings
from schemas.records import format_of, split_events
from schemas.tenancy import TenantRecord
from tenancy.kafka_log import DirectoryWriter


@dataclass(frozen=True)
class Keys:
    tenant_id: str
    ingest: str
    read: str
    admin: str


@dataclass(frozen=True)
class IngestServer:
    url: str
    bootstrap: str
    events_topic: str
    dlq_topic: str
    directory_topic: str
    tenant: Keys
    other: Keys
    """A second tenant, for isolation tests."""
    operator_key: str
    app: Any


async def create_tenant(bootstrap: str, directory_topic: str, tenant_id: str, **settings: Any) -> Keys:
    from datetime import UTC, datetime

    writer = DirectoryWriter(bootstrap, directory_topic)
    await writer.start()
    try:
        await writer.put_tenant(
            TenantRecord(tenant_id=tenant_id, name=tenant_id, created_at=datetime.now(UTC), **settings)
        )
        keys = [(await writer.create_key(tenant_id, scope))[0] for scope in ("ingest", "read", "admin")]
    finally:
        await writer.stop()
    return Keys(tenant_id, *keys)


async def create_operator_key(bootstrap: str, directory_topic: str) -> str:
    writer = DirectoryWriter(bootstrap, directory_topic)
    await writer.start()
    try:
        return (await writer.create_key(None, "admin", "tests"))[0]
    finally:
        await writer.stop()


@contextmanager
def serve(app: Any, port: int) -> Iterator[str]:
    """Serve an ASGI app over real HTTP on 127.0.0.1:`port` from a thread, for the block's duration."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(600):
        if server.started or not thread.is_alive():
            break
        threading.Event().wait(0.05)
    if not server.started:
        raise RuntimeError("the test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


async def start_ingest_topics(bootstrap: str, prefix: str) -> tuple[str, str, str]:
    names = (f"{prefix}.raw", f"{prefix}.dlq", f"{prefix}.tenants")
    await ensure_all_topics(bootstrap, *names, partitions=6)
    return names


def ingest_settings(bootstrap: str, prefix: str, **overrides: Any) -> IngestSettings:
    return IngestSettings(
        kafka_bootstrap=bootstrap,
        events_topic=f"{prefix}.raw",
        directory_topic=f"{prefix}.tenants",
        **overrides,
    )


async def read_records(
    bootstrap: str, topic: str, want: int, max_wait_s: float = 10.0
) -> list[tuple[bytes | None, Any]]:
    """Every record of `topic` from the start, waiting up to `max_wait_s` for at least `want`."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    out: list[tuple[bytes | None, Any]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait_s
        while loop.time() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=300)).values():
                out += [(m.key, orjson.loads(m.value)) for m in msgs]
            if len(out) >= want:
                # one more short poll so that extra (unexpected) records are seen too
                for msgs in (await consumer.getmany(timeout_ms=300)).values():
                    out += [(m.key, orjson.loads(m.value)) for m in msgs]
                break
    finally:
        await consumer.stop()
    return out


@dataclass(frozen=True)
class TopicRecord:
    """One record of the events topic as read back: its place, key, headers and events."""

    partition: int
    offset: int
    key: bytes | None
    headers: list[tuple[str, bytes]]
    events: list[Any]
    """The record's events, decoded (one for a single-event record)."""


async def read_topic_records(
    bootstrap: str, topic: str, want_events: int, max_wait_s: float = 10.0
) -> list[TopicRecord]:
    """Every record of the events topic `topic` from the start, whatever its framing (schemas.records),
    waiting up to `max_wait_s` for records holding at least `want_events` events."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    out: list[TopicRecord] = []

    def take(msgs: Any) -> None:
        for m in msgs:
            headers = list(m.headers or [])
            events = [orjson.loads(e) for e in split_events(format_of(headers), m.value)]
            out.append(TopicRecord(m.partition, m.offset, m.key, headers, events))

    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait_s
        while loop.time() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=300)).values():
                take(msgs)
            if sum(len(r.events) for r in out) >= want_events:
                for msgs in (await consumer.getmany(timeout_ms=300)).values():  # unexpected extra records too
                    take(msgs)
                break
    finally:
        await consumer.stop()
    return out


async def read_events(
    bootstrap: str, topic: str, want: int, max_wait_s: float = 10.0
) -> list[tuple[bytes | None, Any]]:
    """Every event on the events topic `topic` as (record key, event), batch records cut into their
    events, waiting up to `max_wait_s` for at least `want`."""
    records = await read_topic_records(bootstrap, topic, want, max_wait_s)
    return [(r.key, event) for r in records for event in r.events]


class Combined:
    """`tallystream-combined` (worker + views, chDB) as a subprocess that can be stopped, killed and restarted
    on the same store, topics and groups."""

    def __init__(self, bootstrap: str, prefix: str, workdir: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.env = {
            **os.environ,
            "TALLY_KAFKA_BOOTSTRAP": bootstrap,
            "TALLY_EVENTS_TOPIC": f"{prefix}.raw",
            "TALLY_DLQ_TOPIC": f"{prefix}.dlq",
            "TALLY_DIRECTORY_TOPIC": f"{prefix}.tenants",
            "TALLY_ALERT_RULES_TOPIC": f"{prefix}.alert-rules",
            "TALLY_ALERT_STATE_TOPIC": f"{prefix}.alert-state",
            "TALLY_ALERT_DELIVERY_GROUP": f"{prefix}-delivery",
            "TALLY_WORKER_GROUP": f"{prefix}-worker",
            "TALLY_DATABASE": prefix.replace("-", "_").replace(".", "_"),
            "TALLY_CHDB_PATH": str(workdir / "chdb"),
            "TALLY_DATA_DIR": str(workdir / "faust"),
            "TALLY_VIEWS_PORT": str(self.port),
            "TALLY_BATCH_SECONDS": "0.2",
            **env,
        }
        self.env.pop("CLICKHOUSE_URL", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.workdir / f"combined-{self.starts}.log"

    async def start(self, timeout: float = 90) -> None:
        self.starts += 1
        exe = str(Path(sys.executable).with_name("tallystream-combined"))
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([exe], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        async with httpx.AsyncClient(base_url=self.url) as client:
            for _ in range(int(timeout / 0.2)):
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"combined did not come up: {self.log.read_text()[-3000:]}")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a service process: SIGTERM, then SIGKILL if it has not exited within 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
