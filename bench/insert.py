"""Insert cost on the embedded engine: JSONEachRow (today) against Arrow batches, same run.

    python -m bench.insert [--sizes 5000,50000] [--repeat 3]

For the events table and the rollups table, at each size: µs per row of
- json: encode the rows as JSONEachRow, then `INSERT ... FORMAT JSONEachRow` (what `insert` does);
- json (engine only): the insert of already encoded rows;
- arrow: build the Arrow batch from column lists, then `insert_arrow` (`INSERT ... SELECT ... FROM Python()`);
- arrow (engine only): `insert_arrow` of a built batch;
and the ratio json/arrow. Then the overlap: inserting batch N on the engine's thread while the
event loop computes batch N+1 (chDB releases the GIL), against the two one after the other.
Figures are medians of `--repeat` runs; the machine is shared, so read the ratios, not the absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from schemas.arrow import TABLE_SCHEMAS, arrow_table
from schemas.ddl import EVENTS_COLUMN_NAMES, ch_datetime64
from schemas.rollups import LATENCY_BOUNDS_MS, ROLLUP_COLUMN_NAMES
from storage.base import encode_json_each_row
from storage.chdb_store import ChdbWarehouse
from storage.factory import WarehouseSettings, create_schema

DB = "bench_insert"
MODELS = [("openai", f"gpt-{i}") for i in range(4)] + [("anthropic", f"claude-{i}") for i in range(4)]


def event_columns(n: int, seed: int = 1) -> dict[str, list[Any]]:
    """`n` events as column lists: 4 in 5 LLM calls, the rest messages, 200 tenants, 8 models."""
    rnd = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    cols: dict[str, list[Any]] = {name: [] for name in EVENTS_COLUMN_NAMES}
    for i in range(n):
        llm = rnd.random() < 0.8
        provider, model = MODELS[rnd.randrange(len(MODELS))] if llm else ("", "")
        values: dict[str, Any] = {
            "tenant_id": f"tenant-{rnd.randrange(200):03d}",
            "event_id": str(uuid.UUID(int=rnd.getrandbits(128))),
            "type": "llm_call" if llm else "message",
            "ts": now - timedelta(milliseconds=rnd.randrange(600_000)),
            "session_id": f"s-{rnd.randrange(5000)}",
            "end_user_id": f"u-{rnd.randrange(2000)}",
            "domain": "support",
            "feature": rnd.choice(["chat", "search", "summary"]),
            "operation": "chat" if llm else "",
            "provider": provider,
            "model": model,
            "input_tokens": rnd.randrange(4000) if llm else 0,
            "output_tokens": rnd.randrange(800) if llm else 0,
            "cached_input_tokens": 0,
            "reasoning_tokens": 0,
            "audio_seconds": 0.0,
            "latency_ms": rnd.randrange(3000),
            "status": "ok",
            "error_type": "",
            "role": "" if llm else rnd.choice(["user", "assistant"]),
            "content_chars": 0 if llm else rnd.randrange(2000),
            "revenue": Decimal(0),
            "rating": 0,
            "thumbs": 0,
            "comment_chars": 0,
            "results_count": 0,
            "dimensions": {},
            "measures": {},
            "cost_usd": Decimal(rnd.randrange(10**9)).scaleb(-12) if llm else Decimal(0),
            "price_status": "priced" if llm else "not_applicable",
            "properties": {"language": "en"} if rnd.random() < 0.5 else {},
            "schema_version": 1,
            "ingested_at": now,
            "source_partition": 0,
            "source_offset": i,
        }
        for name in EVENTS_COLUMN_NAMES:
            cols[name].append(values.get(name, ""))
    return cols


def rollup_columns(n: int, seed: int = 2) -> dict[str, list[Any]]:
    """`n` rollup rows as column lists: bucket arrays, session sets, a measures map, exact money."""
    rnd = random.Random(seed)
    window = datetime.now(UTC).replace(second=0, microsecond=0)
    cols: dict[str, list[Any]] = {name: [] for name in ROLLUP_COLUMN_NAMES}
    for i in range(n):
        provider, model = MODELS[rnd.randrange(len(MODELS))]
        values: dict[str, Any] = {
            "tenant_id": f"tenant-{rnd.randrange(200):03d}",
            "granularity": rnd.choice(["minute", "hour", "day"]),
            "window_start": window - timedelta(minutes=rnd.randrange(600)),
            "type": "llm_call",
            "d1": provider,
            "d2": model,
            "d3": "chat",
            "domain": "support",
            "source_partition": 0,
            "range_id": i,
            "audio_seconds": 0.0,
            "cost_usd": Decimal(rnd.randrange(10**12)).scaleb(-12),
            "revenue": Decimal(0),
            "latency_buckets": [rnd.randrange(5) for _ in range(len(LATENCY_BOUNDS_MS) + 1)],
            "sessions": [f"s-{rnd.randrange(5000)}" for _ in range(rnd.randrange(1, 4))],
            "end_users": [f"u-{rnd.randrange(2000)}" for _ in range(rnd.randrange(1, 3))],
            "measures": {},
            "version": i,
        }
        for name in ROLLUP_COLUMN_NAMES:
            cols[name].append(values.get(name, rnd.randrange(100)))
    return cols


def json_rows(cols: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """The same data as the dict rows `insert` takes (datetimes as ClickHouse text, like the worker's)."""
    names = list(cols)
    rows = [dict(zip(names, values, strict=True)) for values in zip(*cols.values(), strict=True)]
    for row in rows:
        for key, value in row.items():
            if isinstance(value, datetime):
                row[key] = ch_datetime64(value)
    return rows


async def timed(action: Callable[[], Awaitable[Any]], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        await action()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


async def measure_table(wh: ChdbWarehouse, table: str, cols: dict[str, list[Any]], repeat: int) -> dict[str, float]:
    qualified, n = f"{DB}.{table}", len(next(iter(cols.values())))
    schema = TABLE_SCHEMAS[table]
    rows = json_rows(cols)
    body = encode_json_each_row(rows)
    batch = arrow_table(schema, cols)

    async def json_full() -> None:
        await wh.insert(qualified, rows)

    async def json_engine() -> None:
        await wh.insert_json_each_row(qualified, body)

    async def arrow_full() -> None:
        await wh.insert_arrow(qualified, arrow_table(schema, cols))

    async def arrow_engine() -> None:
        await wh.insert_arrow(qualified, batch)

    figures = {}
    for label, action in (
        ("json", json_full),
        ("json_engine", json_engine),
        ("arrow", arrow_full),
        ("arrow_engine", arrow_engine),
    ):
        figures[label] = await timed(action, repeat) / n * 1e6
    return figures


def compute_next_batch(cols: dict[str, list[Any]]) -> pa.Table:
    """Python work standing for the worker's next batch (holds the GIL): rebuild the columns, batch them."""
    rebuilt = {name: list(values) for name, values in cols.items()}
    rebuilt["source_offset"] = [v + 1 for v in rebuilt["source_offset"]]
    return arrow_table(TABLE_SCHEMAS["events"], rebuilt)


async def measure_overlap(wh: ChdbWarehouse, cols: dict[str, list[Any]], repeat: int) -> dict[str, float]:
    qualified = f"{DB}.events"
    batch = arrow_table(TABLE_SCHEMAS["events"], cols)

    async def insert_alone() -> None:
        await wh.insert_arrow(qualified, batch)

    async def compute_alone() -> None:
        compute_next_batch(cols)

    async def one_after_the_other() -> None:
        await wh.insert_arrow(qualified, batch)
        compute_next_batch(cols)

    async def overlapped() -> None:
        storing = asyncio.ensure_future(wh.insert_arrow(qualified, batch))
        await asyncio.sleep(0)  # let the insert reach the engine's thread
        compute_next_batch(cols)
        await storing

    return {
        label: await timed(action, repeat)
        for label, action in (
            ("insert_alone", insert_alone),
            ("compute_alone", compute_alone),
            ("sequential", one_after_the_other),
            ("overlapped", overlapped),
        )
    }


async def main(sizes: list[int], repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-insert-"))
    wh = ChdbWarehouse(folder)
    try:
        await create_schema(wh, WarehouseSettings(chdb_path=folder, database=DB))
        print(
            f"{'table':8} {'rows':>6} {'json':>7} {'json(eng)':>9} {'arrow':>7} {'arrow(eng)':>10} {'json/arrow':>10}"
        )
        for n in sizes:
            for table, cols in (("events", event_columns(n)), ("rollups", rollup_columns(n))):
                f = await measure_table(wh, table, cols, repeat)
                print(
                    f"{table:8} {n:>6} {f['json']:>7.2f} {f['json_engine']:>9.2f} {f['arrow']:>7.2f} "
                    f"{f['arrow_engine']:>10.2f} {f['json'] / f['arrow']:>10.2f}   (µs/row; engine-only ratio "
                    f"{f['json_engine'] / f['arrow_engine']:.2f})"
                )
        o = await measure_overlap(wh, event_columns(sizes[-1]), repeat)
        print(
            f"overlap at {sizes[-1]} events: insert alone {o['insert_alone']:.3f} s, compute alone "
            f"{o['compute_alone']:.3f} s, one after the other {o['sequential']:.3f} s, overlapped "
            f"{o['overlapped']:.3f} s (overlapped/sequential {o['overlapped'] / o['sequential']:.2f})"
        )
    finally:
        await wh.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,50000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main([int(s) for s in args.sizes.split(",")], args.repeat))
