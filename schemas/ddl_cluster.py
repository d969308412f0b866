"""ClickHouse DDL for a sharded, replicated cluster: the cluster variant of `render_ddl` + `render_rollup_ddl`.

Layout, for each table of the single-node DDL (`events`, `event_ids`, `rollups`):

- `<table>_local` on every node: a `ReplicatedReplacingMergeTree` at
  `/clickhouse/tables/{shard}/<db>/<table>` (the `{shard}` and `{replica}` macros come from each
  server's config), with the same version column (`ingested_at` for events and event_ids,
  `version` for rollups) and the same PARTITION BY / ORDER BY / TTL as the single-node table;
- `<table>` on every node: a `Distributed(<cluster>, <db>, <table>_local, cityHash64(tenant_id))`
  table under the original name, so the application's SQL (inserts, FINAL reads, the dedup
  lookup) runs unchanged;
- `event_ids_mv3` per shard (earlier versions of the view dropped): the materialized view that
  fills the dedup ids, on `events_local` writing to `event_ids_local`. Rows inserted through
  `events` reach `events_local` on their shard and fire it there, so each id is stored on the same shard as its event.

Why every table is sharded by tenant: FINAL and the dedup lookup are per shard. A
ReplacingMergeTree collapses copies of a row only within one table on one shard; through a
Distributed table, each shard applies FINAL to its own local rows and nothing deduplicates
across shards. With `cityHash64(tenant_id)` as the sharding key, every
copy of a `(tenant_id, event_id)` and every version of a rollup row (its key starts with
`tenant_id`) lands on the same shard, as does the `event_ids` row the dedup lookup looks for, so
`SELECT ... FROM events FINAL` through Distributed stays exact and so do the rollup sums. A random
or per-event sharding key would let two copies of one event live on two shards and both be counted.
Tenant sharding also makes these settings correct, which are worth enabling in the user profile:

- `optimize_skip_unused_shards = 1`: the views filter on `tenant_id = {tenant}`, so a dashboard
  query touches only its tenant's shard;
- `optimize_distributed_group_by_sharding_key = 1`: a GROUP BY that includes `tenant_id` is
  complete on each shard, which then returns final groups instead of partial states;
- `distributed_product_mode = 'local'`: an `IN (SELECT ...)`/JOIN subquery over a Distributed table
  may read the local table on each shard, because everything about one tenant is on that shard.

Writes: set `distributed_foreground_insert = 1` (formerly `insert_distributed_sync`) so an insert
into `events` returns only once its shards hold the rows: the worker acks Kafka after the insert,
and its next dedup lookup must see what it just wrote. For the same reason read a replica that has
every acknowledged insert (`insert_quorum` with `select_sequential_consistency = 1`); a lagging
replica would make a client re-send look new. The cluster's `remote_servers` entry needs
`<internal_replication>true</internal_replication>`: the Distributed table writes to one replica
and replication copies it.

Names match the single-node DDL on purpose. The worker and the views run `render_ddl` and
`render_rollup_ddl` at start (`storage.open_warehouse`): against a cluster built here every
`CREATE ... IF NOT EXISTS` finds its object already there and every `ADD COLUMN IF NOT EXISTS`
finds its column, so they are no-ops. Apply this DDL before the roles start, and again before
deploying a release that adds a column (ON CLUSTER reaches every node; a role's own ALTER reaches
only the node it talks to).

Columns come from `schemas.ddl.EVENTS_COLUMNS` and the rollup registry (`schemas.rollups.rollup_columns`); event_ids
holds event columns (its view copies them) and takes their types from `EVENTS_COLUMNS`. The
version column and the PARTITION BY / ORDER BY / TTL clauses are read from the single-node
statements themselves, so the two layouts cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from schemas.ddl import (
    EVENT_IDS_COLUMN_NAMES,
    EVENT_IDS_TABLE,
    EVENT_IDS_VIEW,
    EVENTS_COLUMNS,
    EVENTS_TABLE,
    OLD_EVENT_IDS_VIEWS,
    check_identifier,
    render_ddl,
)
from schemas.registry import REGISTRY, Registry
from schemas.rollups import ROLLUPS_TABLE, render_rollup_ddl, rollup_columns

LOCAL_SUFFIX: Final = "_local"
"""Suffix of the per-shard (replicated) tables."""
SHARDING_KEY: Final = "cityHash64(tenant_id)"
"""Sharding key of every Distributed table: a tenant's rows live on one shard."""
REPLICA_PATH: Final = "/clickhouse/tables/{shard}"
"""Keeper path prefix of the replicated tables (`{shard}` is a server macro)."""


DEFAULT_ROLLUP_RETENTION: Final[Mapping[str, int]] = MappingProxyType({"minute": 7, "hour": 400, "day": 1830})
"""Days kept per rollup granularity (the defaults of `storage.WarehouseSettings`)."""

