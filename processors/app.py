"""The Faust app: wiring only. The work is done by `processors.pipeline.BatchHandler`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

from processors.pipeline import BatchHandler
from processors.rows import DeadLetter
from processors.settings import WorkerSettings
from processors.sink import EventSink
from schemas.ddl import EVENTS_TABLE
from schemas.tenancy import PriceOverride
from storage import Warehouse
from tenancy.directory import Directory


def create_app(
    settings: WorkerSettings,
    warehouse: Warehouse,
    database: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    directory: Directory | None = None,
    raw_retention_days: int = 30,
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

    def overrides(tenant_id: str, provider: str, model: str) -> PriceOverride | None:
        tenant = directory.tenant(tenant_id) if directory is not None else None
        return tenant.price_overrides.get(f"{provider}/{model}") if tenant is not None else None

    async def send_dead(dead: DeadLetter) -> None:
        delivered = await dlq_topic.send(key=dead.key, value=dead.value, headers={"tally-error": dead.reason.encode()})
        await delivered

    handler = BatchHandler(
        warehouse,
        database,
        EventSink(warehouse, f"{database}.{EVENTS_TABLE}"),
        send_dead,
        overrides,
        timedelta(days=raw_retention_days),
    )

    @app.agent(events_topic)
    async def price_and_store(stream: Any) -> None:
        # Records are acked only once `handle` returned: their rows are stored (processors.pipeline).
        async for events in stream.noack_take(settings.batch_max, within=settings.batch_seconds):
            await handler.handle(((ev.message.key, ev.message.value) for ev in events), clock())
            for ev in events:
                await stream.ack(ev)

    return app
