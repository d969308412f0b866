from __future__ import annotations

import re

import pytest

from schemas.ddl import EVENT_IDS_COLUMN_NAMES, EVENTS_COLUMNS, render_ddl
from schemas.ddl_cluster import DEFAULT_ROLLUP_RETENTION, render_cluster_ddl
from schemas.rollups import ROLLUP_COLUMNS, render_rollup_ddl
from storage.factory import WarehouseSettings

RETENTION = {"minute": 3, "hour": 100, "day": 900}


def cluster_ddl() -> list[str]:
    return render_cluster_ddl(
        "tally_test", "tally", raw_retention_days=45, dedup_window_days=5, rollup_retention=RETENTION
    )


def single_node_ddl() -> list[str]:
    return render_ddl("tally_test", 45, 5) + render_rollup_ddl("tally_test", RETENTION)


def create_of(statements: list[str], prefix: str) -> str:
    found = [s for s in statements if s.startswith(prefix)]
    assert len(found) == 1, (prefix, found)
    return found[0]


def columns_of(create: str) -> list[tuple[str, str]]:
    """(name, type) of a CREATE TABLE's column block, in order."""
    block = create.split(" (\n", 1)[1].split("\n)\n", 1)[0]
    pairs = [line.strip().rstrip(",").split(" ", 1) for line in block.split("\n")]
    return [(name, ch_type) for name, ch_type in pairs]


def after_engine(create: str) -> str:
    return create.split("\nENGINE = ", 1)[1].split("\n", 1)[1]


def test_every_statement_runs_on_the_cluster_once() -> None:
    statements = cluster_ddl()
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS tally_test ON CLUSTER tally"
    for statement in statements:
        assert statement.count(" ON CLUSTER tally ") + statement.endswith(" ON CLUSTER tally") == 1, statement


def test_statement_order_and_count() -> None:
    statements = cluster_ddl()
    per_table = [len(EVENTS_COLUMNS), len(EVENT_IDS_COLUMN_NAMES), len(ROLLUP_COLUMNS)]
    # the database; per table: local CREATE + ALTERs, Distributed CREATE + ALTERs; the old views' DROPs; the view
    assert len(statements) == 1 + sum(2 + 2 * n for n in per_table) + 2 + 1
    assert statements[-3:-1] == [
        "DROP VIEW IF EXISTS tally_test.event_ids_mv ON CLUSTER tally",
        "DROP VIEW IF EXISTS tally_test.event_ids_mv2 ON CLUSTER tally",
    ]
    creates = [s.split(" (\n", 1)[0] for s in statements if s.startswith("CREATE TABLE")]
    assert creates == [
        "CREATE TABLE IF NOT EXISTS tally_test.events_local ON CLUSTER tally",
        "CREATE TABLE IF NOT EXISTS tally_test.events ON CLUSTER tally",
        "CREATE TABLE IF NOT EXISTS tally_test.event_ids_local ON CLUSTER tally",
        "CREATE TABLE IF NOT EXISTS tally_test.event_ids ON CLUSTER tally",
        "CREATE TABLE IF NOT EXISTS tally_test.rollups_local ON CLUSTER tally",
        "CREATE TABLE IF NOT EXISTS tally_test.rollups ON CLUSTER tally",
    ]
    assert statements[-1].startswith("CREATE MATERIALIZED VIEW")
    # each local table exists before its ALTERs, and the Distributed table after them
    assert statements[1].startswith("CREATE TABLE IF NOT EXISTS tally_test.events_local ")
    assert statements[2] == (
        "ALTER TABLE tally_test.events_local ON CLUSTER tally ADD COLUMN IF NOT EXISTS tenant_id LowCardinality(String)"
    )
    assert statements[2 + len(EVENTS_COLUMNS)].startswith("CREATE TABLE IF NOT EXISTS tally_test.events ON CLUSTER")


@pytest.mark.parametrize(
    ("table", "engine"),
    [
        (
            "events",
            "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/tally_test/events', '{replica}', ingested_at)",
        ),
        (
            "event_ids",
            "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/tally_test/event_ids', '{replica}', ingested_at)",
        ),
        (
            "rollups",
            "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/tally_test/rollups', '{replica}', version)",
        ),
    ],
)
def test_local_tables_are_replicated_replacing_merge_trees_with_the_single_node_keys(table: str, engine: str) -> None:
    local = create_of(cluster_ddl(), f"CREATE TABLE IF NOT EXISTS tally_test.{table}_local ON CLUSTER tally (")
    single = create_of(single_node_ddl(), f"CREATE TABLE IF NOT EXISTS tally_test.{table} (")
    assert f"\n)\nENGINE = {engine}\n" in local
    # same PARTITION BY / ORDER BY / TTL, retention values included
    assert after_engine(local) == after_engine(single)
    assert columns_of(local) == columns_of(single)


def test_clauses_carry_the_retentions_and_sorting_keys() -> None:
    statements = cluster_ddl()
    events = create_of(statements, "CREATE TABLE IF NOT EXISTS tally_test.events_local ")
    assert events.endswith(
        "PARTITION BY toYYYYMM(ts)\nORDER BY (tenant_id, type, ts, event_id)\nTTL toDateTime(ts) + INTERVAL 45 DAY"
    )
    event_ids = create_of(statements, "CREATE TABLE IF NOT EXISTS tally_test.event_ids_local ")
    assert event_ids.endswith("ORDER BY (tenant_id, event_id)\nTTL toDateTime(ingested_at) + INTERVAL 5 DAY")
    rollups = create_of(statements, "CREATE TABLE IF NOT EXISTS tally_test.rollups_local ")
    assert "PARTITION BY (granularity, toYYYYMM(window_start))\n" in rollups
    assert "window_start + INTERVAL 3 DAY DELETE WHERE granularity = 'minute'" in rollups
    assert "window_start + INTERVAL 900 DAY DELETE WHERE granularity = 'day'" in rollups


