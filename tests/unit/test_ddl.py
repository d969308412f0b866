from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from schemas.ddl import (
    EVENT_IDS_TABLE,
    EVENTS_COLUMN_NAMES,
    EVENTS_COLUMNS,
    EVENTS_TABLE,
    ch_datetime64,
    check_identifier,
    render_ddl,
)

N_COLUMNS = len(EVENTS_COLUMNS)


def test_statements_come_in_order_database_table_alters_dedup_table_alters_old_view_view() -> None:
    statements = render_ddl("tally_test", raw_retention_days=30, dedup_window_days=7)
    # CREATE DATABASE, CREATE TABLE events, one ALTER per column, CREATE TABLE event_ids, its three
    # ALTERs, DROP of the v1 and v2 views, the v3 view
    assert len(statements) == 2 + N_COLUMNS + 7
    assert statements[0].startswith("CREATE DATABASE")
    assert statements[1].startswith("CREATE TABLE IF NOT EXISTS tally_test.events (")
    assert all(s.startswith("ALTER TABLE tally_test.events ADD COLUMN IF NOT EXISTS ") for s in statements[2:-7])
    assert statements[-7].startswith("CREATE TABLE IF NOT EXISTS tally_test.event_ids (")
    assert statements[-6:] == [
        "ALTER TABLE tally_test.event_ids ADD COLUMN IF NOT EXISTS source_partition UInt32",
        "ALTER TABLE tally_test.event_ids ADD COLUMN IF NOT EXISTS source_offset UInt64",
        "ALTER TABLE tally_test.event_ids ADD COLUMN IF NOT EXISTS source_index UInt32",
        "DROP VIEW IF EXISTS tally_test.event_ids_mv",
        "DROP VIEW IF EXISTS tally_test.event_ids_mv2",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS tally_test.event_ids_mv3 TO tally_test.event_ids "
        "AS SELECT tenant_id, event_id, ingested_at, source_partition, source_offset, source_index "
        "FROM tally_test.events",
    ]


def test_events_table_ddl_is_a_replacing_merge_tree_keyed_by_event_id() -> None:
    create_db, create_table, *_ = render_ddl("tally_test", raw_retention_days=30)
    assert create_db == "CREATE DATABASE IF NOT EXISTS tally_test"
    assert create_table.startswith(
        "CREATE TABLE IF NOT EXISTS tally_test.events (\n    tenant_id LowCardinality(String),"
    )
    assert "    cost_usd Decimal(38, 12),\n" in create_table
    assert "    revenue Decimal(38, 12),\n" in create_table
    assert "    dimensions Map(LowCardinality(String), String),\n" in create_table
    assert "    ingested_at DateTime64(3, 'UTC'),\n" in create_table
    assert "    source_partition UInt32,\n    source_offset UInt64,\n    source_index UInt32\n)\n" in create_table
    assert create_table.endswith(
        "ENGINE = ReplacingMergeTree(ingested_at)\n"
        "PARTITION BY toYYYYMM(ts)\n"
        "ORDER BY (tenant_id, type, ts, event_id)\n"
        "TTL toDateTime(ts) + INTERVAL 30 DAY"
    )
    assert EVENTS_COLUMN_NAMES[:4] == ("tenant_id", "event_id", "type", "ts")


def test_create_table_lists_every_column_once_in_order() -> None:
    create_table = render_ddl("db")[1]
    body = create_table.split("(\n", 1)[1].split("\n)\n", 1)[0]
    assert body.split(",\n") == [f"    {name} {ch_type}" for name, ch_type in EVENTS_COLUMNS]


def test_one_add_column_if_not_exists_per_column_in_table_order() -> None:
    alters = render_ddl("tally_test")[2 : 2 + N_COLUMNS]
    assert alters == [
        f"ALTER TABLE tally_test.events ADD COLUMN IF NOT EXISTS {name} {ch_type}" for name, ch_type in EVENTS_COLUMNS
    ]
    assert alters[0] == "ALTER TABLE tally_test.events ADD COLUMN IF NOT EXISTS tenant_id LowCardinality(String)"
    assert "ALTER TABLE tally_test.events ADD COLUMN IF NOT EXISTS audio_seconds Float64" in alters
    assert "ALTER TABLE tally_test.events ADD COLUMN IF NOT EXISTS thumbs Int8" in alters
    assert alters[-3:] == [
        "ALTER TABLE tally_test.events ADD COLUMN IF NOT EXISTS source_partition UInt32",
        "ALTER TABLE tally_test.events ADD COLUMN IF NOT EXISTS source_offset UInt64",
        "ALTER TABLE tally_test.events ADD COLUMN IF NOT EXISTS source_index UInt32",
    ]
    assert (
        "ALTER TABLE tally_test.events ADD COLUMN IF NOT EXISTS measures Map(LowCardinality(String), Float64)" in alters
    )


def test_event_ids_table_is_a_replacing_merge_tree_with_the_dedup_ttl() -> None:
    event_ids = render_ddl("tally_test", raw_retention_days=90, dedup_window_days=3)[-7]
    assert event_ids == (
        "CREATE TABLE IF NOT EXISTS tally_test.event_ids (\n"
        "    tenant_id LowCardinality(String),\n"
        "    event_id UUID,\n"
        "    ingested_at DateTime64(3, 'UTC'),\n"
        "    source_partition UInt32,\n"
        "    source_offset UInt64,\n"
        "    source_index UInt32\n"
        ")\n"
        "ENGINE = ReplacingMergeTree(ingested_at)\n"
        "ORDER BY (tenant_id, event_id)\n"
        "TTL toDateTime(ingested_at) + INTERVAL 3 DAY"
    )


