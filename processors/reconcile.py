"""The reconcile path: rebuild closed windows from the raw events, exactly, idempotently.

Events later than the allowed lateness are stored raw and counted under 'late', but do not update
their windows in the stream. `reconcile` recomputes every key of every window of a tenant's time
span from the raw table (FINAL: deduplicated) with the stream's own aggregation code, subtracts
what the stream rows already hold, and writes the difference as one correction row per key
(`source_partition = RECONCILE_PARTITION`, `range_id = 0`). Running it again recomputes the same
difference against the same stream rows and replaces the correction: idempotent. Distinct-count
sets carry the full raw set (union semantics). Run it only for spans the stream no longer writes
(older than the lateness, with the workers caught up) and still within the raw retention.
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
from schemas.rollups import RECONCILE_PARTITION, ROLLUP_KEY_COLUMNS, ROLLUPS_TABLE
from storage import Warehouse

_NUMERIC = (
    "events",
    "errors",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "unpriced",
    "latency_ms_sum",
    "content_chars",
    "rating_sum",
    "rating_count",
    "thumbs_up",
    "thumbs_down",
    "zero_results",
)
_EXACT = ("cost_usd", "revenue")
_KEY_NAMES = tuple(name for name, _ in ROLLUP_KEY_COLUMNS[:8])


def difference(truth: Agg, stream: Mapping[str, Any] | None) -> Agg:
    """What must be added to the stream's totals for a key to reach `truth`."""
    out = Agg(sessions=set(truth.sessions), end_users=set(truth.end_users), measures=dict(truth.measures))
    for name in _NUMERIC:
        setattr(out, name, getattr(truth, name) - int(stream[name]) if stream else getattr(truth, name))
    for name in _EXACT:
        setattr(out, name, getattr(truth, name) - Decimal(stream[name]) if stream else getattr(truth, name))
    out.audio_seconds = truth.audio_seconds - float(stream["audio_seconds"]) if stream else truth.audio_seconds
    out.latency_buckets = (
        [a - int(b) for a, b in zip(truth.latency_buckets, stream["latency_buckets"], strict=True)]
        if stream
        else list(truth.latency_buckets)
    )
    if stream:
        for name, value in stream["measures"].items():
            out.measures[name] = out.measures.get(name, 0.0) - float(value)
    return out


def _key(row: Mapping[str, Any]) -> Key:
    start = row["window_start"]
    return (row["tenant_id"], row["granularity"], start, row["type"], row["d1"], row["d2"], row["d3"], row["domain"])


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
    sums = ", ".join(f"sum({n}) AS {n}" for n in (*_NUMERIC, *_EXACT, "audio_seconds"))
    stream_rows = await warehouse.query(
        f"SELECT {', '.join(_KEY_NAMES)}, {sums}, sumForEach(latency_buckets) AS latency_buckets, "
        f"sumMap(measures) AS measures FROM {db}.{ROLLUPS_TABLE} FINAL "
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