@pytest.mark.parametrize("table", ["events", "event_ids", "rollups"])
def test_distributed_tables_keep_the_original_names_and_shard_by_tenant(table: str) -> None:
    distributed = create_of(cluster_ddl(), f"CREATE TABLE IF NOT EXISTS tally_test.{table} ON CLUSTER tally (")
    assert distributed.endswith(f"\n)\nENGINE = Distributed(tally, tally_test, {table}_local, cityHash64(tenant_id))")
    single = create_of(single_node_ddl(), f"CREATE TABLE IF NOT EXISTS tally_test.{table} (")
    assert columns_of(distributed) == columns_of(single)


def test_same_column_sets_as_the_column_lists() -> None:
    statements = cluster_ddl()
    expected = {"events": list(EVENTS_COLUMNS), "rollups": list(ROLLUP_COLUMNS)}
    for table, columns in expected.items():
        for name in (table, f"{table}_local"):
            assert columns_of(create_of(statements, f"CREATE TABLE IF NOT EXISTS tally_test.{name} ON")) == columns
    event_ids = columns_of(create_of(statements, "CREATE TABLE IF NOT EXISTS tally_test.event_ids_local ON"))
    assert [name for name, _ in event_ids] == list(EVENT_IDS_COLUMN_NAMES)


def test_one_add_column_per_column_on_local_and_distributed_tables() -> None:
    statements = cluster_ddl()
    for table, columns in (("events", EVENTS_COLUMNS), ("rollups", ROLLUP_COLUMNS)):
        for name in (table, f"{table}_local"):
            prefix = f"ALTER TABLE tally_test.{name} ON CLUSTER tally ADD COLUMN IF NOT EXISTS "
            assert [s.removeprefix(prefix) for s in statements if s.startswith(prefix)] == [
                f"{c} {t}" for c, t in columns
            ]
    assert (
        "ALTER TABLE tally_test.event_ids_local ON CLUSTER tally ADD COLUMN IF NOT EXISTS source_offset UInt64"
        in statements
    )
    assert (
        "ALTER TABLE tally_test.event_ids ON CLUSTER tally ADD COLUMN IF NOT EXISTS source_offset UInt64" in statements
    )


def test_event_ids_view_is_per_shard_from_local_events_to_local_event_ids() -> None:
    view = cluster_ddl()[-1]
    assert view == (
        "CREATE MATERIALIZED VIEW IF NOT EXISTS tally_test.event_ids_mv3 ON CLUSTER tally "
        "TO tally_test.event_ids_local "
        "AS SELECT tenant_id, event_id, ingested_at, source_partition, source_offset, source_index "
        "FROM tally_test.events_local"
    )
    single_view = create_of(single_node_ddl(), "CREATE MATERIALIZED VIEW")
    assert view.split(" AS SELECT ")[1].split(" FROM ")[0] == single_view.split(" AS SELECT ")[1].split(" FROM ")[0]


def test_single_node_objects_all_exist_under_the_same_names() -> None:
    """The roles run the single-node DDL at start: against the cluster every CREATE must be a no-op."""
    name = re.compile(r"^CREATE (?:TABLE|MATERIALIZED VIEW|DATABASE) IF NOT EXISTS (\S+)")
    single = {m.group(1) for s in single_node_ddl() if (m := name.match(s))}
    cluster = {m.group(1) for s in cluster_ddl() if (m := name.match(s))}
    assert single == {
        "tally_test",
        "tally_test.events",
        "tally_test.event_ids",
        "tally_test.event_ids_mv3",
        "tally_test.rollups",
    }
    assert single <= cluster


def test_default_retentions_match_the_warehouse_settings() -> None:
    fields = WarehouseSettings.model_fields
    assert dict(DEFAULT_ROLLUP_RETENTION) == {
        "minute": fields["rollup_minute_retention_days"].default,
        "hour": fields["rollup_hour_retention_days"].default,
        "day": fields["rollup_day_retention_days"].default,
    }
    defaults = render_cluster_ddl("tallystream", "main")
    assert any(s.endswith("TTL toDateTime(ts) + INTERVAL 30 DAY") for s in defaults)
    assert any(s.endswith("TTL toDateTime(ingested_at) + INTERVAL 7 DAY") for s in defaults)


@pytest.mark.parametrize("bad", ["", "1db", "tally-test", "tally; DROP TABLE x", "db.name", "a b", "x" * 64])
def test_database_and_cluster_names_must_be_identifiers(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid database identifier"):
        render_cluster_ddl(bad, "tally")
    with pytest.raises(ValueError, match="not a valid database identifier"):
        render_cluster_ddl("tally_test", bad)


def test_retentions_are_checked() -> None:
    with pytest.raises(ValueError):
        render_cluster_ddl("tally_test", "tally", raw_retention_days=0)
    with pytest.raises(ValueError):
        render_cluster_ddl("tally_test", "tally", dedup_window_days=0)
    with pytest.raises(ValueError):
        render_cluster_ddl("tally_test", "tally", rollup_retention={"minute": 7, "hour": 400})
    with pytest.raises(ValueError):
        render_cluster_ddl("tally_test", "tally", rollup_retention={"minute": 0, "hour": 400, "day": 1830})
