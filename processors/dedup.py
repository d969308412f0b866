"""Which events of a batch are new, replayed, or duplicates (see docs/decisions/0003-idempotency.md).

`event_ids` remembers every stored (tenant_id, event_id) with the place it was stored from —
(partition, offset, index): the record, and the event's index in it (0 for a single-event record;
schemas.records) — for the dedup window. Before a batch is inserted, the worker asks in one query
which of its ids are already there:

- not stored: **new** — inserted, and counted in the rollups;
- stored from this very (partition, offset, index): **replayed** (the record is read again after
  a crash or a rebalance) — not inserted again, but counted in the rollups of the range being rebuilt;
- stored from any other place — another record, or another index of the same batch record (a
  client that put one event twice in a request): a **duplicate** — neither inserted nor counted;
- not stored, but at an earlier place of the same batch too: a duplicate of the batch. Only ids that
  are not stored are deduplicated inside the batch, and only after the stored check: an event at the
  place its id was stored from always counts, whichever copies of the id come before it in the batch
  (another partition's copy may be read first in a later pass).

Why this is exact: a place holds the same bytes in every pass (Kafka records are immutable and the
framing cuts a value the same way every time), so each pass classifies each place the same way,
and an id is counted from exactly one place: the first one stored. Rows stored before source_index
existed read as index 0, which is where a single-event record's event is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from processors.rows import Row
from schemas.ddl import EVENT_IDS_TABLE, check_identifier
from storage import Warehouse

Place = tuple[int, int, int]
"""(partition, offset, index): where an event sits in the stream."""
Sources = dict[tuple[str, str], set[Place]]
"""(tenant_id, event_id) -> the places it was stored from."""


def stored_ids_sql(database: str) -> str:
    """SQL returning, for the ids among `{tenants}` x `{ids}` that are stored, where they came from."""
    db = check_identifier(database)
    return (
        f"SELECT DISTINCT tenant_id, toString(event_id) AS id, source_partition, source_offset, source_index "
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
    """Copies of ids stored from another place."""
    batch_duplicates: int = 0
    """Copies of ids not stored, after their first place in the batch."""


def place_of(row: Row) -> Place:
    """Where the event of `row` was read: (partition, offset, index in the record)."""
    return row["source_partition"], row["source_offset"], row["source_index"]


def classify(rows: Sequence[Row], stored: Sources) -> Classified:
    """Split rows (in batch order, copies included) into new, replayed (counted, not inserted) and
    duplicates (dropped): of stored ids, and later copies of new ids in the batch."""
    out = Classified()
    new_ids: set[tuple[str, str]] = set()
    for row in rows:
        identity = (row["tenant_id"], row["event_id"])
        sources = stored.get(identity)
        if not sources:
            if identity in new_ids:
                out.batch_duplicates += 1
                continue
            new_ids.add(identity)
            out.new.append(row)
            out.counted.append(row)
        elif place_of(row) in sources:
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
            (int(r["source_partition"]), int(r["source_offset"]), int(r["source_index"]))
        )
    return sources
