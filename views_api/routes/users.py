"""End-user views (raw events): the tenant's end users over a period, and one end user's summary and timeline.

The list covers a period (the usual period parameters, default 30d) and pages with `limit`/`offset`
plus the matching `total`. One user's figures and timeline cover every retained event of theirs (raw
events are kept TALLY_RAW_RETENTION_DAYS), whatever the period the list showed; the timeline pages
with a keyset cursor on (ts, event id), so a page stays right while new events arrive.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError

from schemas.type_columns import TYPE_COLUMNS
from tenancy.http import AuthError
from views_api.context import TenantCtx, period_params, require_raw
from views_api.deps import DatabaseDep, NowDep, WarehouseDep, one, run
from views_api.models import PeriodOut
from views_api.models_users import EndUser, EndUserDetail, EndUserList, FieldValue, TimelineEvent
from views_api.periods import Period
from views_api.queries import users as queries
from views_api.queries.users import MAX_CURSOR_CHARS, SORT_PATTERN, Cursor, Direction

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["users"])

MAX_OFFSET: Final = 10_000
MAX_TIMELINE: Final = 500
MAX_ID_CHARS: Final = 256
"""The contract's bound on an end_user_id."""
THUMBS: Final[dict[int, str]] = {1: "up", -1: "down"}


def end_user(row: dict[str, Any]) -> EndUser:
    """A row of `queries.USER_COLUMNS` (its revenue map holds decimal strings)."""
    revenue = row.pop("revenue_by_currency")
    return EndUser(revenue={currency: Decimal(str(amount)) for currency, amount in sorted(revenue.items())}, **row)


def type_fields(row: dict[str, Any]) -> dict[str, FieldValue]:
    """The fields `TYPE_COLUMNS` declares for the row's type, under their contract names (thumbs back to
    'up' / 'down' / None)."""
    out: dict[str, FieldValue] = {}
    for source in TYPE_COLUMNS.get(row["type"], ()):
        value = row[source.column]
        out[source.fields[0]] = THUMBS.get(value) if source.fill == "thumbs" else value
    return out


def timeline_event(row: dict[str, Any]) -> TimelineEvent:
    common = {name: row[name] for name in TimelineEvent.model_fields if name != "fields"}
    return TimelineEvent(**common, fields=type_fields(row))


def _cursor(param: str, text: str | None) -> Cursor | None:
    if text is None:
        return None
    try:
        return Cursor.parse(text)
    except ValueError as exc:
        raise RequestValidationError([{"loc": ("query", param), "msg": str(exc), "type": "value_error"}]) from None


@router.get("/users", response_model=EndUserList)
async def users(
    tenant: TenantCtx,
    request: Request,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    period: Annotated[Period, Depends(period_params("30d"))],
    sort: Annotated[
        str,
        Query(
            max_length=20,
            pattern=SORT_PATTERN,
            description="Sort key, '-' first for descending: " + ", ".join(queries.SORT_FIELDS) + ".",
        ),
    ] = "-last_seen",
    q: Annotated[
        str | None, Query(max_length=MAX_ID_CHARS, description="end_user_id contains this (case-insensitive).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200, description="Users per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Users to skip.")] = 0,
) -> EndUserList:
    """The tenant's end users with events in the period: sessions, messages, LLM calls, tokens, cost,
    conversions and revenue per currency of each, sorted and paged (ties in end_user_id order)."""
    require_raw(request, now, period, "end-user figures")
    search = q or None
    page = queries.user_list(database, tenant.tenant_id, period.since, period.until, sort, limit, offset, search)
    count = queries.user_count(database, tenant.tenant_id, period.since, period.until, search)
    rows = await run(warehouse, page)
    total = int((await one(warehouse, count))["total"])
    return EndUserList(
        tenant_id=tenant.tenant_id,
        period=PeriodOut.of(period),
        sort=sort,
        q=search,
        limit=limit,
        offset=offset,
        total=total,
        users=[end_user(r) for r in rows],
    )


@router.get("/users/{end_user_id:path}", response_model=EndUserDetail)
async def user_detail(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    end_user_id: Annotated[
        str, Path(min_length=1, max_length=MAX_ID_CHARS, description="The end user's id (may hold '/').")
    ],
    after: Annotated[
        str | None, Query(max_length=MAX_CURSOR_CHARS, description="Events after this cursor (a page's `next`).")
    ] = None,
    before: Annotated[
        str | None,
        Query(max_length=MAX_CURSOR_CHARS, description="Events before this cursor (a page's `previous`)."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TIMELINE, description="Events per page.")] = 100,
) -> EndUserDetail:
    """One end user: their figures over every retained event, and one page of their timeline in time
    order: the latest events by default, those after `after` or before `before` (cursors of a page)."""
    if after is not None and before is not None:
        raise RequestValidationError(
            [{"loc": ("query", "before"), "msg": "give after or before, not both", "type": "value_error"}]
        )
    cursor = _cursor("after", after) or _cursor("before", before)
    summary = await run(warehouse, queries.user_summary(database, tenant.tenant_id, end_user_id))
    if not summary:
        raise AuthError(404, f"no end user {end_user_id!r} for tenant {tenant.tenant_id!r}")
    direction: Direction = "after" if after is not None else "before"
    timeline = queries.user_timeline(database, tenant.tenant_id, end_user_id, cursor, direction, limit + 1)
    rows = await run(warehouse, timeline)
    more, rows = len(rows) > limit, rows[:limit]
    if direction == "before":
        rows.reverse()
    events = [timeline_event(r) for r in rows]
    first = Cursor(events[0].ts, events[0].id).text() if events else None
    last = Cursor(events[-1].ts, events[-1].id).text() if events else None
    forward = direction == "after"
    return EndUserDetail(
        tenant_id=tenant.tenant_id,
        user=end_user(summary[0]),
        events=events,
        limit=limit,
        next=(last if more else None) if forward else (last if cursor is not None else None),
        previous=(first if cursor is not None else None) if forward else (first if more else None),
    )
