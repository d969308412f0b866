"""The rollup table: windowed aggregates written by the worker (see processors.windows).

One table holds every granularity (`minute`, `hour`, `day`) and every event type. A row is the
aggregate of one (tenant, granularity, window, type, d1, d2, d3, domain) over the events of one
*range* of one Kafka partition (offsets `range_id * span .. (range_id + 1) * span - 1`), as of the
offset `version`. Replays rewrite the same row with a higher or equal version (ReplacingMergeTree),
so reading with FINAL and summing over ranges and partitions is exact at any moment
(docs/decisions/0005-exact-rollups.md).

What d1, d2 and d3 hold depends on the type (`ROLLUP_DIMENSIONS`).
"""

from __future__ import annotations

from typing import Final

from schemas.ddl import check_identifier

ROLLUPS_TABLE: Final = "rollups"
GRANULARITIES: Final = ("minute", "hour", "day")

ROLLUP_DIMENSIONS: Final[dict[str, tuple[str, str, str]]] = {
    "llm_call": ("provider", "model", "feature"),
    "message": ("role", "language (the `language` property, if sent)", ""),
    "session_started": ("channel", "", ""),
    "session_ended": ("end_reason", "", ""),
    "tool_call": ("tool_name", "status", ""),
    "product_event": ("action", "product_id", "product_name"),
    "search": ("found|zero", "query (lower case, whitespace collapsed, 200 characters)", ""),
    "conversion": ("currency", "feature", ""),
    "feedback": ("", "", ""),
    "custom": ("name", "dimensions, URL-encoded in key order (k1=v1&k2=v2)", ""),
    "late": ("type of the late event", "", ""),
}
"""What the d1, d2, d3 columns mean for each rollup `type` ('late' counts events too late for the stream)."""

LATENCY_BOUNDS_MS: Final = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 20_000, 60_000)
"""Upper bounds (exclusive) of the latency buckets; one more bucket holds everything slower."""


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
    ("d1", "String"),
    ("d2", "String"),
    ("d3", "String"),
    ("domain", "LowCardinality(String)"),
    ("source_partition", "UInt32"),
    ("range_id", "UInt64"),
)

ROLLUP_MEASURE_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("events", "UInt64"),
    ("errors", "UInt64"),
    ("input_tokens", "UInt64"),
    ("output_tokens", "UInt64"),
    ("cached_input_tokens", "UInt64"),
    ("reasoning_tokens", "UInt64"),
    ("audio_seconds", "Float64"),
    ("cost_usd", "Decimal(38, 12)"),
    ("unpriced", "UInt64"),
    ("latency_ms_sum", "UInt64"),
    ("latency_buckets", "Array(UInt64)"),
    ("content_chars", "UInt64"),
    ("revenue", "Decimal(38, 12)"),
    ("rating_sum", "UInt64"),
    ("rating_count", "UInt64"),
    ("thumbs_up", "UInt64"),
    ("thumbs_down", "UInt64"),
    ("zero_results", "UInt64"),
    ("sessions", "Array(String)"),
    ("end_users", "Array(String)"),
    ("measures", "Map(String, Float64)"),
)

ROLLUP_COLUMNS: Final = (*ROLLUP_KEY_COLUMNS, *ROLLUP_MEASURE_COLUMNS, ("version", "UInt64"))
ROLLUP_COLUMN_NAMES: Final = tuple(name for name, _ in ROLLUP_COLUMNS)

RECONCILE_PARTITION: Final = 4_294_967_295
"""`source_partition` of correction rows written by the reconcile path (not a Kafka partition)."""


def render_rollup_ddl(database: str, retention_days: dict[str, int]) -> list[str]:
    """The rollup table, with a retention per granularity (e.g. minute 7, hour 400, day 1830 days)."""
    db = check_identifier(database)
    if set(retention_days) != set(GRANULARITIES) or min(retention_days.values()) < 1:
        raise ValueError(f"retention_days needs a positive number of days for each of {GRANULARITIES}")
    columns = ",\n    ".join(f"{name} {ch_type}" for name, ch_type in ROLLUP_COLUMNS)
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
        )
    ]
