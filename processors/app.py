"""The Faust app: wiring only. The work is done by `processors.pipeline.BatchHandler`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import faust
from faust.types import TP

from processors.alerts.service import CHECK_SECONDS, AlertService
from processors.columnar_batch import ColumnarBatchHandler
from processors.pipeline import BatchHandler, Handled, whole_record_batches
from processors.rows import DeadLetter, Record
from processors.seeks import SoughtPartitions
from processors.settings import WorkerSettings
from processors.sink import EventSink
from schemas.ddl import EVENTS_TABLE
from schemas.records import FORMAT_HEADER, format_of
from schemas.rollups import ROLLUPS_TABLE
from schemas.tenancy import PriceOverride
from storage import Warehouse
from tenancy.directory import Directory

log = logging.getLogger(__name__)


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _record(message: Any) -> Record:
    """The worker's view of a Faust message (its timestamp is the producer's CreateTime, in seconds)."""
    ts = datetime.fromtimestamp(message.timestamp, UTC) if message.timestamp else None
    return Record(message.key, message.value, message.partition, message.offset, ts, format_of(message.headers))


def dead_letter_headers(dead: DeadLetter) -> dict[str, bytes]:
    """Headers of a dead letter: the reason; the event's index in its batch record; the format of a
    whole batch record refused for its framing (so it can be republished as it was)."""
    headers = {"tally-error": dead.reason.encode()}
    if dead.index is not None:
        headers["tally-event-index"] = str(dead.index).encode()
    if dead.format is not None:
        headers[FORMAT_HEADER] = dead.format
    return headers


def create_app(
    settings: WorkerSettings,
    warehouse: Warehouse,
    database: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    directory: Directory | None = None,
    raw_retention_days: int = 30,
    alerts: AlertService | None = None,
) -> faust.App:
    """A Faust app whose agent prices events from the events topic and stores them in batches.

    `directory` (followed by the caller) supplies tenants' own prices; without it genai-prices alone.
    With `alerts`, the elected leader evaluates every alert rule after each stored batch and at least
    every `alert_interval_seconds`.
    """
    app = faust.App(
        settings.worker_group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        web_enabled=False,
        datadir=str(settings.data_dir),
        topic_partitions=settings.topic_partitions,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        topic_replication_factor=settings.kafka_replication_factor,  # its internal (leader) topic
        producer_enable_idempotence=True,
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=max(1.0, settings.session_timeout_seconds / 4),
        # a killed worker holds up a rebalance until this expires: keep it short, batches are short
        broker_rebalance_timeout=settings.session_timeout_seconds * 2,
        # records of an open range stay unacked by design (processors.ranges): waiting for them to be
        # acked before a rebalance or a shutdown would wait for the range to fill
        stream_wait_empty=False,
    )
    events_topic = app.topic(
        settings.events_topic,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )
    dlq_topic = app.topic(settings.dlq_topic, key_serializer="raw", value_serializer="raw")

    def overrides(tenant_id: str, provider: str, model: str) -> PriceOverride | None:
        tenant = directory.tenant(tenant_id) if directory is not None else None
        return tenant.price_overrides.get(f"{provider}/{model}") if tenant is not None else None

    async def send_dead(dead: DeadLetter) -> None:
        delivered = await dlq_topic.send(key=dead.key, value=dead.value, headers=dead_letter_headers(dead))
        await delivered

    def zone(tenant_id: str) -> ZoneInfo:
        tenant = directory.tenant(tenant_id) if directory is not None else None
        return _zone(tenant.timezone if tenant is not None else "UTC")

    handler = (ColumnarBatchHandler if settings.worker_path == "columnar" else BatchHandler)(
        warehouse,
        EventSink(warehouse, f"{database}.{EVENTS_TABLE}"),
        EventSink(warehouse, f"{database}.{ROLLUPS_TABLE}"),
        database,
        send_dead,
        overrides,
        zone,
        retention=timedelta(days=raw_retention_days),
        lateness=timedelta(seconds=settings.allowed_lateness_seconds),
        range_span=settings.range_span,
    )

    @app.agent(events_topic)
    async def price_and_store(stream: Any) -> None:
        # Records are acked only once their range is complete and stored (processors.ranges). A batch is
        # prepared (decoded, priced, aggregated: CPU) while the one before is being written (the engine
        # works on its own thread, or the server): at most one write in flight, batches written in order.
        pending: dict[int, list[Any]] = defaultdict(list)
        in_flight: tuple[asyncio.Future[Handled], list[Any]] | None = None
        # after a seek back, records queued in the stream and the take buffer still arrive first: dropped
        sought = SoughtPartitions(app.conf.stream_buffer_maxsize + settings.batch_max_records + 1)

        async def finish() -> None:
            nonlocal in_flight
            if in_flight is None:
                return
            written, part_events = in_flight
            handled = await asyncio.shield(written)  # a cancelled agent still lets the write land (finally)
            in_flight = None
            for partition in handled.update.restarted:
                pending[partition].clear()  # read again from an earlier offset: those will come back
            for ev in part_events:
                pending[ev.message.partition].append(ev)
            for partition, below in handled.update.ack_below.items():
                done = [ev for ev in pending[partition] if ev.message.offset < below]
                pending[partition] = [ev for ev in pending[partition] if ev.message.offset >= below]
                for ev in done:
                    await stream.ack(ev)

        async def write(prepared: Any) -> Handled:
            handled = await handler.store(prepared)
            if alerts is not None:
                alerts.changed()  # as soon as it is stored: the next take may be a while
            return handled

        try:
            async for taken in stream.noack_take(settings.batch_max_records, within=settings.batch_seconds):
                # records fetched before a rebalance belong to the old assignment: they come back
                generation = app.consumer_generation_id
                events = [
                    ev
                    for ev in taken
                    if ev.message.generation_id == generation
                    and sought.keep(ev.message.partition, ev.message.offset, generation)
                ]
                first: dict[int, int] = {}
                batched: set[int] = set()
                for ev in events:
                    if ev.message.partition not in first:
                        first[ev.message.partition] = ev.message.offset
                        if format_of(ev.message.headers) is not None:
                            batched.add(ev.message.partition)
                seeks = handler.ranges.realign(first, batched)
                if seeks:
                    await finish()  # its acks land before the sought partitions' pending acks are dropped
                for partition, offset in seeks.items():
                    await app.consumer.seek(TP(settings.events_topic, partition), offset)
                    pending[partition].clear()
                    highest = max(ev.message.offset for ev in events if ev.message.partition == partition)
                    sought.sought(partition, highest, generation)
                    events = [ev for ev in events if ev.message.partition != partition]
                if not events:
                    await finish()
                    continue
                records = [_record(ev.message) for ev in events]
                start = 0
                for part in whole_record_batches(records, settings.batch_max):  # bounded batches of whole records
                    part_events, start = events[start : start + len(part)], start + len(part)
                    prepared = await handler.prepare(part, clock())
                    await finish()
                    in_flight = (asyncio.ensure_future(write(prepared)), part_events)
        except Exception as exc:
            # A batch may be prepared (its ranges advanced) but never written: this agent's state is no
            # longer the stream's. Stop the worker; a restart re-reads from the committed offsets.
            log.exception("the batch step failed: stopping the worker")
            await app.crash(exc)
            raise
        finally:
            if in_flight is not None:  # stopping (rebalance, shutdown): let the write land, ack nothing more
                with contextlib.suppress(Exception):
                    await asyncio.shield(in_flight[0])

    if alerts is not None:

        @app.timer(min(CHECK_SECONDS, settings.alert_interval_seconds), on_leader=True)  # type: ignore[untyped-decorator]
        async def evaluate_alerts() -> None:
            if not alerts.due():
                return
            try:
                await alerts.evaluate(clock())
            except Exception:  # the next tick tries again; state moves only on durable writes
                log.exception("alert evaluation failed")

    return app
