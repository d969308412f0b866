"""Dropping events already stored: the first layer of idempotency (see docs/decisions/0003-idempotency.md).

`event_ids` remembers every stored (tenant_id, event_id) for the dedup window. Before a batch is
inserted, the worker asks which of its ids are already there, in one query, and drops those rows.
"""

from __future__ import annotations

from collections.abc import Sequence

from processors.rows import Row
from schemas.ddl import EVENT_IDS_TABLE, check_identifier
from storage import Warehouse


def stored_ids_sql(database: str) -> str:
    """SQL returning the (tenant_id, id) pairs among `{tenants}` x `{ids}` that are stored."""
    db = check_identifier(database)
    return (
        f"SELECT DISTINCT tenant_id, toString(event_id) AS id FROM {db}.{EVENT_IDS_TABLE} "
        "WHERE tenant_id IN {tenants:Array(String)} AND event_id IN {ids:Array(UUID)}"
    )


def drop_stored(rows: Sequence[Row], stored: set[tuple[str, str]]) -> list[Row]:
    """`rows` without those whose (tenant_id, event_id) is in `stored`."""
    return [row for row in rows if (row["tenant_id"], row["event_id"]) not in stored]


async def stored_ids(warehouse: Warehouse, database: str, rows: Sequence[Row]) -> set[tuple[str, str]]:
    """The (tenant_id, event_id) pairs of `rows` that the warehouse already holds."""
    if not rows:
        return set()
    tenants = sorted({row["tenant_id"] for row in rows})
    ids = [row["event_id"] for row in rows]
    found = await warehouse.query(stored_ids_sql(database), {"tenants": tenants, "ids": ids})
    return {(str(r["tenant_id"]), str(r["id"])) for r in found}
