"""The export's columns (every field of the event contract) and its keyset pages over the raw events.

The columns are derived: the drill-down columns (`raw.EVENT_COLUMNS`, kept first and in their order so
existing CSV readers keep working), then every other events-table column an event type fills from one
of its fields (`schemas.type_columns.TYPE_COLUMNS`, the one place that maps contract fields to columns),
then the fields every event shares. A field added to the contract and to TYPE_COLUMNS is exported
without an edit here. Map columns (`properties`, custom `dimensions` and `measures`) come back as maps.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from schemas.ddl import ch_datetime64
from schemas.type_columns import TYPE_COLUMNS
from views_api.queries.base import RAW_RANGE, Query, raw_range, raw_table
from views_api.queries.raw import EVENT_COLUMNS

BASE_FIELDS: Final[dict[str, str]] = {
    "event_id": "id",
    "tenant_id": "tenant_id",
    "timestamp": "ts",
    "schema_version": "schema_version",
    "session_id": "session_id",
    "end_user_id": "end_user_id",
    "domain": "domain",
    "properties": "properties",
}
"""Export column of each field every event carries (`schemas.event_models.EventBase`)."""

MAP_COLUMNS: Final = frozenset({"properties", "dimensions", "measures"})
"""Export columns holding a map (JSON text in a CSV cell, an object in NDJSON)."""


def _name(column: str) -> str:
    return column.rsplit(" AS ", 1)[-1]


def _export_columns() -> tuple[str, ...]:
    columns = list(EVENT_COLUMNS)
    seen = {_name(c) for c in columns}
    typed = [s.column for sources in TYPE_COLUMNS.values() for s in sources]
    for column in (*typed, *BASE_FIELDS.values()):
        if column not in seen:
            seen.add(column)
            columns.append(column)
    return tuple(columns)


EXPORT_COLUMNS: Final = _export_columns()
"""SELECT items of one exported event: every contract field's column (`id` is the event id), plus the
cost and price status the worker adds."""
EXPORT_HEADER: Final = tuple(_name(c) for c in EXPORT_COLUMNS)
"""The export's column names, in order."""


def export_page(
    database: str, tenant_id: str, since: datetime, until: datetime, after: tuple[datetime, str] | None, limit: int
) -> Query:
    """One page of the export: events of [since, until) after the cursor (ts, event id), in order.

    Keyset pages keep the export's memory flat whatever the range: each page is one bounded query.
    """
    params = {**raw_range(tenant_id, since, until), "limit": limit}
    cursor = ""
    if after is not None:
        cursor = "\n    AND (ts, event_id) > ({after_ts:DateTime64(3)}, toUUID({after_id:String}))"
        params["after_ts"], params["after_id"] = ch_datetime64(after[0]), after[1]
    sql = (
        "SELECT\n    " + ",\n    ".join(EXPORT_COLUMNS) + f"\nFROM {raw_table(database)} FINAL\n"
        f"WHERE {RAW_RANGE}{cursor}\nORDER BY ts, event_id\nLIMIT {{limit:UInt32}}"
    )
    return Query(sql, params)
