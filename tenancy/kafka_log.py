"""The directory topic: following it into a `Directory`, and writing records to it.

Every role follows the whole (single-partition, compacted) topic from the beginning, without a
consumer group, so each process holds the full directory. A write is visible everywhere as soon as
followers fetch it: revocation takes effect within the fetch wait (`FOLLOW_WAIT_MS`), typically
well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.tenancy import (
    ApiKeyRecord,
    Scope,
    TenantRecord,
    key_record_key,
    new_key,
    tenant_record_key,
)
from tenancy.directory import Directory

log = logging.getLogger(__name__)

FOLLOW_WAIT_MS = 200


class DirectoryFollower:
    """Keeps a `Directory` up to date with the topic; `ready` once it has caught up at start."""

    def __init__(self, bootstrap: str, topic: str, directory: Directory | None = None) -> None:
        self.directory = directory or Directory()
        self.ready = asyncio.Event()
        self._bootstrap = bootstrap
        self._topic = topic
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self, timeout: float = 30.0) -> None:
        """Connect, and return once every record present at start has been applied."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=FOLLOW_WAIT_MS,
        )
        await consumer.start()
        self._consumer = consumer
        deadline = asyncio.get_running_loop().time() + timeout
        while self._topic not in await consumer.topics():
            if asyncio.get_running_loop().time() > deadline:
                await consumer.stop()
                raise RuntimeError(f"directory topic {self._topic!r} does not exist")
            await asyncio.sleep(0.2)
        # The directory topic has a single partition (see deploy.topics.ensure_all_topics): a total order.
        partitions = [0]
        assigned = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        end = await consumer.end_offsets(assigned)
        self._task = asyncio.create_task(self._follow(consumer, end), name="directory-follower")
        async with asyncio.timeout(timeout):
            await self.ready.wait()
        log.info("tenant directory loaded: %d tenants, %d keys", len(self.directory.tenants), len(self.directory.keys))

    async def _follow(self, consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> None:
        if all(offset == 0 for offset in end.values()):
            self.ready.set()
        while True:
            batches = await consumer.getmany(timeout_ms=FOLLOW_WAIT_MS)
            for records in batches.values():
                for record in records:
                    self.directory.apply(record.key, record.value)
            if not self.ready.is_set():
                positions = {tp: await consumer.position(tp) for tp in end}
                if all(positions[tp] >= end[tp] for tp in end):
                    self.ready.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


class DirectoryWriter:
    """Writes tenants and keys to the directory topic (acks=all: a return means it is durable)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._topic = topic
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def put_tenant(self, record: TenantRecord) -> None:
        await self._producer.send_and_wait(
            self._topic, record.model_dump_json().encode(), key=tenant_record_key(record.tenant_id)
        )

    async def create_key(self, tenant_id: str | None, scope: Scope, label: str = "") -> tuple[str, ApiKeyRecord]:
        """Create a key; returns (the plaintext key — shown this once, never stored — and its record)."""
        plaintext, key_id, digest = new_key()
        record = ApiKeyRecord(
            key_id=key_id,
            tenant_id=tenant_id,
            scope=scope,
            secret_sha256=digest,
            label=label,
            created_at=datetime.now(UTC),
        )
        await self._producer.send_and_wait(self._topic, record.model_dump_json().encode(), key=key_record_key(key_id))
        return plaintext, record

    async def revoke_key(self, record: ApiKeyRecord) -> ApiKeyRecord:
        """Mark a key revoked (kept, for the audit trail); followers refuse it from their next fetch."""
        revoked = record.model_copy(update={"revoked_at": datetime.now(UTC)})
        await self._producer.send_and_wait(
            self._topic, revoked.model_dump_json().encode(), key=key_record_key(record.key_id)
        )
        return revoked
