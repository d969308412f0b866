"""The Faust app: wiring only. The work is done by `build_batch` and `EventSink`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import faust

from processors.pricing import PriceBook
from processors.rows import build_batch
from processors.settings import WorkerSettings
from processors.sink import EventSink
from schemas.ddl import EVENTS_TABLE
from storage import Warehouse

log = logging.getLogger(__name__)


def create_app(
    settings: WorkerSettings,
    warehouse: Warehouse,
    database: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> faust.App:
    """A Faust app whose agent prices events from the events topic and stores them in batches."""
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

    @app.agent(events_topic)
    async def price_and_store(stream: Any) -> None:
        # Records are acked only after their rows are stored (see processors.sink).
        async for events in stream.noack_take(settings.batch_max, within=settings.batch_seconds):
            batch = build_batch(((ev.message.key, ev.message.value) for ev in events), book, clock())
            await sink.write(batch.rows)
            for dead in batch.dead:
                delivered = await dlq_topic.send(
                    key=dead.key, value=dead.value, headers={"tally-error": dead.reason.encode()}
                )
                await delivered
                log.warning("dead-lettered a record: %s", dead.reason)
            if batch.unknown_model:
                log.info("%d llm_call events with a model genai-prices does not price", batch.unknown_model)
            for ev in events:
                await stream.ack(ev)

    return app
