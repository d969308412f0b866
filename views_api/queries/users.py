"""Builders of the end-user views over the raw priced events: the users list, one user's summary and
their timeline, and the timeline's keyset cursor (pure).

An end user is a non-empty `end_user_id` of the tenant's events. Every figure of a user comes from
`USER_COLUMNS`, the list and the one-user summary alike. Revenue is summed per currency, never across
currencies. The timeline's columns derive from `schemas.type_columns.TYPE_COLUMNS`: every column some
event type fills, plus the fields every event has.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from schemas.ddl import ch_datetime64
from schemas.type_columns import TYPE_COLUMNS
from views_api.queries.base import RAW_RANGE, Query, raw_range, raw_table

SORT_FIELDS: Final = (
    "end_user_id",
    "first_seen",
    "last_seen",
    "sessions",
    "messages",
    "llm_calls",
    "tokens",
    "cost_usd",
    "conversions",
)
"""What the users list sorts by (`-name`: descending); ties are broken by end_user_id ascending.
`revenue` is no sort key: amounts in different currencies are never added, so they have no single order."""
SORT_PATTERN: Final = "^-?(" + "|".join(SORT_FIELDS) + ")$"

USER_COLUMNS: Final = (
    "end_user_id",
    "min(ts) AS first_seen",
    "max(ts) AS last_seen",
    "uniqExactIf(session_id, session_id != '') AS sessions",
    "countIf(type = 'message') AS messages",
    "countIf(type = 'llm_call') AS llm_calls",
    "sum(input_tokens + output_tokens) AS tokens",
    "sum(cost_usd) AS cost_usd",
    "countIf(type = 'conversion') AS conversions",
    "sumMapIf(map(currency, revenue), type = 'conversion') AS revenue_by_currency",
)
"""One end user's figures over the rows read (grouped by end_user_id); `revenue_by_currency` maps a
currency to the sum of its conversions' revenue (Map values read back as decimal strings)."""

MATCH: Final = "positionCaseInsensitiveUTF8(end_user_id, {search:String}) > 0"


def parse_sort(sort: str) -> tuple[str, bool]:
    """(field, descending) of a sort key such as `-cost_usd`; ValueError for anything else."""
    field, descending = (sort[1:], True) if sort.startswith("-") else (sort, False)
    if field not in SORT_FIELDS:
        raise ValueError(f"cannot sort users by {sort!r}: use one of {', '.join(SORT_FIELDS)}, '-' first to reverse")
    return field, descending


def _user_filter(tenant_id: str, since: datetime, until: datetime, search: str | None) -> tuple[str, dict[str, Any]]:
    where, params = f"{RAW_RANGE} AND end_user_id != ''", raw_range(tenant_id, since, until)
    if search:
        where += f" AND {MATCH}"
        params["search"] = search
    return where, params


def user_list(
    database: str,
    tenant_id: str,
    since: datetime,
    until: datetime,
    sort: str,
    limit: int,
    offset: int,
    search: str | None = None,
) -> Query:
    """One page of the end users with events in [since, until), in `sort` order then by end_user_id.

    `search` keeps users whose id contains it (case-insensitive).
    """
    field, descending = parse_sort(sort)
    order = field if field == "end_user_id" else f"{field} {'DESC' if descending else 'ASC'}, end_user_id"
    if field == "end_user_id" and descending:
        order = "end_user_id DESC"
    where, params = _user_filter(tenant_id, since, until, search)
    sql = (
        "SELECT\n    " + ",\n    ".join(USER_COLUMNS) + f"\nFROM {raw_table(database)} FINAL\n"
        f"WHERE {where}\n"
        "GROUP BY end_user_id\n"
        f"ORDER BY {order}\n"
        "LIMIT {limit:UInt32} OFFSET {offset:UInt32}"
    )
    return Query(sql, {**params, "limit": limit, "offset": offset})


