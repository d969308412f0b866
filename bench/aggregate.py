"""Windows + aggregation of a batch: the row path (keys_of + RangeBook.add per event) vs the columnar path
(aggregate + partials + RangeBook.add_partials), same run, same events.

    python -m bench.aggregate [--events 5000] [--rounds 5] [--profile out.txt]

The workload: 200 tenants (half in UTC, the rest over six zones), bench/run.py's 8 models, 4 in 5 events
LLM calls (the rest messages), timestamps as live traffic (3 in 4 within the current minute, the rest over
the last half hour, 1 in 50 arriving late). Each round opens fresh ranges, counts one batch unmeasured (the
open range then holds the hour and day keys, as in a steady stream) and measures the next batch. The
columnar figure starts from the batch frame (what the decoder and pricing hand over: the events table's
columns) and includes zones, late flags, windows, group_by, per-key partials and the merge. Prints µs of
CPU (all threads) and of wall time per event, and the ratio; checks both paths touched the same keys.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import polars as pl

from processors.columnar_rollups import aggregate, late_column, partials
from processors.columnar_windows import zone_column
from processors.pricing import PriceBook
from processors.ranges import RangeBook, RangeUpdate
from processors.rows import Batch, Record, build_batch
from processors.windows import keys_of
from schemas.arrow import TABLE_SCHEMAS, arrow_table
from schemas.ddl import EVENTS_COLUMN_NAMES

MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("openai", "gpt-4.1-mini"),
    ("openai", "o3-mini"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("anthropic", "claude-sonnet-4-0"),
    ("groq", "llama-3.1-8b-instant"),
    ("google", "gemini-2.0-flash"),
]  # fmt: skip  (bench/run.py's)
ZONES = ["America/New_York", "Europe/Paris", "Asia/Kolkata", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney"]
TENANTS = 200
LATENESS = timedelta(minutes=5)
SPAN = 1_000_000
NOW = datetime.now(UTC).replace(microsecond=0)


def zone_of(tenant: str) -> ZoneInfo:
    n = int(tenant[1:])
    return ZoneInfo("UTC" if n % 2 == 0 else ZONES[n % len(ZONES)])


def events(n: int, seed: int) -> list[Record]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        tenant = f"t{i % TENANTS:04d}"
        ago = rng.uniform(0, 60) if rng.random() < 0.75 else rng.uniform(0, 1800)
        ts = NOW - timedelta(seconds=ago)
        arrival = ts + (timedelta(minutes=10) if rng.random() < 0.02 else timedelta(milliseconds=rng.randint(5, 900)))
        doc: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "tenant_id": tenant,
            "timestamp": ts.isoformat(), "session_id": f"s-{rng.randrange(200_000)}",
            "end_user_id": f"u-{rng.randrange(20_000)}", "domain": f"shop{i % 3}.example.com",
        }  # fmt: skip
        if i % 5 == 4:
            doc |= {"type": "message", "role": "user" if i % 2 else "assistant", "content_chars": rng.randint(5, 900)}
        else:
            provider, model = MODELS[i % len(MODELS)]
            doc |= {
                "type": "llm_call", "provider": provider, "model": model, "feature": rng.choice(["chat", "search"]),
                "input_tokens": rng.randint(100, 6000), "output_tokens": rng.randint(10, 900),
                "cached_input_tokens": rng.choice([0, 0, 64]), "latency_ms": rng.randint(80, 4000),
                "status": "error" if rng.random() < 0.03 else "ok",
            }  # fmt: skip
        out.append(Record(tenant.encode(), orjson.dumps(doc), i % 6, i // 6, arrival))
    return sorted(out, key=lambda r: (r.partition, r.offset))


def frame_of(records: list[Record], batch: Batch) -> pl.DataFrame:
    columns: dict[str, Any] = {name: [row[name] for row in batch.rows] for name in EVENTS_COLUMN_NAMES}
    columns["ts"], columns["ingested_at"] = batch.times, [NOW] * len(batch.rows)
    frame = pl.from_arrow(arrow_table(TABLE_SCHEMAS["events"], columns))
    assert isinstance(frame, pl.DataFrame)
    return frame.with_columns(
        ts=pl.Series(batch.times, dtype=pl.Datetime("us", "UTC")),
        arrival=pl.Series(batch.arrivals, dtype=pl.Datetime("us", "UTC")),
        position=pl.Series([r.offset for r in records], dtype=pl.UInt64),
        range_id=pl.Series([r.offset // SPAN for r in records], dtype=pl.UInt64),
    )


def by_rows(book: RangeBook, records: list[Record], batch: Batch) -> RangeUpdate:
    update = RangeUpdate()
    for record, row, ts, arrival in zip(records, batch.rows, batch.times, batch.arrivals, strict=True):
        current = book.advance(record.partition, record.offset, update)
        zone = zone_of(row["tenant_id"])
        if arrival is not None and arrival - ts > LATENESS:
            keys = keys_of(row, arrival, zone, kind="late")
        else:
            keys = keys_of(row, ts, zone)
        book.add(current, record.partition, record.offset, keys, row, update)
    return update


def by_columns(book: RangeBook, records: list[Record], frame: pl.DataFrame) -> RangeUpdate:
    frame = frame.with_columns(
        late_column(pl.col("ts"), pl.col("arrival"), LATENESS), zone_column(frame["tenant_id"], zone_of)
    )
    by_range = partials(aggregate(frame))
    update = RangeUpdate()
    for i, record in enumerate(records):  # advance every record, merge a range's partials at its last record
        current = book.advance(record.partition, record.offset, update)
        nxt = records[i + 1] if i + 1 < len(records) else None
        if nxt is None or (nxt.partition, nxt.offset // SPAN) != (record.partition, current.range_id):
            book.add_partials(current, record.partition, by_range.pop((record.partition, current.range_id)), update)
    return update


def timed(fn: Callable[[], RangeUpdate]) -> tuple[float, float, RangeUpdate]:
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - cpu, time.perf_counter() - wall, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", help="write a cProfile of the columnar path here")
    args = parser.parse_args()
    n = args.events
    warm, measured = events(n, 1), events(n, 2)
    measured = [r._replace(offset=r.offset + n) for r in measured]
    book = PriceBook()
    warm_batch, batch = build_batch(warm, book, NOW), build_batch(measured, book, NOW)
    warm_frame, frame = frame_of(warm, warm_batch), frame_of(measured, batch)
    rows, cols = [], []
    for _ in range(args.rounds):
        a, b = RangeBook(SPAN), RangeBook(SPAN)
        by_rows(a, warm, warm_batch)
        by_columns(b, warm, warm_frame)
        rows.append(timed(lambda a=a: by_rows(a, measured, batch)))  # type: ignore[misc]
        cols.append(timed(lambda b=b: by_columns(b, measured, frame)))  # type: ignore[misc]
        ra, ca = rows[-1][2].touched, cols[-1][2].touched
        assert ra.keys() == ca.keys() and all(ra[k][0] == ca[k][0] and ra[k][1] == ca[k][1] for k in ra)
    best = lambda runs, i: min(r[i] for r in runs) / n * 1e6  # noqa: E731
    touched = len(rows[-1][2].touched)
    print(f"{n:,} events, {touched:,} touched keys ({touched / n:.2f} per event), best of {args.rounds} rounds")
    print(f"row path:      {best(rows, 0):6.2f} µs CPU/event  {best(rows, 1):6.2f} µs wall/event")
    print(f"columnar path: {best(cols, 0):6.2f} µs CPU/event  {best(cols, 1):6.2f} µs wall/event")
    print(
        f"ratio (row / columnar): CPU {best(rows, 0) / best(cols, 0):.1f}x, wall {best(rows, 1) / best(cols, 1):.1f}x"
    )
    if args.profile:
        b = RangeBook(SPAN)
        by_columns(b, warm, warm_frame)
        profile = cProfile.Profile()
        profile.runcall(by_columns, b, measured, frame)
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(30)
        with open(args.profile, "w") as out:
            out.write(text.getvalue())


if __name__ == "__main__":
    main()
