"""The rollup table: windowed aggregates written by the worker (see processors.windows).

One table holds every granularity (`minute`, `hour`, `day`) and every event type. A row is the
aggregate of one (tenant, granularity, window, type, d1, d2, d3, domain) over the events of one
*range* of one Kafka partition, as of the record offset `version`: one batch record
(`range_id = 2^63 | offset`) or the single-event records of offsets `range_id * span ..
(range_id + 1) * span - 1` (processors.ranges). Replays rewrite the same row with a higher or equal
version (ReplacingMergeTree), so reading with FINAL and summing over ranges and partitions is exact at any moment
(docs/decisions/0005-exact-rollups.md).

What d1, d2 and d3 hold depends on the type, and the measure columns are those of the registry
(`schemas.registry`: the one place that declares them; `ROLLUP_DIMENSIONS` lists the slots' meanings).
"""

from __future__ import annotations

from typing import Final

from schemas.ddl import check_identifier
from schemas.registry import DISTINCT_MEASURES, LATENCY_BOUNDS_MS, REGISTRY, SLOTS, Registry

__all__ = [
    "DISTINCT_MEASURES", "GRANULARITIES", "LATENCY_BOUNDS_MS", "RECONCILE_PARTITION", "ROLLUPS_TABLE", "ROLLUP_COLUMNS",
    "ROLLUP_COLUMN_NAMES", "ROLLUP_DIMENSIONS", "ROLLUP_KEY_COLUMNS", "ROLLUP_MEASURE_COLUMNS", "distinct_upgrade",
    "latency_percentile", "measure_columns", "render_rollup_ddl", "rollup_columns",
]  # fmt: skip

ROLLUPS_TABLE: Final = "rollups"
GRANULARITIES: Final = ("minute", "hour", "day")

ROLLUP_DIMENSIONS: Final[dict[str, tuple[str, str, str]]] = {t: e.labels() for t, e in REGISTRY.types.items()}
"""What the d1, d2, d3 columns mean for each rollup `type` ('late' counts events too late for the stream),
derived from `schemas.registry.REGISTRY`, the one place that declares them."""


def latency_percentile(buckets: list[int] | tuple[int, ...], q: float) -> int | None:
    """Upper bound (ms) of the latency bucket holding the `q` quantile (None: no samples).

    The last bucket is open-ended: a quantile there reports the highest bound.
    """
    counts = [int(n) for n in buckets]  # UInt64 arrays may arrive as JSON strings
    total = sum(counts)
    if not total:
        return None
    rank, seen = q * total, 0
    for i, n in enumerate(counts):
        seen += n
        if seen >= rank and n:
            return LATENCY_BOUNDS_MS[min(i, len(LATENCY_BOUNDS_MS) - 1)]
    return LATENCY_BOUNDS_MS[-1]


ROLLUP_KEY_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("tenant_id", "LowCardinality(String)"),
    ("granularity", "LowCardinality(String)"),
    ("window_start", "DateTime('UTC')"),
    ("type", "LowCardinality(String)"),
    *((slot, "String") for slot in SLOTS),
    ("domain", "LowCardinality(String)"),
    ("source_partition", "UInt32"),
    ("range_id", "UInt64"),
)


def measure_columns(registry: Registry = REGISTRY) -> tuple[tuple[str, str], ...]:
    """(name, ClickHouse type) of every measure of `registry`, in declaration order."""
    return tuple((m.name, m.ch_type) for m in registry.measures)


def rollup_columns(registry: Registry = REGISTRY) -> tuple[tuple[str, str], ...]:
    """Every column of the rollups table: the key, the measures of `registry`, the version."""
    return (*ROLLUP_KEY_COLUMNS, *measure_columns(registry), ("version", "UInt64"))


ROLLUP_MEASURE_COLUMNS: Final = measure_columns()
ROLLUP_COLUMNS: Final = rollup_columns()
ROLLUP_COLUMN_NAMES: Final = tuple(name for name, _ in ROLLUP_COLUMNS)

RECONCILE_PARTITION: Final = 4_294_967_295
"""`source_partition` of correction rows written by the reconcile path (not a Kafka partition)."""


def render_rollup_ddl(database: str, retention_days: dict[str, int], registry: Registry = REGISTRY) -> list[str]:
    """The rollup table, with a retention per granularity (e.g. minute 7, hour 400, day 1830 days).

    Then one `ADD COLUMN IF NOT EXISTS` per measure: a measure added to the registry reaches an
    existing store at the next start (new columns read as their zero in older rows)."""
    db = check_identifier(database)
    if set(retention_days) != set(GRANULARITIES) or min(retention_days.values()) < 1:
        raise ValueError(f"retention_days needs a positive number of days for each of {GRANULARITIES}")
    columns = ",\n    ".join(f"{name} {ch_type}" for name, ch_type in rollup_columns(registry))
    key = ", ".join(name for name, _ in ROLLUP_KEY_COLUMNS)
    ttl = ",\n    ".join(
        f"window_start + INTERVAL {int(retention_days[g])} DAY DELETE WHERE granularity = '{g}'" for g in GRANULARITIES
    )
    return [
        (
            f"CREATE TABLE IF NOT EXISTS {db}.{ROLLUPS_TABLE} (\n    {columns}\n)\n"
            "ENGINE = ReplacingMergeTree(version)\n"
            "PARTITION BY (granularity, toYYYYMM(window_start))\n"
            f"ORDER BY ({key})\n"
            f"TTL {ttl}"
        ),
        *(
            f"ALTER TABLE {db}.{ROLLUPS_TABLE} ADD COLUMN IF NOT EXISTS {name} {ch_type}"
            for name, ch_type in measure_columns(registry)
        ),
    ]


def distinct_upgrade(database: str) -> list[str]:
    """Statements upgrading a store written before issue 13, whose distinct-count arrays hold the ids
    (`Array(String)`), to the hashes the registry declares (`Array(UInt64)`, `halfMD5` of each id, the
    worker's `schemas.registry.distinct_key`). Run once with the workers stopped, in order (or rebuild
    the rollups from the raw events with `tallystream-reconcile` within the raw retention)."""
    db = check_identifier(database)
    table = f"{db}.{ROLLUPS_TABLE}"
    out: list[str] = []
    for name in DISTINCT_MEASURES:
        out += [
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {name}_hashed Array(UInt64) "
            f"DEFAULT arrayMap(x -> halfMD5(x), {name})",
            f"ALTER TABLE {table} MATERIALIZE COLUMN {name}_hashed SETTINGS mutations_sync = 1",
            f"ALTER TABLE {table} MODIFY COLUMN {name}_hashed REMOVE DEFAULT",
            f"ALTER TABLE {table} DROP COLUMN {name}",
            f"ALTER TABLE {table} RENAME COLUMN {name}_hashed TO {name}",
        ]
    return out
