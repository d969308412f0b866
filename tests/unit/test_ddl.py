from __future__ import annotations

import pytest

from schemas.ddl import EVENTS_COLUMN_NAMES, check_identifier, render_ddl


def test_events_table_ddl_is_a_replacing_merge_tree_keyed_by_event_id() -> None:
    create_db, create_table = render_ddl("tally_test", raw_retention_days=30)
    assert create_db == "CREATE DATABASE IF NOT EXISTS tally_test"
    assert create_table.startswith(
        "CREATE TABLE IF NOT EXISTS tally_test.events (\n    tenant_id LowCardinality(String),"
    )
    assert "    cost_usd Decimal(38, 12),\n" in create_table
    assert create_table.endswith(
        "ENGINE = ReplacingMergeTree(ingested_at)\n"
        "PARTITION BY toYYYYMM(ts)\n"
        "ORDER BY (tenant_id, type, ts, event_id)\n"
        "TTL toDateTime(ts) + INTERVAL 30 DAY"
    )
    assert EVENTS_COLUMN_NAMES[:4] == ("tenant_id", "event_id", "type", "ts")


@pytest.mark.parametrize("name", ["x; DROP TABLE y", "1abc", "a.b", "", "a" * 64])
def test_database_names_must_be_plain_identifiers(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid database identifier"):
        check_identifier(name)


def test_retention_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        render_ddl("db", raw_retention_days=0)
