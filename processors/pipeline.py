"""What the worker does with one batch of records, in order; the Faust agent only feeds and acks it.

1. decode, validate, bound-check and price (`processors.rows.build_batch`, pure);
2. drop ids already stored (`processors.dedup`): a replayed batch finds its own rows;
3. insert the rest in one statement, retrying until the warehouse takes it (`processors.sink`);
4. send dead letters, each awaited until the broker acknowledged it.

Only when `handle` returns may the agent ack the batch's records (see processors.sink for why
that makes totals exact).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from processors import metrics
from processors.dedup import drop_stored, stored_ids
from processors.pricing import PriceBook
from processors.rows import Batch, DeadLetter, OverrideLookup, build_batch
from processors.sink import EventSink
from storage import Warehouse

log = logging.getLogger(__name__)

SendDead = Callable[[DeadLetter], Awaitable[None]]
"""Publishes one dead letter and returns once the broker acknowledged it."""


class BatchHandler:
    def __init__(
        self,
        warehouse: Warehouse,
        database: str,
        sink: EventSink,
        send_dead: SendDead,
        overrides: OverrideLookup,
        retention: timedelta,
    ) -> None:
        self._warehouse = warehouse
        self._database = database
        self._sink = sink
        self._send_dead = send_dead
        self._overrides = overrides
        self._retention = retention
        self._book = PriceBook()

    async def handle(self, records: Iterable[tuple[bytes | None, bytes]], now: datetime) -> Batch:
        """Store one batch of (key, value) records; returns once everything is durable."""
        batch = build_batch(records, self._book, now, self._overrides, self._retention)
        rows = batch.rows
        if rows:
            lookup = functools.partial(stored_ids, self._warehouse, self._database, batch.rows)
            rows = drop_stored(batch.rows, await self._sink.retrying(lookup))
            metrics.DUPLICATES.labels("stored").inc(len(batch.rows) - len(rows))
        await self._sink.write(rows)
        metrics.EVENTS_STORED.inc(len(rows))
        metrics.DUPLICATES.labels("batch").inc(batch.duplicates)
        metrics.UNKNOWN_MODEL.inc(batch.unknown_model)
        for dead in batch.dead:
            await self._send_dead(dead)
            metrics.DEAD_LETTERS.labels(metrics.dead_letter_reason(dead.reason)).inc()
            log.warning("dead-lettered a record: %s", dead.reason)
        if batch.unknown_model:
            log.info("%d llm_call events with a model genai-prices does not price", batch.unknown_model)
        return batch
