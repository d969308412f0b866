"""Running services for tests: the ingest app served over real HTTP, tenants and keys, topic reads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import uvicorn
from aiokafka import AIOKafkaConsumer

from deploy.topics import ensure_all_topics
from ingest.settings import IngestSettings
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