def test_existing_event_ids_table_gains_the_source_columns_in_place() -> None:
    alters = render_ddl("tally_test")[-6:-3]
    assert alters == [
        "ALTER TABLE tally_test.event_ids ADD COLUMN IF NOT EXISTS source_partition UInt32",
        "ALTER TABLE tally_test.event_ids ADD COLUMN IF NOT EXISTS source_offset UInt64",
        "ALTER TABLE tally_test.event_ids ADD COLUMN IF NOT EXISTS source_index UInt32",
    ]


def test_old_view_is_dropped_before_the_new_one_is_created() -> None:
    statements = render_ddl("tally_test")
    drop = statements.index("DROP VIEW IF EXISTS tally_test.event_ids_mv2")
    create = next(i for i, s in enumerate(statements) if s.startswith("CREATE MATERIALIZED VIEW"))
    assert drop == len(statements) - 2
    assert create == len(statements) - 1
    # the v1 and v2 views are the only things dropped, and the v3 view has another name (not dropped again)
    assert [s for s in statements if s.startswith("DROP")] == [
        "DROP VIEW IF EXISTS tally_test.event_ids_mv",
        "DROP VIEW IF EXISTS tally_test.event_ids_mv2",
    ]
    assert " tally_test.event_ids_mv3 " in statements[create]


def test_materialized_view_copies_ids_and_sources_of_every_insert_into_event_ids() -> None:
    view = render_ddl("tally_test")[-1]
    assert view == (
        "CREATE MATERIALIZED VIEW IF NOT EXISTS tally_test.event_ids_mv3 TO tally_test.event_ids "
        "AS SELECT tenant_id, event_id, ingested_at, source_partition, source_offset, source_index "
        "FROM tally_test.events"
    )


def test_defaults_are_30_days_raw_retention_and_7_days_dedup_window() -> None:
    statements = render_ddl("d")
    assert statements[1].endswith("TTL toDateTime(ts) + INTERVAL 30 DAY")
    assert statements[-7].endswith("TTL toDateTime(ingested_at) + INTERVAL 7 DAY")


def test_retention_and_window_are_independent() -> None:
    statements = render_ddl("d", raw_retention_days=1, dedup_window_days=365)
    assert statements[1].endswith("INTERVAL 1 DAY")
    assert statements[-7].endswith("INTERVAL 365 DAY")


def test_every_statement_is_idempotent() -> None:
    statements = render_ddl("d")
    for statement in statements:
        assert re.match(
            r"CREATE (DATABASE|TABLE|MATERIALIZED VIEW) IF NOT EXISTS "
            r"|ALTER TABLE d\.\w+ ADD COLUMN IF NOT EXISTS "
            r"|DROP (VIEW|TABLE) IF EXISTS ",
            statement,
        ), statement
    kinds = [" ".join(s.split()[:2]) for s in statements]
    assert kinds == [
        "CREATE DATABASE",
        "CREATE TABLE",
        *["ALTER TABLE"] * N_COLUMNS,
        "CREATE TABLE",
        "ALTER TABLE",
        "ALTER TABLE",
        "ALTER TABLE",
        "DROP VIEW",
        "DROP VIEW",
        "CREATE MATERIALIZED",
    ]


def test_table_names() -> None:
    assert (EVENTS_TABLE, EVENT_IDS_TABLE) == ("events", "event_ids")


def test_column_names_are_unique_and_match_columns() -> None:
    assert len(set(EVENTS_COLUMN_NAMES)) == len(EVENTS_COLUMN_NAMES) == N_COLUMNS
    assert tuple(name for name, _ in EVENTS_COLUMNS) == EVENTS_COLUMN_NAMES
    assert EVENTS_COLUMN_NAMES[-7:] == (
        "price_status",
        "properties",
        "schema_version",
        "ingested_at",
        "source_partition",
        "source_offset",
        "source_index",
    )
    assert EVENTS_COLUMNS[-3:] == (
        ("source_partition", "UInt32"),
        ("source_offset", "UInt64"),
        ("source_index", "UInt32"),
    )


@pytest.mark.parametrize("name", ["x; DROP TABLE y", "1abc", "a.b", "", "a" * 64, "a-b", "a b", "é"])
def test_database_names_must_be_plain_identifiers(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid database identifier"):
        check_identifier(name)


@pytest.mark.parametrize("name", ["a", "_", "tally_test", "A1_b2", "a" * 63])
def test_plain_identifiers_are_returned_unchanged(name: str) -> None:
    assert check_identifier(name) == name


def test_trailing_newline_is_not_an_identifier() -> None:
    with pytest.raises(ValueError, match="not a valid database identifier"):
        check_identifier("tally\n")


def test_render_ddl_rejects_a_bad_database_name() -> None:
    with pytest.raises(ValueError, match="not a valid database identifier: 'x; DROP TABLE y'"):
        render_ddl("x; DROP TABLE y")


def test_retention_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        render_ddl("db", raw_retention_days=0)


def test_dedup_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="raw_retention_days and dedup_window_days must be at least 1"):
        render_ddl("db", dedup_window_days=0)


def test_negative_days_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        render_ddl("db", raw_retention_days=-5, dedup_window_days=7)


def test_ch_datetime64_truncates_to_milliseconds() -> None:
    assert ch_datetime64(datetime(2026, 1, 2, 3, 4, 5, 678999, tzinfo=UTC)) == "2026-01-02 03:04:05.678"
    assert ch_datetime64(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02 03:04:05.000"
