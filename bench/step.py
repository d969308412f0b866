"""The worker's batch step alone, in process, on chDB: where a batch's time goes.

    python bench/step.py --events 100000                 # batch records, columnar and row paths
    python bench/step.py --events 100000 --profile out.html   # and a pyinstrument profile of the columnar one

The same events as bench/slice.py, formed into batch records the way ingest forms them (one tenant's
requests of 100-500 events) or kept as single-event records (`--single`), go through
`ColumnarBatchHandler` and `BatchHandler` (processors.pipeline) with an embedded chDB warehouse each,
in batches of whole records of at most `--batch` events, as the agent hands them over. No broker:
this is the step between `noack_take` and the ack. Prints events/s of each path and their ratio,
rollup rows written per event, and the columnar step's wall time per stage (µs/event).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from slice import events as slice_events

from deploy.chaos_workload import topic_records
from processors.columnar_batch import ColumnarBatchHandler
from processors.pipeline import BatchHandler, whole_record_batches
from processors.rows import DeadLetter, Record
from processors.sink import EventSink
from schemas.ddl import render_ddl
from schemas.records import format_of
from schemas.rollups import render_rollup_ddl
from storage.chdb_store import ChdbWarehouse

DB = "bench"
UTC_ZONE = ZoneInfo("UTC")


def records(n: int, single: bool) -> list[Record]:
    now = datetime.now(UTC)
    formed = topic_records(slice_events(n), single_share=1.0 if single else 0.0)
    return [
        Record(key, value, 0, offset, now, format_of(headers)) for offset, (key, value, headers) in enumerate(formed)
    ]


class Stages:
    """Wall time per named stage, summed over batches."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start


def _instrument(handler: ColumnarBatchHandler, stages: Stages) -> None:
    """Wrap the columnar step's stages (methods of the handler and of its aggregation) with timers."""

    def wrap(owner: Any, name: str, label: str) -> None:
        inner: Callable[..., Any] = getattr(owner, name)
        if asyncio.iscoroutinefunction(inner):

            async def timed_async(*args: Any, **kwargs: Any) -> Any:
                with stages.stage(label):
                    return await inner(*args, **kwargs)

            setattr(owner, name, timed_async)
        else:

            def timed(*args: Any, **kwargs: Any) -> Any:
                with stages.stage(label):
                    return inner(*args, **kwargs)

            setattr(owner, name, timed)

    wrap(handler, "_decoded", "cut, decode, frame")
    wrap(handler, "_checked", "check, price")
    wrap(handler, "_stored_ids", "dedup lookup (overlapping)")
    insert_arrow = handler._warehouse.insert_arrow

    async def timed_insert(table: str, data: Any) -> None:
        with stages.stage(f"insert {table.rsplit('.', 1)[-1]} (Arrow)"):
            await insert_arrow(table, data)

    handler._warehouse.insert_arrow = timed_insert  # type: ignore[method-assign]
    wrap(handler._warehouse, "insert", "inserts (rows)")
    wrap(handler._columnar, "aggregate", "group-by")
    wrap(handler._columnar, "rows", "rollup rows to Arrow")
    wrap(handler._columnar, "partials", "partials (single-event ranges)")


async def run(kind: str, batches: list[list[Record]], events: int, stages: Stages | None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        warehouse = ChdbWarehouse(Path(tmp) / "chdb")
        for statement in render_ddl(DB) + render_rollup_ddl(DB, {"minute": 7, "hour": 400, "day": 1830}):
            await warehouse.execute(statement)

        async def send_dead(letter: DeadLetter) -> None:
            raise AssertionError(letter.reason)

        rollups = EventSink(warehouse, f"{DB}.rollups")
        cls = ColumnarBatchHandler if kind == "columnar" else BatchHandler
        handler = cls(
            warehouse,
            EventSink(warehouse, f"{DB}.events"),
            rollups,
            DB,
            send_dead,
            lambda *_: None,
            lambda _: UTC_ZONE,
            retention=timedelta(days=30),
            lateness=timedelta(hours=2),
            range_span=5000,
        )
        if stages is not None and isinstance(handler, ColumnarBatchHandler):
            _instrument(handler, stages)
        start = time.perf_counter()
        for batch in batches:
            await handler.handle(batch, datetime.now(UTC))
        elapsed = time.perf_counter() - start
        (row,) = await warehouse.query(f"SELECT sum(events) AS n FROM {DB}.rollups FINAL WHERE granularity = 'day'")
        assert int(row["n"]) == events, (row, events)
        await warehouse.close()
        return elapsed, rollups.rows_written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000, help="most events per batch (TALLY_BATCH_MAX)")
    parser.add_argument("--single", action="store_true", help="single-event records instead of batch records")
    parser.add_argument("--profile", help="write a pyinstrument HTML profile of the columnar step here")
    parser.add_argument("--only", choices=["columnar", "rows"], help="run one path only")
    args = parser.parse_args()
    formed = records(args.events, args.single)
    batches = [list(b) for b in whole_record_batches(formed, args.batch)]
    kind = "single-event" if args.single else "batch"
    print(f"{args.events:,} events in {len(formed):,} {kind} records, {len(batches)} batches of <= {args.batch:,}")
    results: dict[str, float] = {}
    stages = Stages()
    for path in ("columnar", "rows"):
        if args.only and path != args.only:
            continue
        profiler = None
        if args.profile and path == "columnar":
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="enabled")
            profiler.start()
        elapsed, written = asyncio.run(run(path, batches, args.events, stages if path == "columnar" else None))
        if profiler is not None:
            profiler.stop()
            Path(args.profile).write_text(profiler.output_html())
        results[path] = args.events / elapsed
        print(f"{path:>9}: {results[path]:>9,.0f} ev/s   {written / args.events:.2f} rollup rows per event")
    if len(results) == 2:
        print(f"columnar / rows = {results['columnar'] / results['rows']:.2f}")
    if stages.seconds:
        print("columnar step, wall µs per event:")
        for name, seconds in sorted(stages.seconds.items(), key=lambda kv: -kv[1]):
            print(f"  {name:<34} {seconds / args.events * 1e6:7.1f}")


if __name__ == "__main__":
    main()
