"""Delivery of alert notifications, apart from stream processing.

A `Deliverer` consumes the alert-state topic in its own consumer group and hands each record to its
tenant's lane (records are keyed by tenant): a lane finishes its tenant's ticks one after the other,
in order (processors.alerts.delivery: store the transitions, send each notification with retries,
record each outcome), and lanes run concurrently, at most `max_lanes` at once — so a slow or hostile
receiver delays its own tenant only (each request also has a total deadline: guards.outbound; each
tenant has at most `TALLY_ALERT_CONCURRENT_SENDS` sends in flight, and the connection pool has room
for every lane's: no tenant waits for a connection another holds). Records not signed by the engine
(tenancy.signing) are refused (processors.alerts.delivery).
Offsets are committed per partition only up to the lowest record not finished
(processors.alerts.offsets), so a restart re-reads every unfinished tick; a notification whose
delivery is already recorded is not sent again. The one window left open — a crash after the channel
accepted and before the outcome is recorded — resends once, with the same `X-Tally-Notification-Id`
(and PagerDuty's dedup key) for the receiver to drop. After a rebalance a record still running here
may also run on the new owner: the same id again, for the same reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from alerting.channels import SmtpSettings
from alerting.limits import AlertLimits, alert_limits
from alerting.rulebook import RuleBook
from guards.outbound import OutboundClient, OutboundSettings, Resolver
from processors.alerts.delivery import TickHandler
from processors.alerts.offsets import OffsetTracker
from storage import Warehouse
from tenancy.signing import signing_key as default_signing_key

log = logging.getLogger(__name__)

MAX_PENDING = 2000
"""Records fetched and not finished before fetching pauses (bounds memory when receivers are slow)."""


class _Revoked(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, deliverer: Deliverer) -> None:
        self._deliverer = deliverer

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._deliverer.commit()
        for partition in revoked:
            self._deliverer.tracker.forget(partition)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None


class Deliverer:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        warehouse: Warehouse,
        database: str,
        book: RuleBook,
        smtp: SmtpSettings | None = None,
        outbound: OutboundSettings | None = None,
        attempts: int = 6,
        backoff: float = 0.5,
        max_lanes: int = 64,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        signing_key: bytes | None = None,
        limits: AlertLimits | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self._bootstrap, self._topic, self._group = bootstrap, topic, group
        limits = limits or alert_limits()
        # one connection for every send that may be in flight: no tenant ever waits for another's
        self._http = OutboundClient(outbound, resolver, max_connections=max_lanes * limits.concurrent_sends)
        self.handler = TickHandler(
            warehouse, database, book, self._http, smtp, topic=topic, limits=limits, attempts=attempts,
            backoff=backoff, clock=clock, signing_key=signing_key if signing_key is not None else default_signing_key(),
        )  # fmt: skip
        self.tracker: OffsetTracker[TopicPartition] = OffsetTracker()
        self._slots = asyncio.Semaphore(max_lanes)
        self._lanes: dict[bytes, asyncio.Queue[Any]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        self._consumer.subscribe([self._topic], listener=_Revoked(self))
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="alert-deliverer")

    async def stop(self) -> None:
        for task in [*([self._task] if self._task else []), *self._workers]:
            task.cancel()
        for task in [*([self._task] if self._task else []), *self._workers]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self.commit()
            await self._consumer.stop()
        await self._http.aclose()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                if self.tracker.pending >= MAX_PENDING:
                    await asyncio.sleep(0.1)
                else:
                    batches = await self._consumer.getmany(timeout_ms=500)
                    for partition, records in batches.items():
                        for record in records:
                            self.tracker.add(partition, record.offset)
                            self._enqueue(partition, record)
                await self.commit()
            except asyncio.CancelledError:
                raise
            except Exception:  # the broker: nothing more committed than what is finished
                log.exception("alert delivery: fetching failed; retrying")
                await asyncio.sleep(1.0)

    def _enqueue(self, partition: TopicPartition, record: Any) -> None:
        lane_key = record.key or b""
        queue = self._lanes.get(lane_key)
        if queue is None:
            queue = self._lanes[lane_key] = asyncio.Queue()
            task = asyncio.create_task(self._lane(lane_key, queue), name="alert-lane")
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)
        queue.put_nowait((partition, record))

    async def _lane(self, lane_key: bytes, queue: asyncio.Queue[Any]) -> None:
        """One tenant's records in order; ends when its queue is empty (a new record starts a new lane)."""
        while not queue.empty():
            partition, record = queue.get_nowait()
            async with self._slots:
                await self.handler.handle_record(record.key, record.value, record.headers)
            self.tracker.done(partition, record.offset)
        del self._lanes[lane_key]  # no await since the emptiness check: nothing can slip in between

    async def commit(self) -> None:
        """Commit, per partition, up to the lowest record not finished."""
        if self._consumer is None:
            return
        offsets = self.tracker.committable()
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except Exception:  # a rebalance in progress: committed next time, or re-read by the new owner
            log.warning("alert delivery: commit failed; retrying later", exc_info=True)
            return
        self.tracker.committed(offsets)