_EVENT_TYPES: Final = dict(EVENTS_COLUMNS)
EVENT_IDS_COLUMNS: Final[tuple[tuple[str, str], ...]] = tuple((n, _EVENT_TYPES[n]) for n in EVENT_IDS_COLUMN_NAMES)

_ENGINE: Final = "\nENGINE = ReplacingMergeTree("


def local_table(table: str) -> str:
    """Name of the per-shard table behind the Distributed table `table`."""
    return f"{table}{LOCAL_SUFFIX}"


def _single_node_create(statements: Sequence[str], db: str, table: str) -> str:
    prefix = f"CREATE TABLE IF NOT EXISTS {db}.{table} ("
    found = [s for s in statements if s.startswith(prefix)]
    if len(found) != 1:
        raise RuntimeError(f"expected one CREATE TABLE of {table} in the single-node DDL, found {len(found)}")
    return found[0]


def _version_and_clauses(create: str) -> tuple[str, str]:
    """The version column and the clauses after ENGINE (PARTITION BY, ORDER BY, TTL) of a single-node CREATE."""
    _, engine, rest = create.partition(_ENGINE)
    version, closed, clauses = rest.partition(")\n")
    if not engine or not closed or not clauses:
        raise RuntimeError(f"unexpected single-node CREATE TABLE, cannot derive its cluster variant:\n{create}")
    return check_identifier(version), clauses


def _columns_block(columns: Sequence[tuple[str, str]]) -> str:
    return ",\n    ".join(f"{name} {ch_type}" for name, ch_type in columns)


def _table_statements(
    db: str, cluster: str, table: str, columns: Sequence[tuple[str, str]], single_node_create: str
) -> list[str]:
    """The local replicated table, the Distributed table over it, and an ADD COLUMN per column on each."""
    version, clauses = _version_and_clauses(single_node_create)
    local = local_table(table)
    block = _columns_block(columns)
    replica_path = f"{REPLICA_PATH}/{db}/{table}"
    return [
        (
            f"CREATE TABLE IF NOT EXISTS {db}.{local} ON CLUSTER {cluster} (\n    {block}\n)\n"
            f"ENGINE = ReplicatedReplacingMergeTree('{replica_path}', '{{replica}}', {version})\n"
            f"{clauses}"
        ),
        *(
            f"ALTER TABLE {db}.{local} ON CLUSTER {cluster} ADD COLUMN IF NOT EXISTS {name} {ch_type}"
            for name, ch_type in columns
        ),
        (
            f"CREATE TABLE IF NOT EXISTS {db}.{table} ON CLUSTER {cluster} (\n    {block}\n)\n"
            f"ENGINE = Distributed({cluster}, {db}, {local}, {SHARDING_KEY})"
        ),
        *(
            f"ALTER TABLE {db}.{table} ON CLUSTER {cluster} ADD COLUMN IF NOT EXISTS {name} {ch_type}"
            for name, ch_type in columns
        ),
    ]


def render_cluster_ddl(
    database: str,
    cluster: str,
    raw_retention_days: int = 30,
    dedup_window_days: int = 7,
    rollup_retention: Mapping[str, int] = DEFAULT_ROLLUP_RETENTION,
    registry: Registry = REGISTRY,
) -> list[str]:
    """Statements that create (or upgrade) tallystream's tables on every node of `cluster`, idempotently.

    In order: the database; for `events`, `event_ids` and `rollups` each, the local replicated
    table, one `ADD COLUMN IF NOT EXISTS` per column, the Distributed table and its ADD COLUMNs;
    last, the per-shard materialized view from `events_local` to `event_ids_local`. Every statement
    carries `ON CLUSTER <cluster>`. The retention arguments mean what they mean for `render_ddl`
    and `render_rollup_ddl` (and are checked by them); the rollup measures are those of `registry`.
    """
    db = check_identifier(database)
    cluster = check_identifier(cluster)
    single_node = render_ddl(db, raw_retention_days, dedup_window_days)
    single_node += render_rollup_ddl(db, dict(rollup_retention), registry)
    tables: tuple[tuple[str, Sequence[tuple[str, str]]], ...] = (
        (EVENTS_TABLE, EVENTS_COLUMNS),
        (EVENT_IDS_TABLE, EVENT_IDS_COLUMNS),
        (ROLLUPS_TABLE, rollup_columns(registry)),
    )
    statements = [f"CREATE DATABASE IF NOT EXISTS {db} ON CLUSTER {cluster}"]
    for table, columns in tables:
        create = _single_node_create(single_node, db, table)
        statements += _table_statements(db, cluster, table, columns, create)
    select = ", ".join(EVENT_IDS_COLUMN_NAMES)
    statements += [f"DROP VIEW IF EXISTS {db}.{old} ON CLUSTER {cluster}" for old in OLD_EVENT_IDS_VIEWS]
    statements.append(
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{EVENT_IDS_VIEW} ON CLUSTER {cluster} "
        f"TO {db}.{local_table(EVENT_IDS_TABLE)} AS SELECT {select} FROM {db}.{local_table(EVENTS_TABLE)}"
    )
    return statements
