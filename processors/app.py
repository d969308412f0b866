"""The Faust app: wiring only. The work is done by `build_batch` and `EventSink`."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust

from processors import metrics
from processors.dedup import drop_stored, stored_ids
from processors.pricing import PriceBook
from processors.rows import build_batch
from processors.settings import WorkerSettings
from processors.sink import EventSink
from schemas.ddl import EVENTS_TABLE
from schemas.tenancy import PriceOverride
from storage import Warehouse
from tenancy.directory import Directory

log = logging.getLogger(__name__)


def create_app(
    settings: WorkerSettings,
    warehouse: Warehouse,
    database: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    directory: Directory | None = None,
) -> faust.App:
    """A Faust app whose agent prices events from the events topic and stores them in batches.

    `directory` (followed by the caller) supplies tenants' own prices; without it genai-prices alone.
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
        producer_enable_idempotence=True,
    )
    events_topic = app.topic(
        settings.events_topic,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )
    dlq_topic = app.topic(settings.dlq_topic, key_serializer="raw", value_serializer="raw")
    sink = EventSink(warehouse, f"{database}.{EVENTS_TABLE}")
    book = PriceBook()

    def overrides(tenant_id: str, provider: str, model: str) -> PriceOverride | None:
        tenant = directory.tenant(tenant_id) if directory is not None else None
        return tenant.price_overrides.get(f"{provider}/{model}") if tenant is not None else None

    @app.agent(events_topic)
    async def price_and_store(stream: Any) -> None:
        # Records are acked only after their rows are stored (see processors.sink).
        async for events in stream.noack_take(settings.batch_max, within=settings.batch_seconds):
            batch = build_batch(((ev.message.key, ev.message.value) for ev in events), book, clock(), overrides)
            rows = batch.rows
            if rows:
                # A replayed batch (crash after its insert, before the commit) finds its own rows here.
                stored = await sink.retrying(functools.partial(stored_ids, warehouse, database, batch.rows))
                rows = drop_stored(batch.rows, stored)
                metrics.DUPLICATES.labels("stored").inc(len(batch.rows) - len(rows))
            await sink.write(rows)
            metrics.EVENTS_STORED.inc(len(rows))
            metrics.DUPLICATES.labels("batch").inc(batch.duplicates)
            metrics.UNKNOWN_MODEL.inc(batch.unknown_model)
            for dead in batch.dead:
                delivered = await dlq_topic.send(
                    key=dead.key, value=dead.value, headers={"tally-error": dead.reason.encode()}
                )
                await delivered
                metrics.DEAD_LETTERS.labels(metrics.dead_letter_reason(dead.reason)).inc()
                log.warning("dead-lettered a record: %s", dead.reason)
            if batch.unknown_model:
                log.info("%d llm_call events with a model genai-prices does not price", batch.unknown_model)
            for ev in events:
                await stream.ack(ev)

    return app