def user_count(database: str, tenant_id: str, since: datetime, until: datetime, search: str | None = None) -> Query:
    """How many end users `user_list` pages through (its `total`)."""
    where, params = _user_filter(tenant_id, since, until, search)
    sql = f"SELECT uniqExact(end_user_id) AS total\nFROM {raw_table(database)} FINAL\nWHERE {where}"
    return Query(sql, params)


def user_summary(database: str, tenant_id: str, end_user_id: str) -> Query:
    """One end user's figures over every retained event (no row for a user without events)."""
    sql = (
        "SELECT\n    " + ",\n    ".join(USER_COLUMNS) + f"\nFROM {raw_table(database)} FINAL\n"
        "WHERE tenant_id = {tenant_id:String} AND end_user_id = {end_user_id:String}\n"
        "GROUP BY end_user_id"
    )
    return Query(sql, {"tenant_id": tenant_id, "end_user_id": end_user_id})


COMMON_COLUMNS: Final = (
    "toString(event_id) AS id",
    "type",
    "ts",
    "session_id",
    "domain",
    "input_tokens + output_tokens AS tokens",
    "cost_usd",
    "price_status",
    "properties",
)
"""What every timeline event shows, whatever its type."""
_COMMON_NAMES: Final = frozenset(c.rsplit(" ", 1)[-1] for c in COMMON_COLUMNS)
TYPE_FIELD_COLUMNS: Final = tuple(
    dict.fromkeys(
        source.column for sources in TYPE_COLUMNS.values() for source in sources if source.column not in _COMMON_NAMES
    )
)
"""Every column some event type fills (schemas.type_columns), each once, in declaration order."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_CURSOR: Final = re.compile(r"(\d{1,14})_([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})")
MAX_CURSOR_CHARS: Final = 51
"""14 digits of epoch milliseconds, `_`, a 36-character UUID."""
LATEST_CURSOR: Final = datetime(2106, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cursor:
    """A place in a timeline: the (ts, event id) of an event, as text `<epoch ms>_<event uuid>`."""

    ts: datetime
    event_id: str

    def text(self) -> str:
        return f"{(self.ts - _EPOCH) // _MS}_{self.event_id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        """The cursor of `text`; ValueError when it is not one this API gave out."""
        match = _CURSOR.fullmatch(text)
        if match is None:
            raise ValueError("not a timeline cursor: pass the `next` or `previous` value of a timeline page")
        ts = _EPOCH + int(match[1]) * _MS
        if ts >= LATEST_CURSOR:
            raise ValueError(f"a timeline cursor's time must be before {LATEST_CURSOR:%Y-%m-%d}")
        return cls(ts, str(uuid.UUID(match[2])))


Direction = Literal["after", "before"]


def user_timeline(
    database: str, tenant_id: str, end_user_id: str, cursor: Cursor | None, direction: Direction, limit: int
) -> Query:
    """Up to `limit` of one end user's events after `cursor` (in time order) or before it (newest first);
    without a cursor, from their first event (`after`) or from their last (`before`)."""
    params: dict[str, Any] = {"tenant_id": tenant_id, "end_user_id": end_user_id, "limit": limit}
    where = "tenant_id = {tenant_id:String} AND end_user_id = {end_user_id:String}"
    if cursor is not None:
        side = ">" if direction == "after" else "<"
        where += f"\n    AND (ts, event_id) {side} ({{cursor_ts:DateTime64(3)}}, {{cursor_id:UUID}})"
        params["cursor_ts"], params["cursor_id"] = ch_datetime64(cursor.ts), cursor.event_id
    order = "ts, event_id" if direction == "after" else "ts DESC, event_id DESC"
    columns = (*COMMON_COLUMNS, *TYPE_FIELD_COLUMNS)
    sql = (
        "SELECT\n    " + ",\n    ".join(columns) + f"\nFROM {raw_table(database)} FINAL\n"
        f"WHERE {where}\nORDER BY {order}\nLIMIT {{limit:UInt32}}"
    )
    return Query(sql, params)
