"""Turning rollup rows into dashboard figures (pure): series with empty buckets, rates, percentiles."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from schemas.rollups import LATENCY_BOUNDS_MS, latency_percentile
from views_api.periods import Period

Row = Mapping[str, Any]


def utc(seconds: int) -> datetime:
    """A bucket start (Unix seconds) as a UTC datetime."""
    return datetime.fromtimestamp(seconds, UTC)


def by_bucket(rows: Iterable[Row]) -> dict[datetime, list[Row]]:
    """Rows grouped by their `bucket` column (Unix seconds)."""
    grouped: dict[datetime, list[Row]] = {}
    for row in rows:
        grouped.setdefault(utc(row["bucket"]), []).append(row)
    return grouped


def series(period: Period, rows: Iterable[Row], measures: Sequence[str]) -> list[dict[str, Any]]:
    """One point per bucket of the period (zeros where nothing happened): `start` plus `measures`."""
    grouped = by_bucket(rows)
    points = []
    for start in period.buckets:
        point: dict[str, Any] = {"start": start}
        for m in measures:
            values = [r[m] for r in grouped.get(start, ())]
            point[m] = sum(values, Decimal(0) if values and isinstance(values[0], Decimal) else 0)
        points.append(point)
    return points


def total(rows: Iterable[Row], measure: str, **where: Any) -> Any:
    """Sum of `measure` over the rows matching every `column=value` of `where`."""
    picked = [r[measure] for r in rows if all(r[k] == v for k, v in where.items())]
    if picked and isinstance(picked[0], Decimal):
        return sum(picked, Decimal(0))
    return sum(picked)


def rate(part: float | int | Decimal, whole: float | int | Decimal, digits: int = 2) -> float:
    """`part` as a percentage of `whole` (0 when `whole` is 0), rounded."""
    return round(float(part) * 100 / float(whole), digits) if whole else 0.0


def change(current: float | int | Decimal, previous: float | int | Decimal) -> float | None:
    """Percentage change from `previous` to `current` (None when there is no previous value)."""
    return round((float(current) - float(previous)) * 100 / float(previous), 2) if previous else None


def mean(total_: float | int | Decimal, count: int, digits: int = 2) -> float:
    return round(float(total_) / count, digits) if count else 0.0


def money(value: Decimal, places: str = "0.000001") -> Decimal:
    """A cost rounded for display (half-even); exact totals keep every digit elsewhere."""
    return value.quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def percentile(buckets: Sequence[int], q: float) -> int | None:
    """Upper bound (ms) of the latency bucket holding the `q` quantile (None: no samples)."""
    return latency_percentile(list(buckets), q)


def add_buckets(rows: Iterable[Row]) -> list[int]:
    """Element-wise sum of the `latency_buckets` of rows."""
    result = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    for row in rows:
        result = [a + int(b) for a, b in zip(result, row["latency_buckets"], strict=True)]
    return result
