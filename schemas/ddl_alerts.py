"""ClickHouse tables of alerting: the history of rule transitions and the outcome of every delivery."""

from __future__ import annotations

from typing import Final

from schemas.ddl import check_identifier

ALERT_EVENTS_TABLE: Final = "alert_events"
ALERT_DELIVERIES_TABLE: Final = "alert_deliveries"


def render_alert_ddl(database: str, retention_days: int = 400) -> list[str]:
    """`alert_events`: one row per transition (a re-read record collapses into the same row);
    `alert_deliveries`: one row per attempt outcome of a notification to a channel."""
    db = check_identifier(database)
    return [
        (
            f"CREATE TABLE IF NOT EXISTS {db}.{ALERT_EVENTS_TABLE} (\n"
            "    tenant_id LowCardinality(String),\n    rule_id String,\n    kind LowCardinality(String),\n"
            "    at DateTime64(3, 'UTC'),\n    name String,\n    metric LowCardinality(String),\n"
            "    severity LowCardinality(String),\n    value Nullable(Float64),\n    threshold Decimal(38, 12),\n"
            "    incident String,\n    notifications Array(String),\n    silenced UInt8\n)\n"
            "ENGINE = ReplacingMergeTree\n"
            "ORDER BY (tenant_id, rule_id, at, kind)\n"
            f"TTL toDateTime(at) + INTERVAL {int(retention_days)} DAY"
        ),
        (
            f"CREATE TABLE IF NOT EXISTS {db}.{ALERT_DELIVERIES_TABLE} (\n"
            "    tenant_id LowCardinality(String),\n    notification_id String,\n"
            "    channel LowCardinality(String),\n    status LowCardinality(String),\n    attempts UInt16,\n"
            "    error String,\n    at DateTime64(3, 'UTC'),\n    rule_ids Array(String)\n)\n"
            "ENGINE = MergeTree\n"
            "ORDER BY (tenant_id, notification_id, at)\n"
            f"TTL toDateTime(at) + INTERVAL {int(retention_days)} DAY"
        ),
    ]
