"""The raw baselines the worker is measured against, on the benchmark's topics (bench/run.py).

B1  raw consume: aiokafka getmany() of a topic from the start, no decoding; on batch records the
    records are cut into their events (schemas.records.split_events, no validation);
B2  raw compute: B1 plus the worker's compute without any I/O: for single-event records the row
    path's build_batch (decode, validate, price) and the windows in memory; for batch records the
    columnar batch step (`ColumnarBatchHandler.prepare`) on batches of whole records of up to 20,000
    events (TALLY_BATCH_MAX), as the worker cuts them, against a warehouse that holds nothing, after
    an untimed warm-up (the process's one-off costs, paid by a throwaway handler);
B3  raw sink: the priced rows and their rollup rows inserted into chDB at the row path's batch size.
"""

from __future__ import annotations

import inspect
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from workload import batch_records, event

from processors.columnar_batch import ColumnarBatchHandler
from processors.pricing import PriceBook
from processors.rows import DeadLetter, Record, build_batch
from processors.settings import WorkerSettings
from processors.sink import EventSink
from processors.windows import UTC_ZONE, Agg, keys_of, rollup_row
from schemas.ddl import render_ddl
from schemas.records import count_events, format_of, split_events
from schemas.rollups import render_rollup_ddl
from storage.chdb_store import ChdbWarehouse

BATCH = 5000
"""Records per getmany(), and rows per insert of B3."""
DEFAULTS = {name: field.default for name, field in WorkerSettings.model_fields.items()}
"""The worker's defaults (batch_max, range_span, allowed_lateness_seconds): what `make bench` runs."""


def events_in(messages: Sequence[Any]) -> int:
    """Events in Kafka messages, each record cut into its events (no validation)."""
    return sum(len(split_events(format_of(m.headers), m.value)) for m in messages)


def events_counted(messages: Sequence[Any]) -> int:
    """Events in Kafka messages, counted without cutting the records."""
    return sum(count_events(format_of(m.headers), m.value) for m in messages)


async def drain(
    bootstrap: str, topic: str, n: int, handle: Any = None, count: Callable[[Sequence[Any]], int] = len
) -> float:
    """Consume `topic` from the start until `count` has counted `n` (records by default) in getmany()
    batches; `handle(messages)` per batch (awaited if it returns an awaitable, `handle.finish()` at the
    end if it has one). Returns n per second."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False,
        group_id=f"bench-{uuid.uuid4().hex[:6]}", max_partition_fetch_bytes=4 << 20,
    )  # fmt: skip
    await consumer.start()
    seen, start = 0, time.perf_counter()
    try:
        while seen < n:
            for messages in (await consumer.getmany(timeout_ms=1000, max_records=BATCH)).values():
                seen += count(messages)
                if handle is not None and inspect.isawaitable(done := handle(messages)):
                    await done
        if (finish := getattr(handle, "finish", None)) is not None:
            await finish()
    finally:
        elapsed = time.perf_counter() - start
        await consumer.stop()
    return n / elapsed


class Compute:
    """B2 of single-event records: decode, validate, price (the row path's build_batch) and aggregate
    into windows in memory."""

    def __init__(self) -> None:
        self.book, self.now = PriceBook(), datetime.now(UTC)
        self.windows: dict[Any, Agg] = defaultdict(Agg)
        self.rows: list[dict[str, Any]] = []
        self.keep = True

    def __call__(self, messages: list[Any]) -> None:
        batch = build_batch(
            [Record(m.key, m.value, m.partition, m.offset) for m in messages], self.book, self.now,
            retention=timedelta(days=30),
        )  # fmt: skip
        for row, ts in zip(batch.rows, batch.times, strict=True):
            for key in keys_of(row, ts, UTC_ZONE):
                self.windows[key].add_row(row)
        if self.keep:
            self.rows.extend(batch.rows)


class NothingStored:
    """A warehouse that holds nothing and is never written to: the dedup lookup finds no event."""

    async def query(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return []


class ColumnarCompute:
    """B2 of batch records: the worker's columnar batch step without its writes (`prepare`: cut, decode,
    check, frame, price, classify, Arrow rows, group-by into the records' ranges), on batches of whole
    records of at most `batch_max` events, cut from what getmany() returns as the worker cuts them."""

    def __init__(self, batch_max: int = DEFAULTS["batch_max"]) -> None:
        async def send_dead(letter: DeadLetter) -> None:
            raise AssertionError(f"the benchmark's events are valid: {letter.reason}")

        nothing: Any = NothingStored()
        self.handler = ColumnarBatchHandler(
            nothing, EventSink(nothing, "bench.events"), EventSink(nothing, "bench.rollups"), "bench", send_dead,
            lambda *_: None, lambda _: UTC_ZONE, retention=timedelta(days=30),
            lateness=timedelta(seconds=DEFAULTS["allowed_lateness_seconds"]), range_span=DEFAULTS["range_span"],
        )  # fmt: skip
        self.batch_max = batch_max
        self.pending: list[Record] = []
        self.pending_events = 0
        self.events = self.rollup_rows = self.batches = 0

    async def __call__(self, messages: list[Any]) -> None:
        for m in messages:
            record = Record(
                m.key, m.value, m.partition, m.offset, datetime.fromtimestamp(m.timestamp / 1000, UTC),
                format_of(m.headers),
            )  # fmt: skip
            size = count_events(record.format, record.value)
            if self.pending and self.pending_events + size > self.batch_max:
                await self.finish()
            self.pending.append(record)
            self.pending_events += size

    @staticmethod
    async def warm_up(events: int = 2000) -> None:
        """Pay the process's one-off costs (polars' first plans, price data, decoders) before B2 is timed:
        a throwaway handler on events of its own (about half of a first 20,000-event batch's time)."""
        rng, now = random.Random(3), datetime.now(UTC)
        formed = batch_records([event(rng, now, i, 20) for i in range(events)])
        records = [Record(k, v, 0, offset, now, format_of(h)) for offset, (k, v, h) in enumerate(formed)]
        await ColumnarCompute().handler.prepare(records, now)

    async def finish(self) -> None:
        """Prepare the batch gathered so far."""
        if not self.pending:
            return
        prepared = await self.handler.prepare(self.pending, datetime.now(UTC))
        self.events += prepared.counts[0]
        self.rollup_rows += prepared.rollups.num_rows if prepared.rollups is not None else 0
        self.batches += 1
        self.pending, self.pending_events = [], 0


async def sink(rows: list[dict[str, Any]], windows: dict[Any, Agg], tmp: Path) -> tuple[float, int]:
    """B3: the priced rows and their rollup rows inserted into chDB in pipeline-sized batches."""
    wh = ChdbWarehouse(tmp / "sink")
    retention = {"minute": 7, "hour": 400, "day": 1830}
    for statement in render_ddl("sink") + render_rollup_ddl("sink", retention):
        await wh.execute(statement)
    rollups = [rollup_row(k, agg, 0, 0, 1) for k, agg in windows.items()]
    start = time.perf_counter()
    for i in range(0, len(rows), BATCH):
        await wh.insert("sink.events", rows[i : i + BATCH])
    for i in range(0, len(rollups), BATCH):
        await wh.insert("sink.rollups", rollups[i : i + BATCH])
    elapsed = time.perf_counter() - start
    await wh.close()
    return (len(rows) + len(rollups)) / elapsed, len(rollups)
