"""Decode + validate: today's worker path (orjson + pydantic) vs schemas.fast_events, in one run.

    .venv/bin/python bench/decode.py [--events 5000] [--repeat 5]

Same 5,000 realistic events as `make bench` (bench/workload.py `event`); CPU time (process_time), best
of `--repeat`, µs per event; also the columnar conversion (lists, Arrow) of the decoded records.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from workload import event

from schemas.event_columns import to_arrow, to_columns
from schemas.events import parse_event
from schemas.fast_events import decode_array, decode_batch


def best_us(fn: Callable[[], Any], events: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best / events * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng, now, n = random.Random(7), datetime.now(UTC), args.events
    values = [event(rng, now, i, 200)[1] for i in range(n)]
    docs = [orjson.loads(v) for v in values]
    arrays = [orjson.dumps(docs[i : i + 500]) for i in range(0, n, 500)]  # batched records of 500 events
    records = decode_batch(values).records
    assert len(records) == n

    figures = {
        "pydantic (orjson.loads + parse_event)": best_us(
            lambda: [parse_event(orjson.loads(v)) for v in values], n, args.repeat
        ),
        "fast_events.decode_batch (one buffer per event)": best_us(lambda: decode_batch(values), n, args.repeat),
        "fast_events.decode_array (JSON arrays of 500)": best_us(
            lambda: [decode_array(a) for a in arrays], n, args.repeat
        ),
        "to_columns (dict of lists per type)": best_us(lambda: to_columns(records), n, args.repeat),
        "to_arrow (pyarrow tables per type)": best_us(lambda: to_arrow(records), n, args.repeat),
    }
    base = figures["pydantic (orjson.loads + parse_event)"]
    print(f"{n} events, CPU µs/event, best of {args.repeat}")
    for name, us in figures.items():
        print(f"  {name:50} {us:6.2f}  ({base / us:4.2f}x pydantic's speed)")


if __name__ == "__main__":
    main()
