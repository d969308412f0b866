"""ClickHouse DDL for what tallystream stores, rendered for one database.

The same statements run on chDB and on a ClickHouse server. `EVENTS_COLUMNS` is the single list
of columns of the priced events table: the processors build rows with exactly these keys.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

EVENTS_TABLE: Final = "events"

#: (column, ClickHouse type) of the priced events table, in table order.
EVENTS_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("tenant_id", "LowCardinality(String)"),
    ("event_id", "UUID"),
    ("type", "LowCardinality(String)"),
    ("ts", "DateTime64(3, 'UTC')"),
    ("session_id", "String"),
    ("provider", "LowCardinality(String)"),
    ("model", "LowCardinality(String)"),
    ("input_tokens", "UInt64"),
    ("output_tokens", "UInt64"),
    ("cached_input_tokens", "UInt64"),
    ("reasoning_tokens", "UInt64"),
    ("latency_ms", "UInt32"),
    ("status", "LowCardinality(String)"),
    ("error_type", "String"),
    ("feature", "LowCardinality(String)"),
    ("end_user_id", "String"),
    ("domain", "LowCardinality(String)"),
    ("role", "LowCardinality(String)"),
    ("content_chars", "UInt32"),
    ("cost_usd", "Decimal(38, 12)"),
    ("price_status", "LowCardinality(String)"),
    ("properties", "Map(String, String)"),
    ("schema_version", "UInt16"),
    ("ingested_at", "DateTime64(3, 'UTC')"),
)

EVENTS_COLUMN_NAMES: Final = tuple(name for name, _ in EVENTS_COLUMNS)


def ch_datetime64(value: datetime) -> str:
    """A UTC datetime as the text of a DateTime64(3) value (rows and query parameters alike)."""
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_identifier(name: str) -> str:
    """Return `name` if it is a safe ClickHouse identifier, else raise ValueError."""
    if not _IDENT.match(name):
        raise ValueError(f"not a valid database identifier: {name!r}")
    return name


def render_ddl(database: str, raw_retention_days: int = 30) -> list[str]:
    """Statements that create the database and its tables, idempotently.

    The events table is a ReplacingMergeTree whose sorting key ends in `event_id`: a replayed or
    re-sent event (same tenant, type, timestamp and id) collapses into one row, and queries read
    it with FINAL so totals are exact before merges run.
    """
    db = check_identifier(database)
    if raw_retention_days < 1:
        raise ValueError("raw_retention_days must be at least 1")
    columns = ",\n    ".join(f"{name} {ch_type}" for name, ch_type in EVENTS_COLUMNS)
    return [
        f"CREATE DATABASE IF NOT EXISTS {db}",
        (
            f"CREATE TABLE IF NOT EXISTS {db}.{EVENTS_TABLE} (\n    {columns}\n)\n"
            "ENGINE = ReplacingMergeTree(ingested_at)\n"
            "PARTITION BY toYYYYMM(ts)\n"
            "ORDER BY (tenant_id, type, ts, event_id)\n"
            f"TTL toDateTime(ts) + INTERVAL {int(raw_retention_days)} DAY"
        ),
    ]
