"""Pricing 5,000 realistic events: `PriceBook` one event at a time vs `PriceTable` over columns, same run.

    python -m bench.pricing [--events 5000] [--rounds 20]

The workload is bench/run.py's: 200 tenants, its 8 models, 4 in 5 events LLM calls (the rest are
messages: not_applicable rows), timestamps spread over the last half hour. Both paths are warm (their
caches filled by one batch first); the first, cold batch of the table is reported apart. Prints
µs of CPU per event for each and their ratio; also checks both give the same prices.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from bench.run import MODELS
from processors.price_table import PriceTable
from processors.pricing import PriceBook
from schemas.tenancy import PriceOverride

_SCHEMA = {
    "tenant_id": pl.String, "provider": pl.String, "model": pl.String, "timestamp": pl.Datetime("us", "UTC"),
    "input_tokens": pl.Int64, "output_tokens": pl.Int64, "cached_input_tokens": pl.Int64, "audio_seconds": pl.Float64,
}  # fmt: skip
_OVERRIDES = {("t0007", "openai/gpt-4o"): PriceOverride(input_per_mtok=2, output_per_mtok=8)}  # type: ignore[arg-type]


def overrides(tenant: str, provider: str, model: str) -> PriceOverride | None:
    return _OVERRIDES.get((tenant, f"{provider}/{model}"))


def events(n: int, tenants: int, seed: int = 1) -> list[dict[str, Any]]:
    rng, now = random.Random(seed), datetime.now(UTC)
    rows = []
    for i in range(n):
        llm = i % 5 != 4
        provider, model = MODELS[i % len(MODELS)] if llm else (None, None)
        rows.append({
            "tenant_id": f"t{i % tenants:04d}", "provider": provider, "model": model,
            "timestamp": now - timedelta(seconds=rng.randint(0, 1800)),
            "input_tokens": rng.randint(100, 6000) if llm else 0, "output_tokens": rng.randint(10, 900) if llm else 0,
            "cached_input_tokens": rng.choice([0, 0, 64]) if llm else 0, "audio_seconds": 0.0,
        })  # fmt: skip
    return rows


def per_event(book: PriceBook, rows: list[dict[str, Any]]) -> list[int]:
    out = []
    for r in rows:
        if r["provider"] is None:
            out.append(0)
            continue
        price = book.price_llm_call(
            tenant_id=r["tenant_id"], provider=r["provider"], model=r["model"], at=r["timestamp"],
            input_tokens=r["input_tokens"], output_tokens=r["output_tokens"],
            cached_input_tokens=r["cached_input_tokens"], audio_seconds=r["audio_seconds"],
            override=overrides(r["tenant_id"], r["provider"], r["model"]),
        )  # fmt: skip
        out.append(int(price.cost_usd.scaleb(12)))
    return out


def cpu_us(fn: Any, rounds: int, n: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    rows = events(args.events, args.tenants)
    frame = pl.DataFrame(rows, schema=_SCHEMA)
    book, table = PriceBook(), PriceTable()
    start = time.process_time()
    vectorised = table.price(frame, overrides).get_column("cost_pico").to_list()
    cold = (time.process_time() - start) / args.events * 1e6
    assert vectorised == per_event(book, rows), "the two paths disagree"
    one = cpu_us(lambda: per_event(book, rows), args.rounds, args.events)
    columns = cpu_us(lambda: table.price(frame, overrides), args.rounds, args.events)
    print(f"{args.events:,} events, {args.tenants} tenants, {len(MODELS)} models, best of {args.rounds} (CPU µs/event)")
    print(f"  PriceBook per event      {one:8.3f}")
    print(f"  PriceTable columns       {columns:8.3f}   ratio {one / columns:6.1f}x")
    print(f"  PriceTable cold (1st)    {cold:8.3f}   (resolves {table.periods} price periods)")


if __name__ == "__main__":
    main()
