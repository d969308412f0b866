"""What the worker does with one batch of records, in order; the Faust agent only feeds and acks it.

1. cut each record into its events (schemas.records: a batch record or a single event), decode,
   validate, bound-check and price (`processors.rows.build_batch`, pure); a record with broken
   framing is dead-lettered whole, an invalid event of a batch record alone (with its index);
2. classify against what is stored (`processors.dedup`): new, replayed, duplicate;
3. insert the new rows in one statement, retrying until the warehouse takes them (`processors.sink`);
4. add the counted rows to the windows of their offset range and upsert the touched rollup rows
   in one statement (`processors.windows`, `processors.ranges`);
5. send dead letters, each awaited until the broker acknowledged it.

`handle` returns up to which offset each partition may be acked: only complete ranges, so a
restart always re-reads a range from its start, whole records (see processors.ranges for the
argument). An event's place is (partition, offset, index): dedup (processors.dedup) recognises a
replay by it; a rollup row's version is the offset of its last record (a record is never cut).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from processors import metrics
from processors.dedup import classify, stored_sources
from processors.pricing import PriceBook
from processors.ranges import RangeBook, RangeUpdate
from processors.rows import Batch, DeadLetter, OverrideLookup, Record, Row, build_batch
from processors.sink import EventSink
from processors.windows import keys_of, rollup_row
from schemas.records import count_events
from storage import Warehouse

log = logging.getLogger(__name__)

SendDead = Callable[[DeadLetter], Awaitable[None]]
"""Publishes one dead letter and returns once the broker acknowledged it."""
ZoneLookup = Callable[[str], ZoneInfo]
"""tenant_id -> the time zone its windows are aligned to."""


@dataclass(frozen=True, slots=True)
class Handled:
    batch: Batch
    update: RangeUpdate
    late: int


def whole_record_batches(records: Sequence[Record], max_events: int) -> list[Sequence[Record]]:
    """`records` cut, in order, into batches of at most `max_events` events each, never cutting a
    record (one holding more goes alone): the rollup versions rest on whole records (processors.ranges)."""
    batches: list[Sequence[Record]] = []
    start, size = 0, 0
    for i, record in enumerate(records):
        n = count_events(record.format, record.value)
        if i > start and size + n > max_events:
            batches.append(records[start:i])
            start, size = i, 0
        size += n
    if start < len(records):
        batches.append(records[start:])
    return batches


class BatchHandler:
    def __init__(
        self,
        warehouse: Warehouse,
        events_sink: EventSink,
        rollups_sink: EventSink,
        database: str,
        send_dead: SendDead,
        overrides: OverrideLookup,
        zones: ZoneLookup,
        retention: timedelta,
        lateness: timedelta,
        range_span: int,
    ) -> None:
        self._warehouse = warehouse
        self._events = events_sink
        self._rollups = rollups_sink
        self._database = database
        self._send_dead = send_dead
        self._overrides = overrides
        self._zones = zones
        self._retention = retention
        self._lateness = lateness
        self._book = PriceBook()
        self.ranges = RangeBook(range_span)

    async def prepare(self, records: Sequence[Record], now: datetime) -> Any:
        """What the agent calls before `store`, possibly while the batch before is being stored. The row
        path handles the whole batch here (its range state moves with its writes, so nothing may be
        prepared ahead of them); the columnar path computes everything but the writes."""
        return await BatchHandler.handle(self, records, now)

    async def store(self, prepared: Any) -> Handled:
        """Write a batch `prepare`d, in order; returns once rows, rollups and dead letters are durable."""
        handled: Handled = prepared
        return handled

    async def handle(self, records: Sequence[Record], now: datetime) -> Handled:
        """Store one batch; returns once rows, rollups and dead letters are durable."""
        batch = build_batch(records, self._book, now, self._overrides, self._retention)
        stored = {}
        if batch.rows:
            lookup = functools.partial(stored_sources, self._warehouse, self._database, batch.rows)
            stored = await self._events.retrying(lookup)
        classified = classify(batch.rows, stored)
        batch.duplicates = classified.batch_duplicates
        await self._events.write(classified.new)
        update, late = self._aggregate(records, batch, classified.counted)
        await self._rollups.write([rollup_row(key, agg, p, r, v) for (p, r, key), (agg, v) in update.touched.items()])
        for dead in batch.dead:
            await self._send_dead(dead)
            metrics.DEAD_LETTERS.labels(metrics.dead_letter_reason(dead.reason)).inc()
            log.warning("dead-lettered a record: %s", dead.reason)
        metrics.EVENTS_STORED.inc(len(classified.new))
        metrics.DUPLICATES.labels("batch").inc(batch.duplicates)
        metrics.DUPLICATES.labels("stored").inc(classified.duplicates)
        metrics.REPLAYED.inc(len(classified.counted) - len(classified.new))
        metrics.UNKNOWN_MODEL.inc(batch.unknown_model)
        metrics.LATE.inc(late)
        return Handled(batch, update, late)

    def _aggregate(self, records: Sequence[Record], batch: Batch, counted: list[Row]) -> tuple[RangeUpdate, int]:
        """Walk the records in offset order: every record advances its partition's range, its
        counted events add to their windows in index order (too-late ones only to the 'late'
        counter of their arrival). `records` are whole records: none is cut between two batches."""
        counted_ids = {id(row) for row in counted}
        by_record: dict[tuple[int, int], list[tuple[Row, datetime, datetime | None]]] = {}
        for row, ts, arrival in zip(batch.rows, batch.times, batch.arrivals, strict=True):
            if id(row) in counted_ids:  # rows of a record come in index order (build_batch)
                by_record.setdefault((row["source_partition"], row["source_offset"]), []).append((row, ts, arrival))
        update, late = RangeUpdate(), 0
        for record in sorted(records, key=lambda r: (r.partition, r.offset)):
            current = self.ranges.advance(record.partition, record.offset, update, record.format is not None)
            for row, ts, arrival in by_record.get((record.partition, record.offset), ()):
                zone = self._zones(row["tenant_id"])
                if arrival is not None and arrival - ts > self._lateness:
                    late += 1
                    keys = keys_of(row, arrival, zone, kind="late")
                else:
                    keys = keys_of(row, ts, zone)
                self.ranges.add(current, record.partition, record.offset, keys, row, update)
        return update, late
