"""The reconcile path: rebuild closed windows from the raw events, exactly, idempotently.

Events later than the allowed lateness are stored raw and counted under 'late', but do not update
their windows in the stream. `reconcile` recomputes every key of every window of a tenant's time
span from the raw table (FINAL: deduplicated) with the stream's own aggregation code, subtracts
what the stream rows already hold, and writes the difference as one correction row per key
(`source_partition = RECONCILE_PARTITION`, `range_id = 0`). Running it again recomputes the same
difference against the same stream rows and replaces the correction: idempotent. Measures with an
idempotent merge (distinct-count sets, max, min, last) carry the full truth; the others, summed in
SQL, carry the difference; both as the registry declares (`schemas.registry`). Run it only for
spans the stream no longer writes (older than the lateness, with the workers caught up) and still
within the raw retention.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from processors.windows import Agg, Key, keys_of, rollup_row
from schemas.ddl import EVENTS_TABLE, ch_datetime64, check_identifier
from schemas.registry import REGISTRY, Measure, Registry
from schemas.rollups import RECONCILE_PARTITION, ROLLUP_KEY_COLUMNS, ROLLUPS_TABLE
from storage import Warehouse

_KEY_NAMES = tuple(name for name, _ in ROLLUP_KEY_COLUMNS[:8])


def _parse(ch_type: str) -> Callable[[Any], Any]:
    """A stored value as Python (UInt64 and Decimal arrive as JSON strings)."""
    if ch_type.startswith("Decimal"):
        return Decimal
    if ch_type.startswith("Float"):
        return float
    return int


def _subtract(m: Measure, truth: Any, stored: Any) -> Any:
    """truth - stored for a measure whose stored rows are combined by SQL (`Measure.combine_sql`)."""
    if m.merge == "sum_array":
        return [a - int(b) for a, b in zip(truth, stored, strict=True)]
    if m.merge == "sum_map":
        out = dict(truth)
        for name, value in stored.items():
            out[name] = out.get(name, 0.0) - float(value)
        return out
    parse = _parse(m.ch_type)
    return truth - parse(stored)


def difference(truth: Agg, stream: Mapping[str, Any] | None) -> Agg:
    """What must be added to the stream's totals for a key to reach `truth`.

    Measures summed by SQL subtract what the stream holds; idempotent merges (set union, max, min,
    last) carry the truth (merging it with what the stream holds gives the truth)."""
    aggregation = truth.aggregation
    out = Agg(aggregation)
    out.merge(truth)
    if stream:
        for m in aggregation.registry.measures:
            if m.combine_sql("c") is not None:
                i = aggregation.index[m.name]
                out.values[i] = _subtract(m, truth.values[i], stream[m.name])
    return out


def _key(row: Mapping[str, Any]) -> Key:
    key = tuple(row[name] for name in _KEY_NAMES)
    return key  # type: ignore[return-value]


def _stream_sql(registry: Registry) -> str:
    """The stored measures reconcile subtracts, each folded over the stream's rows of a key."""
    folds = ((m.name, m.combine_sql(m.name)) for m in registry.measures)
    return ", ".join(f"{sql} AS {name}" for name, sql in folds if sql is not None)


async def reconcile(
    warehouse: Warehouse,
    database: str,
    tenant_id: str,
    since: datetime,
    until: datetime,
    zone: ZoneInfo,
    clock: Callable[[], float] = time.time,
    retention: timedelta | None = None,
) -> int:
    """Correct every window of `tenant_id` whose events lie in [since, until); returns rows written.

    `since` and `until` should be window boundaries of the largest granularity (days in `zone`),
    so that every window touched is recomputed whole.
    """
    db = check_identifier(database)
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    if retention is not None and since < datetime.now(UTC) - retention:
        raise ValueError(f"reconcile needs raw events: {since.isoformat()} is older than the raw retention")
    raw = await warehouse.query(
        f"SELECT * FROM {db}.{EVENTS_TABLE} FINAL WHERE tenant_id = {{tenant:String}} "
        "AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}",
        {"tenant": tenant_id, "since": ch_datetime64(since), "until": ch_datetime64(until)},
    )
    truth: dict[Key, Agg] = {}
    for row in raw:
        partial = Agg()
        partial.add_row(row)
        for key in keys_of(row, row["ts"], zone):
            truth.setdefault(key, Agg()).merge(partial)
    stream_rows = await warehouse.query(
        f"SELECT {', '.join(_KEY_NAMES)}, {_stream_sql(REGISTRY)} FROM {db}.{ROLLUPS_TABLE} FINAL "
        "WHERE tenant_id = {tenant:String} AND type != 'late' AND source_partition != {reconcile:UInt32} "
        "AND window_start >= {since:DateTime} AND window_start < {until:DateTime} "
        f"GROUP BY {', '.join(_KEY_NAMES)}",
        {
            "tenant": tenant_id,
            "reconcile": RECONCILE_PARTITION,
            "since": since.strftime("%Y-%m-%d %H:%M:%S"),
            "until": until.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )
    stream = {_key(r): r for r in stream_rows}
    version = int(clock() * 1000)
    corrections = [
        rollup_row(key, difference(agg, stream.get(key)), RECONCILE_PARTITION, 0, version) for key, agg in truth.items()
    ]
    await warehouse.insert(f"{db}.{ROLLUPS_TABLE}", corrections)
    return len(corrections)
