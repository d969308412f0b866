"""Which events of a batch are new, replayed, or duplicates (see docs/decisions/0003-idempotency.md).

`event_ids` remembers every stored (tenant_id, event_id) with the (partition, offset) it was
stored from, for the dedup window. Before a batch is inserted, the worker asks in one query which
of its ids are already there:

- not stored: **new** — inserted, and counted in the rollups;
- stored from this very (partition, offset): **replayed** (the batch is read again after a crash
  or a rebalance) — not inserted again, but counted in the rollups of the range being rebuilt;
- stored from another record: a **duplicate** (a client re-send) — neither inserted nor counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from processors.rows import Row
from schemas.ddl import EVENT_IDS_TABLE, check_identifier
from storage import Warehouse

Sources = dict[tuple[str, str], set[tuple[int, int]]]
"""(tenant_id, event_id) -> the (partition, offset) pairs it was stored from."""


def stored_ids_sql(database: str) -> str:
    """SQL returning, for the ids among `{tenants}` x `{ids}` that are stored, where they came from."""
    db = check_identifier(database)
    return (
        f"SELECT DISTINCT tenant_id, toString(event_id) AS id, source_partition, source_offset "
        f"FROM {db}.{EVENT_IDS_TABLE} "
        "WHERE tenant_id IN {tenants:Array(String)} AND event_id IN {ids:Array(UUID)}"
    )


@dataclass(slots=True)
class Classified:
    new: list[Row] = field(default_factory=list)
    """To insert and to count."""
    counted: list[Row] = field(default_factory=list)
    """To count in the rollups: the new ones and the replayed ones, in batch order."""
    duplicates: int = 0


def classify(rows: Sequence[Row], stored: Sources) -> Classified:
    """Split rows into new, replayed (counted, not inserted) and duplicates (dropped)."""
    out = Classified()
    for row in rows:
        sources = stored.get((row["tenant_id"], row["event_id"]))
        if not sources:
            out.new.append(row)
            out.counted.append(row)
        elif (row["source_partition"], row["source_offset"]) in sources:
            out.counted.append(row)
        else:
            out.duplicates += 1
    return out


async def stored_sources(warehouse: Warehouse, database: str, rows: Sequence[Row]) -> Sources:
    """Where each already-stored (tenant_id, event_id) of `rows` was stored from."""
    if not rows:
        return {}
    tenants = sorted({row["tenant_id"] for row in rows})
    ids = [row["event_id"] for row in rows]
    found = await warehouse.query(stored_ids_sql(database), {"tenants": tenants, "ids": ids})
    sources: Sources = {}
    for r in found:
        sources.setdefault((str(r["tenant_id"]), str(r["id"])), set()).add(
            (int(r["source_partition"]), int(r["source_offset"]))
        )
    return sources
