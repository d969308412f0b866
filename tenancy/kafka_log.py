"""The directory topic: following it into a `Directory`, and writing records to it.

Every role follows the whole (single-partition, compacted) topic from the beginning, without a
consumer group, so each process holds the full directory. A write is visible everywhere as soon as
followers fetch it: revocation takes effect within the fetch wait (`FOLLOW_WAIT_MS`), typically
well under a second.

Records are signed (`tenancy.signing`): a `KeyedLogWriter` signs and versions what it writes, a
`KeyedLogFollower` refuses what is not signed by the same key, so producing to the topic is not enough
to mint a key, and what is not newer than the record it holds for the key (`tenancy.ordering`), so
producing an old signed record again (a key's from before its revocation) is not enough either.
A follower also knows how long ago it last heard from the broker (`seconds_since_fetch`); a
`DirectoryFollower` gives that clock to its `Directory`, which refuses keys once it is stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from schemas.tenancy import (
    ApiKeyRecord,
    Scope,
    StoreSettings,
    TenantRecord,
    TenantSettingsRecord,
    key_record_key,
    new_key,
    settings_record_key,
    tenant_record_key,
)
from tenancy import replication as repl
from tenancy.directory import Directory
from tenancy.ordering import FollowsPosition, RecordVersions, log_clock
from tenancy.settings import tenancy_settings
from tenancy.signing import HEADER, VERSION_HEADER, signature, signed_version, signing_key, verify, version_header

log = logging.getLogger(__name__)

FOLLOW_WAIT_MS = 200


class Applies(Protocol):
    def apply(self, key: bytes | None, value: bytes | None, offset: int | None = None) -> None: ...


class KeyedLogFollower:
    """Applies every record of a single-partition compacted topic to `target`, from the beginning and
    then as they come; `ready` once it has caught up at start. A record not signed by `key` (default:
    this process's signing key), or whose version is not above the one held for its key (a replay),
    is refused: counted in `refused` and logged without its content. A target that `FollowsPosition`
    is told the offset of every record consumed."""

    def __init__(self, bootstrap: str, topic: str, target: Applies, key: bytes | None = None) -> None:
        self.target = target
        self.ready = asyncio.Event()
        self.refused = 0
        self._key = key if key is not None else signing_key()
        self._bootstrap = bootstrap
        self._topic = topic
        self.versions = RecordVersions(tenancy_settings().directory_remembered_deletions)
        self._clock = log_clock(topic)
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._last_fetch = float("-inf")  # never heard from the broker: stale until started
        self._last_poll_ms: int | None = None

    async def start(self, timeout: float = 30.0) -> None:
        """Connect, and return once every record present at start has been applied."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=FOLLOW_WAIT_MS,
        )
        await consumer.start()
        self._consumer = consumer
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while self._topic not in await consumer.topics():
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"topic {self._topic!r} does not exist")
                await asyncio.sleep(0.2)
            # Written to and read from partition 0 only (DirectoryWriter): one total order.
            partition = TopicPartition(self._topic, 0)
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            end = (await consumer.end_offsets([partition]))[partition]
            self._last_fetch = time.monotonic()
            self._task = asyncio.create_task(self._follow(consumer, partition, end), name=f"follow-{self._topic}")
            async with asyncio.timeout(timeout):
                await self.ready.wait()
        except BaseException:
            await self.stop()
            raise
        log.info("%s loaded (%d records)", self._topic, end)

    @property
    def seconds_since_fetch(self) -> float:
        """Seconds since the follower last heard from the broker (how stale the directory may be)."""
        return time.monotonic() - self._last_fetch

    def _heard(self, consumer: AIOKafkaConsumer, partition: TopicPartition) -> None:
        """Note a fetch response: `getmany` returns (empty) when the broker is away too, but the time
        of the partition's last fetch response only moves when the broker answered."""
        polled = consumer.last_poll_timestamp(partition)
        if polled is not None and polled != self._last_poll_ms:
            self._last_poll_ms = polled
            self._last_fetch = time.monotonic()

    def _apply(self, key: bytes | None, value: bytes | None, offset: int, headers: Sequence[tuple[str, bytes]]) -> None:
        try:
            refusal = self._refusal(key, value, headers)
            if refusal is None:
                try:
                    self.target.apply(key, value, offset)
                    return
                except Exception as exc:  # one bad record must not cost the rest of its fetch
                    refusal = f"could not be applied ({type(exc).__name__})"
            self.refused += 1
            self.on_refused()
            log.warning("refused a record of %s at offset %d: %s", self._topic, offset, refusal)
        finally:
            if isinstance(self.target, FollowsPosition):
                self.target.followed(offset)

    def _refusal(self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> str | None:
        """Why the record is refused (None: apply it); its version is held once it is admitted."""
        if not verify(self._key, self._topic, key, value, headers):
            return "not signed with the signing key"
        version = signed_version(self._key, self._topic, key, value, headers)
        if version is None:
            return "its version is not signed with the signing key"
        if key is None:
            return None  # no record of a keyed log; the target ignores it
        if not self.versions.admits(key, version, value is None):
            return "not newer than the record held for its key (a replayed record)"
        self._clock.observe(version)
        return None

    def on_refused(self) -> None:
        """Called for each refused record (subclasses count it where it is reported)."""

    async def _follow(self, consumer: AIOKafkaConsumer, partition: TopicPartition, end: int) -> None:
        if end == 0:
            self.ready.set()
        while True:
            try:
                batches = await consumer.getmany(partition, timeout_ms=FOLLOW_WAIT_MS)
                for record in batches.get(partition, []):
                    self._apply(record.key, record.value, record.offset, record.headers)
                self._heard(consumer, partition)
                if not self.ready.is_set() and await consumer.position(partition) >= end:
                    self.ready.set()
            except asyncio.CancelledError:
                raise
            except Exception:  # keep following: a frozen directory would keep revoked keys alive
                log.exception("fetch of %s failed; retrying", self._topic)
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None


class DirectoryFollower(KeyedLogFollower):
    """Keeps a `Directory` up to date with the directory topic."""

    def __init__(
        self, bootstrap: str, topic: str, directory: Directory | None = None, key: bytes | None = None
    ) -> None:
        self.directory = directory or Directory()
        super().__init__(bootstrap, topic, self.directory, key)
        self.directory.follow_clock(lambda: self.seconds_since_fetch)

    def on_refused(self) -> None:
        self.directory.refused_records += 1


class KeyedLogWriter:
    """Writes signed records to partition 0 of a compacted topic (acks=all: a return means it is
    durable), signed with `key` (default: this process's signing key)."""

    def __init__(self, bootstrap: str, topic: str, key: bytes | None = None) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._key = key if key is not None else signing_key()
        self._clock = log_clock(topic)
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect (the producer belongs to the running event loop, so it is made here)."""
        self._producer = AIOKafkaProducer(bootstrap_servers=self._bootstrap, acks="all", enable_idempotence=True)
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def write(self, key: bytes, value: bytes | None) -> int:
        """Write one record (None: a tombstone) to partition 0; returns its offset once it is durable."""
        return await self._write(key, value)

    async def _write(self, key: bytes, value: bytes | None) -> int:
        """Write one record to partition 0; returns its offset once it is durable."""
        if self._producer is None:
            raise RuntimeError("DirectoryWriter.start() was not called")
        version = self._clock.tick()  # above every version this process saw on the topic
        headers = [
            (HEADER, signature(self._key, self._topic, key, value)),
            (VERSION_HEADER, version_header(self._key, self._topic, key, value, version)),
        ]
        metadata = await self._producer.send_and_wait(self._topic, value, key=key, partition=0, headers=headers)
        return int(metadata.offset)


class DirectoryWriter(KeyedLogWriter):
    """Writes tenants and keys to the directory topic."""

    async def put_tenant(self, record: TenantRecord) -> int:
        """Write a tenant; returns the record's offset."""
        return await self._write(tenant_record_key(record.tenant_id), record.model_dump_json().encode())

    async def put_settings(self, tenant_id: str, store: StoreSettings) -> tuple[TenantSettingsRecord, int]:
        """Write a tenant's store settings (their own record); returns it and its offset."""
        record = TenantSettingsRecord(tenant_id=tenant_id, store=store, updated_at=datetime.now(UTC))
        return record, await self._write(settings_record_key(tenant_id), record.model_dump_json().encode())

    async def create_key(self, tenant_id: str | None, scope: Scope, label: str = "") -> tuple[str, ApiKeyRecord, int]:
        """Create a key; returns the plaintext key (shown this once, never stored), its record and offset."""
        plaintext, key_id, digest = new_key()
        record = ApiKeyRecord(
            key_id=key_id,
            tenant_id=tenant_id,
            scope=scope,
            secret_sha256=digest,
            label=label,
            created_at=datetime.now(UTC),
        )
        offset = await self._write(key_record_key(key_id), record.model_dump_json().encode())
        return plaintext, record, offset

    async def revoke_key(self, record: ApiKeyRecord) -> tuple[ApiKeyRecord, int]:
        """Mark a key revoked (kept, for the audit trail); followers refuse it from their next fetch."""
        revoked = record.model_copy(update={"revoked_at": datetime.now(UTC)})
        offset = await self._write(key_record_key(record.key_id), revoked.model_dump_json().encode())
        return revoked, offset

    async def delete_key(self, key_id: str) -> int:
        """Delete a (revoked) key's record: a tombstone; compaction removes it from the topic."""
        return await self._write(key_record_key(key_id), None)


async def ensure_keyed_log(
    bootstrap: str, topic: str, configs: dict[str, str], replication: repl.Replication | None = None
) -> None:
    """Create the single-partition topic `topic` with `configs` unless it exists (the broker does not
    auto-create topics), with `replication` (default: this process's settings, tenancy.replication);
    raises `TopicReplicationError` when the topic keeps fewer copies than that."""
    wanted = replication or repl.replication_from_env()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await repl.create_missing(
            admin, [NewTopic(topic, 1, wanted.factor, topic_configs=wanted.topic_configs(configs))], wanted
        )
        await repl.verify(admin, [topic], wanted)
    finally:
        await admin.close()
