"""The worker's batch step as columns: what `processors.pipeline.BatchHandler` does, a batch at a time.

The same steps, in the same order, with the same outcome (tests/unit/test_columnar_batch.py feeds the
same records to both and compares stored raw rows, rollup rows, dead letters and acks):

1. cut each record into its events (schemas.records; broken framing: the record is dead-lettered whole)
   and decode them in one call (`schemas.fast_events.decode_batch`: pydantic's verdicts and reasons);
2. refuse, as columns, events whose record key is not their tenant and events outside the time bounds
   (the raw retention, a day ahead; both relative to the record's Kafka timestamp), then drop a
   (tenant_id, event_id) seen earlier in the batch;
3. one polars frame of the events table's columns (`processors.event_frame`), priced by `PriceTable`
   (Int64 pico-USD, exactly `PriceBook`'s costs, statuses and unknown-model buckets, in event order);
4. classify against what is stored by (partition, offset, index) (processors.dedup's query) with joins;
5. insert the new rows as one Arrow batch (`Warehouse.insert_arrow`), retrying until stored;
6. aggregate the counted rows with `processors.columnar_rollups` and merge each (partition, range)'s
   partials into the open range at its last record (`RangeBook.add_partials`): the same `RangeUpdate`
   as the row path; rollup rows are written as rows through the rollups sink (`rollup_row`);
7. send dead letters, each awaited, and count the metrics the row path counts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

from processors import metrics
from processors.columnar_rollups import ColumnarAggregation, late_column
from processors.columnar_windows import zone_column
from processors.dedup import stored_ids_sql
from processors.event_frame import event_frame, events_table
from processors.pipeline import BatchHandler, Handled
from processors.price_table import PriceTable
from processors.ranges import RECORD_RANGES, RangeUpdate
from processors.rows import MAX_AHEAD, Batch, DeadLetter, Record
from processors.windows import rollup_row
from schemas.arrow import TABLE_SCHEMAS, arrow_table
from schemas.ddl import EVENTS_TABLE
from schemas.fast_events import decode_batch
from schemas.records import FramingError, split_events
from schemas.rollups import ROLLUPS_TABLE

log = logging.getLogger(__name__)

_US = pl.Datetime("us", "UTC")
_KEY = "record key is not the event's tenant_id"
_TOO_NEW = "timestamp more than a day in the future: not stored"
_PLACE = ("source_partition", "source_offset", "source_index")
Slotted = tuple[int, DeadLetter]
"""A dead letter and its slot (the order of dead letters: the row path's)."""
Letter = Callable[[int, str], Slotted]
_ROLLUPS_SCHEMA = TABLE_SCHEMAS[ROLLUPS_TABLE]


class _Expanded:
    """A batch's records cut into events: each event's bytes and where it came from, in order."""

    def __init__(self, records: Sequence[Record]) -> None:
        self.values: list[bytes] = []
        self.record_of: list[int] = []  # the record (index in `records`) of each event
        self.index: list[int] = []  # the event's index in its record
        self.dead: list[tuple[int, DeadLetter]] = []  # (slot, letter): slots order dead letters as the row path
        self.slot: list[int] = []  # each event's slot
        slot = 0
        for r, record in enumerate(records):
            try:
                values = split_events(record.format, record.value)
            except FramingError as exc:
                letter = DeadLetter(record.key, record.value, f"bad batch record: {exc}", format=record.format)
                self.dead.append((slot, letter))
                slot += 1
                continue
            n = len(values)
            self.values += values
            self.record_of += [r] * n
            self.index += range(n)
            self.slot += range(slot, slot + n)
            slot += n


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch ready to be written (`ColumnarBatchHandler.prepare`)."""

    handled: Handled
    events: pa.Table | None
    """The new raw rows (None: none)."""
    rollups: pa.Table | None
    """Rollup rows of the batch records' own ranges."""
    rows: pa.Table | list[dict[str, Any]]
    """Rollup rows of the single-event ranges the batch touched, as of its last record (an Arrow batch,
    or rows for a registry Arrow cannot carry: `last` measures)."""
    counts: tuple[int, int, int]
    """(new, duplicates of stored events, replayed) events."""


class ColumnarBatchHandler(BatchHandler):
    """`BatchHandler`'s contract (same constructor, `handle`, `ranges`), computed on columns."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._events_table = f"{self._database}.{EVENTS_TABLE}"
        self._rollups_table = f"{self._database}.{ROLLUPS_TABLE}"
        self._columnar = ColumnarAggregation()
        self._prices = PriceTable(self._book)  # prices through the same book (its caps and caches)
        self._unstored: pl.DataFrame | None = None  # the last prepared batch's new events (maybe in flight)

    async def handle(self, records: Sequence[Record], now: datetime) -> Handled:
        """Store one batch; returns once rows, rollups and dead letters are durable."""
        return await self.store(await self.prepare(records, now))

    async def prepare(self, records: Sequence[Record], now: datetime) -> Prepared:
        """Everything but the writes: decoded, priced, classified, aggregated into the ranges, the rows
        ready. Batches are prepared and stored in order, and one batch may be prepared while the one
        before is being stored: its new events count as stored for this batch's classification."""
        batch = Batch()
        frame, dead, letter = self._decoded(records, now)
        lookup = asyncio.ensure_future(self._stored_ids(frame))  # the dedup query runs on the engine's thread
        await asyncio.sleep(0)  # ... from now on, while the events are checked and priced here
        frame = self._checked(frame, dead, letter, batch)
        counted, new, batch.duplicates = self._classified(frame, await lookup)
        stamp = now.replace(microsecond=now.microsecond // 1000 * 1000)  # DateTime64(3), as the row path's text
        table = events_table(counted.with_columns(pl.col("ts").dt.truncate("1ms")), stamp)
        stored = table.filter(pa.array(new.to_numpy())) if new.any() else None
        self._unstored = counted.filter(new).select("tenant_id", "event_id", *_PLACE) if stored is not None else None
        update, late, complete = self._aggregate_columns(records, counted, table)
        rows = self._touched(update)  # as of now: the next batch may change the open ranges' aggregates
        if isinstance(rows, pa.Table) and complete is not None:  # one insert: each has a fixed cost
            complete, rows = pa.concat_tables([complete, rows]), []
        batch.dead = [slotted[1] for slotted in sorted(dead, key=lambda d: d[0])]
        new_count = int(new.sum())
        counts = (new_count, frame.height - counted.height - batch.duplicates, counted.height - new_count)
        return Prepared(Handled(batch, update, late), stored, complete, rows, counts)

    async def store(self, prepared: Prepared) -> Handled:
        """Write a prepared batch (raw rows, rollup rows, dead letters); returns once all are durable."""
        stored, complete = prepared.events, prepared.rollups
        if stored is not None:
            await self._events.retrying(lambda: self._warehouse.insert_arrow(self._events_table, stored))
            self._events.rows_written += stored.num_rows
        if complete is not None and complete.num_rows:
            await self._rollups.retrying(lambda: self._warehouse.insert_arrow(self._rollups_table, complete))
            self._rollups.rows_written += complete.num_rows
        rows = prepared.rows
        if isinstance(rows, pa.Table):
            if rows.num_rows:
                await self._rollups.retrying(lambda: self._warehouse.insert_arrow(self._rollups_table, rows))
                self._rollups.rows_written += rows.num_rows
        else:
            await self._rollups.write(rows)
        handled = prepared.handled
        batch = handled.batch
        for letter in batch.dead:
            await self._send_dead(letter)
            metrics.DEAD_LETTERS.labels(metrics.dead_letter_reason(letter.reason)).inc()
            log.warning("dead-lettered a record: %s", letter.reason)
        new_count, duplicates, replayed = prepared.counts
        metrics.EVENTS_STORED.inc(new_count)
        metrics.DUPLICATES.labels("batch").inc(batch.duplicates)
        metrics.DUPLICATES.labels("stored").inc(duplicates)
        metrics.REPLAYED.inc(replayed)
        metrics.UNKNOWN_MODEL.inc(batch.unknown_model)
        metrics.LATE.inc(handled.late)
        return handled

    def _touched(self, update: RangeUpdate) -> pa.Table | list[dict[str, Any]]:
        """The rows of the touched single-event ranges, as an Arrow batch when the registry allows it."""
        if not self._columnar.complete():
            return [rollup_row(key, agg, p, r, v) for (p, r, key), (agg, v) in update.touched.items()]
        entries = [(key, agg.values, p, r, v) for (p, r, key), (agg, v) in update.touched.items()]
        return arrow_table(_ROLLUPS_SCHEMA, self._columnar.aggregation.rollup_columns(entries))

    def _decoded(self, records: Sequence[Record], now: datetime) -> tuple[pl.DataFrame, list[Slotted], Letter]:
        """The batch's valid events as one frame with their places and record times; the dead letters so far
        (broken framing, invalid events); how to dead-letter an event of the frame (`event`) for a reason."""
        cut = _Expanded(records)
        decoded = decode_batch(cut.values)
        dead = cut.dead
        batched = [record.format is not None for record in records]

        def letter(event: int, reason: str) -> tuple[int, DeadLetter]:
            r = cut.record_of[event]
            index = cut.index[event] if batched[r] else None
            return cut.slot[event], DeadLetter(records[r].key, cut.values[event], reason, index)

        dead += [letter(bad.index, bad.reason) for bad in decoded.invalid]
        frame = event_frame(decoded.records)
        where = pl.Series(decoded.indices, dtype=pl.UInt32)
        rec = pl.Series(cut.record_of, dtype=pl.UInt32).gather(where)
        keys = [None if r.key is None else r.key.decode(errors="replace") for r in records]
        at = [r.timestamp if r.timestamp is not None else now for r in records]
        frame = frame.with_columns(
            event=where,
            key=pl.Series(keys, dtype=pl.String).gather(rec),
            arrival=pl.Series([r.timestamp for r in records], dtype=_US).gather(rec),
            at=pl.Series(at, dtype=_US).gather(rec),
            source_partition=pl.Series([r.partition for r in records], dtype=pl.UInt32).gather(rec),
            source_offset=pl.Series([r.offset for r in records], dtype=pl.UInt64).gather(rec),
            source_index=pl.Series(cut.index, dtype=pl.UInt32).gather(where),
            batched=pl.Series(batched, dtype=pl.Boolean).gather(rec),
        )
        return frame, dead, letter

    def _checked(self, frame: pl.DataFrame, dead: list[Slotted], letter: Letter, batch: Batch) -> pl.DataFrame:
        """The in-bound events of `frame` (copies of an id included), priced; refused ones are added to `dead`."""
        too_old = pl.col("ts") < pl.col("at") - pl.lit(self._retention)
        days = self._retention.days
        too_old_reason = f"timestamp older than the raw retention of {days} days: not stored" if self._retention else ""
        refused = (
            pl.when(pl.col("key").is_not_null() & (pl.col("key") != pl.col("tenant_id")))
            .then(pl.lit(_KEY))
            .when(too_old)
            .then(pl.lit(too_old_reason))
            .when(pl.col("ts") > pl.col("at") + pl.lit(MAX_AHEAD))
            .then(pl.lit(_TOO_NEW))
        )
        frame = frame.with_columns(refused=refused)
        bad = frame.filter(pl.col("refused").is_not_null())
        dead += [letter(e, reason) for e, reason in bad.select("event", "refused").iter_rows()]
        frame = frame.filter(pl.col("refused").is_null())
        return self._priced(frame, batch)

    def _priced(self, frame: pl.DataFrame, batch: Batch) -> pl.DataFrame:
        if frame.is_empty():
            return frame.with_columns(cost_pico=pl.lit(0, pl.Int64), price_status=pl.lit("not_applicable"))
        llm = pl.col("type") == "llm_call"
        calls = frame.select(
            "tenant_id",
            pl.when(llm).then(pl.col("provider")).alias("provider"),
            pl.when(llm).then(pl.col("model")).alias("model"),
            pl.col("ts").alias("timestamp"),
            *(pl.col(c).cast(pl.Int64) for c in ("input_tokens", "output_tokens", "cached_input_tokens")),
            pl.col("audio_seconds").cast(pl.Float64),
        )
        prices = self._prices.price(calls, self._overrides)
        status = prices.get_column("price_status").cast(pl.String)
        batch.unknown_model = int((status == "unknown_model").sum())
        return frame.with_columns(
            cost_pico=prices.get_column("cost_pico"),
            price_status=status,
            model=pl.when(llm).then(prices.get_column("model")).otherwise(pl.col("model")),
        )

    async def _stored_ids(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Where the ids of `frame` were stored from (processors.dedup's query), the batch being written included."""
        schema = {"tenant_id": pl.String, "event_id": pl.String, **dict.fromkeys(_PLACE, pl.Int64)}
        found: list[dict[str, Any]] = []
        if frame.height:
            params = {
                "tenants": sorted(frame.get_column("tenant_id").unique().to_list()),
                "ids": frame.get_column("event_id").to_list(),
            }

            async def lookup() -> list[dict[str, Any]]:
                return await self._warehouse.query(stored_ids_sql(self._database), params)

            found = await self._events.retrying(lookup)
        stored = pl.DataFrame(
            {
                "tenant_id": [str(r["tenant_id"]) for r in found],
                "event_id": [str(r["id"]) for r in found],
                **{c: [int(r[c]) for r in found] for c in _PLACE},
            },
            schema=schema,
        )
        if self._unstored is not None:  # the batch before may still be on its way: its new events count as stored
            stored = pl.concat([stored, self._unstored.cast(schema)])  # type: ignore[arg-type]
        return stored

    @staticmethod
    def _classified(frame: pl.DataFrame, stored: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series, int]:
        """The counted rows (new and replayed, in batch order), which of them are new, and how many copies
        of new ids came after their first place in the batch (processors.dedup.classify, on columns: the
        stored check first, so an event at its stored place counts whatever copies come before it)."""
        if frame.is_empty():
            return frame, pl.Series("new", [], dtype=pl.Boolean), 0
        identity = pl.struct("tenant_id", "event_id")
        if stored.is_empty():
            first = frame.select(identity.is_first_distinct()).to_series()
            return frame.filter(first), pl.Series("new", [True] * int(first.sum())), frame.height - int(first.sum())
        ids = stored.select("tenant_id", "event_id").unique().with_columns(stored=pl.lit(True))
        places = stored.unique().with_columns(here=pl.lit(True))
        marked = (
            frame.select("tenant_id", "event_id", *(pl.col(c).cast(pl.Int64) for c in _PLACE))
            .join(ids, on=["tenant_id", "event_id"], how="left", maintain_order="left")
            .join(places, on=["tenant_id", "event_id", *_PLACE], how="left", maintain_order="left")
            .select(
                new=pl.col("stored").is_null(),
                here=pl.col("here").fill_null(False),
                # among the new ones, the first copy of each id (stored ids' copies are told apart by place)
                first=pl.struct("tenant_id", "event_id", pl.col("stored").is_null()).is_first_distinct(),
            )
        )
        is_new = marked.get_column("new") & marked.get_column("first")
        keep = is_new | marked.get_column("here")
        copies = int((marked.get_column("new") & ~marked.get_column("first")).sum())
        return frame.filter(keep), is_new.filter(keep), copies

    def _aggregate_columns(
        self, records: Sequence[Record], counted: pl.DataFrame, table: pa.Table
    ) -> tuple[RangeUpdate, int, pa.Table | None]:
        """`BatchHandler._aggregate` on columns: every record advances its partition's range. A batch
        record's keys are a whole range: written straight from the group-by as Arrow rows (returned);
        each single-event range's partials are merged at its last record of the batch."""
        span = self.ranges.span
        by_range: dict[tuple[int, int], list[Any]] = {}
        late, complete = 0, None
        if counted.height:
            read = pl.from_arrow(table)
            assert isinstance(read, pl.DataFrame)
            offset = counted.get_column("source_offset")
            frame = read.with_columns(
                ts=counted.get_column("ts"),  # the event time at full precision (the table keeps ms)
                arrival=counted.get_column("arrival"),
                position=offset,
                range_id=pl.when(counted.get_column("batched")).then(offset + RECORD_RANGES).otherwise(offset // span),
                zone=zone_column(read.get_column("tenant_id"), self._zones),
            ).with_columns(late_column(pl.col("ts"), pl.col("arrival"), self._lateness))
            late = int(frame.get_column("late").sum())
            grouped = self._columnar.aggregate(frame)
            whole = pl.col("range_id") >= RECORD_RANGES
            if self._columnar.complete():
                complete = self._columnar.rows(grouped.filter(whole))
                grouped = grouped.filter(~whole)
            by_range = self._columnar.partials(grouped)
        update = RangeUpdate()
        ordered = sorted(records, key=lambda r: (r.partition, r.offset))
        for i, record in enumerate(ordered):
            current = self.ranges.advance(record.partition, record.offset, update, record.format is not None)
            nxt = ordered[i + 1] if i + 1 < len(ordered) else None
            if (
                nxt is None
                or nxt.format is not None
                or (nxt.partition, nxt.offset // span)
                != (
                    record.partition,
                    current.range_id,
                )
            ):
                mine = by_range.pop((record.partition, current.range_id), None)
                if mine:
                    self.ranges.add_partials(current, record.partition, mine, update)
        return update, late, complete
