"""ClickHouse DDL for what tallystream stores, rendered for one database.

The same statements run on chDB and on a ClickHouse server. `EVENTS_COLUMNS` is the single list
of columns of the priced events table: the processors build rows with exactly these keys.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

EVENTS_TABLE: Final = "events"

#: (column, ClickHouse type) of the priced events table, in table order. One wide table serves
#: every event type: columns a type does not use hold their empty value ('' / 0 / {}).
EVENTS_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("tenant_id", "LowCardinality(String)"),
    ("event_id", "UUID"),
    ("type", "LowCardinality(String)"),
    ("ts", "DateTime64(3, 'UTC')"),
    ("session_id", "String"),
    ("end_user_id", "String"),
    ("domain", "LowCardinality(String)"),
    ("feature", "LowCardinality(String)"),
    # llm_call
    ("operation", "LowCardinality(String)"),
    ("provider", "LowCardinality(String)"),
    ("model", "LowCardinality(String)"),
    ("input_tokens", "UInt64"),
    ("output_tokens", "UInt64"),
    ("cached_input_tokens", "UInt64"),
    ("reasoning_tokens", "UInt64"),
    ("audio_seconds", "Float64"),
    # duration of the call, tool call, search or session
    ("latency_ms", "UInt32"),
    ("status", "LowCardinality(String)"),
    ("error_type", "String"),
    # message
    ("role", "LowCardinality(String)"),
    ("content_chars", "UInt32"),
    # session_started / session_ended
    ("channel", "LowCardinality(String)"),
    ("end_reason", "LowCardinality(String)"),
    # tool_call
    ("tool_name", "LowCardinality(String)"),
    # product_event
    ("product_action", "LowCardinality(String)"),
    ("product_id", "String"),
    ("product_name", "String"),
    ("product_category", "LowCardinality(String)"),
    # search
    ("search_query", "String"),
    ("results_count", "UInt32"),
    # conversion
    ("order_id", "String"),
    ("revenue", "Decimal(38, 12)"),
    ("currency", "LowCardinality(String)"),
    ("attributed_session_id", "String"),
    # feedback: rating 1-5 (0 = none), thumbs +1 / -1 (0 = none)
    ("rating", "UInt8"),
    ("thumbs", "Int8"),
    ("comment_chars", "UInt32"),
    # custom
    ("name", "LowCardinality(String)"),
    ("dimensions", "Map(LowCardinality(String), String)"),
    ("measures", "Map(LowCardinality(String), Float64)"),
    # pricing and bookkeeping
    ("cost_usd", "Decimal(38, 12)"),
    ("price_status", "LowCardinality(String)"),
    ("properties", "Map(String, String)"),
    ("schema_version", "UInt16"),
    ("ingested_at", "DateTime64(3, 'UTC')"),
    # where the worker read it: a replay recognises its own rows by (partition, offset, index in the record)
    ("source_partition", "UInt32"),
    ("source_offset", "UInt64"),
    ("source_index", "UInt32"),
)

EVENTS_COLUMN_NAMES: Final = tuple(name for name, _ in EVENTS_COLUMNS)


def ch_datetime64(value: datetime) -> str:
    """A UTC datetime as the text of a DateTime64(3) value (rows and query parameters alike)."""
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_identifier(name: str) -> str:
    """Return `name` if it is a safe ClickHouse identifier, else raise ValueError."""
    if not _IDENT.fullmatch(name):
        raise ValueError(f"not a valid database identifier: {name!r}")
    return name


EVENT_IDS_TABLE: Final = "event_ids"
EVENT_IDS_COLUMN_NAMES: Final = (
    "tenant_id",
    "event_id",
    "ingested_at",
    "source_partition",
    "source_offset",
    "source_index",
)
"""Columns of `event_ids`, in table order: what its materialized view copies from `events`."""
EVENT_IDS_VIEW: Final = f"{EVENT_IDS_TABLE}_mv3"
"""The materialized view filling `event_ids` (v3: with source_index)."""
OLD_EVENT_IDS_VIEWS: Final = (f"{EVENT_IDS_TABLE}_mv", f"{EVENT_IDS_TABLE}_mv2")
"""Earlier versions of that view, dropped on upgrade (v1 without the source columns, v2 without source_index)."""


def render_ddl(database: str, raw_retention_days: int = 30, dedup_window_days: int = 7) -> list[str]:
    """Statements that create (or upgrade) the database and its tables, idempotently.

    Deduplication has two layers (docs/decisions/0003-idempotency.md):
    - `event_ids` holds every stored (tenant_id, event_id) for `dedup_window_days`, filled by a
      materialized view on each insert into `events`; the worker drops events already there.
    - `events` is a ReplacingMergeTree whose sorting key ends in `event_id`, and queries read it with
      FINAL: a copy that slips past the first layer (same tenant, type, timestamp, id) still
      collapses into one row.
    New columns are added in place (`ADD COLUMN IF NOT EXISTS`) so existing data survives upgrades.
    """
    db = check_identifier(database)
    if raw_retention_days < 1 or dedup_window_days < 1:
        raise ValueError("raw_retention_days and dedup_window_days must be at least 1")
    columns = ",\n    ".join(f"{name} {ch_type}" for name, ch_type in EVENTS_COLUMNS)
    types = dict(EVENTS_COLUMNS)
    ids_columns = ",\n    ".join(f"{name} {types[name]}" for name in EVENT_IDS_COLUMN_NAMES)
    return [
        f"CREATE DATABASE IF NOT EXISTS {db}",
        (
            f"CREATE TABLE IF NOT EXISTS {db}.{EVENTS_TABLE} (\n    {columns}\n)\n"
            "ENGINE = ReplacingMergeTree(ingested_at)\n"
            "PARTITION BY toYYYYMM(ts)\n"
            "ORDER BY (tenant_id, type, ts, event_id)\n"
            f"TTL toDateTime(ts) + INTERVAL {int(raw_retention_days)} DAY"
        ),
        *(
            f"ALTER TABLE {db}.{EVENTS_TABLE} ADD COLUMN IF NOT EXISTS {name} {ch_type}"
            for name, ch_type in EVENTS_COLUMNS
        ),
        (
            f"CREATE TABLE IF NOT EXISTS {db}.{EVENT_IDS_TABLE} (\n    {ids_columns}\n)\n"
            "ENGINE = ReplacingMergeTree(ingested_at)\n"
            "ORDER BY (tenant_id, event_id)\n"
            f"TTL toDateTime(ingested_at) + INTERVAL {int(dedup_window_days)} DAY"
        ),
        *(
            f"ALTER TABLE {db}.{EVENT_IDS_TABLE} ADD COLUMN IF NOT EXISTS {name} {types[name]}"
            for name in EVENT_IDS_COLUMN_NAMES[3:]
        ),
        *(f"DROP VIEW IF EXISTS {db}.{old}" for old in OLD_EVENT_IDS_VIEWS),
        (
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{EVENT_IDS_VIEW} TO {db}.{EVENT_IDS_TABLE} "
            f"AS SELECT {', '.join(EVENT_IDS_COLUMN_NAMES)} FROM {db}.{EVENTS_TABLE}"
        ),
    ]
