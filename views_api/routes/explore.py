"""Explore: any event type, filtered and grouped by any of its dimensions, any aggregate of its measures.

One route answers the questions tenants ask of their own domain events: `GET .../explore` with the
query in URL parameters (the README documents the language), or `POST .../explore` with the same query
as JSON (`schemas.explore.ExploreQuery`; for field names a URL cannot carry). The answer holds the
top groups and one `other` row, the period total and the previous period's total, and the series per
bucket, from one tenant's raw events (`views_api.queries.explore`). Add `format=csv` for a CSV file.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from schemas.explore import (
    EVENT_TYPES,
    ExploreError,
    ExploreQuery,
    Resolved,
    combine,
    parse_filter,
    parse_measure,
    resolve,
)
from views_api import reading
from views_api.context import TenantCtx, period_params, raw_oldest, require_raw
from views_api.csv_cells import csv_text
from views_api.deps import DatabaseDep, NowDep, WarehouseDep
from views_api.models import PeriodOut
from views_api.models_explore import ExplorePoint, ExploreResult, ExploreRow, Value, Window
from views_api.periods import Period, PeriodError
from views_api.queries.explore import ExploreSql, Span, value_of

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["explore"])


def _values(row: dict[str, Any], resolved: Resolved, mixed: bool = False) -> dict[str, Value]:
    """The measures of a row; `mixed`: the row adds up several groups, so money measures whose currency
    only the groups fix are null (amounts in different currencies are never added)."""
    return {
        m.label: None if mixed and m.label in resolved.per_group else value_of(row.get(f"m{i}"))
        for i, m in enumerate(resolved.measures)
    }


def _empty(resolved: Resolved) -> dict[str, Value]:
    zero = ("count", "users", "sessions", "sum")
    return {m.label: 0 if m.agg in zero and m.label not in resolved.per_group else None for m in resolved.measures}


def _group(row: dict[str, Any], resolved: Resolved) -> dict[str, str]:
    return {g.name: str(row[f"g{i}"]) for i, g in enumerate(resolved.group_by)}


async def run_explore(
    request: Request, tenant_id: str, warehouse: Any, database: str, now: datetime, period: Period, query: ExploreQuery
) -> ExploreResult:
    """The whole answer: groups (top N and `other`), totals now and before, and the series."""
    try:
        resolved = resolve(query)
    except ExploreError as exc:
        raise PeriodError(exc.param, exc.message) from None
    require_raw(request, now, period, "explore answers")
    oldest = raw_oldest(request, now)
    bucket = period.bucket if resolved.series else None
    sql = ExploreSql(
        database, resolved, Span(tenant_id, period.since, period.until, period.prev_since, period.tz.key, bucket)
    )
    top: list[tuple[str, ...]] = []
    groups: list[ExploreRow] = []
    rows: list[dict[str, Any]] = []
    if resolved.group_by:
        q = sql.groups()
        rows = await warehouse.query(q.sql, q.params)
        shown = rows[: resolved.limit]
        top = [tuple(str(r[f"g{i}"]) for i in range(len(resolved.group_by))) for r in shown]
        groups = [ExploreRow(group=_group(r, resolved), other=False, values=_values(r, resolved)) for r in shown]
    others = len(rows) > resolved.limit
    pending = [sql.totals()]
    if others:
        pending.append(sql.other(top))
    if bucket is not None:
        pending.append(sql.series(top, others))
    answers = await asyncio.gather(*(warehouse.query(q.sql, q.params) for q in pending))
    by_current = {bool(r["current"]): r for r in answers[0]}
    total = _values(by_current[True], resolved, mixed=True) if True in by_current else _empty(resolved)
    previous_total: dict[str, Value] | None = None
    if period.prev_since >= oldest:
        previous_total = _values(by_current[False], resolved, mixed=True) if False in by_current else _empty(resolved)
    if others:
        blank = dict.fromkeys((g.name for g in resolved.group_by), "")
        groups.append(ExploreRow(group=blank, other=True, values=_values(answers[1][0], resolved, mixed=True)))
    series = [
        ExplorePoint(
            start=reading.utc(r["bucket"]),
            group=_group(r, resolved),
            other=bool(resolved.group_by) and not r["in_top"],
            values=_values(r, resolved, mixed=not resolved.group_by or not r["in_top"]),
        )
        for r in (answers[-1] if bucket is not None else [])
    ]
    return ExploreResult(
        tenant_id=tenant_id,
        event=resolved.event,
        name=resolved.name,
        period=PeriodOut.of(period),
        previous=Window(since=period.prev_since, until=period.since),
        group_by=[g.name for g in resolved.group_by],
        measures=[m.label for m in resolved.measures],
        total=total,
        previous_total=previous_total,
        groups=groups,
        series=series,
    )


def as_csv(result: ExploreResult) -> Response:
    """One row per group (`start` empty), then one per series point; cells guarded against formulas."""
    head = ["start", *result.group_by, "other", *result.measures]
    rows: list[list[Any]] = [head]
    for g in result.groups:
        rows.append(["", *(g.group[n] for n in result.group_by), g.other, *(g.values[m] for m in result.measures)])
    for p in result.series:
        rows.append([p.start.isoformat(), *(p.group.get(n, "") for n in result.group_by), p.other,
                     *(p.values[m] for m in result.measures)])  # fmt: skip
    name = f"tallystream-{result.tenant_id}-explore-{result.event}.csv"
    return Response(
        csv_text(rows),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


def _from_url(
    event: str, name: str | None, where: list[str], group_by: list[str], measure: list[str],
    order_by: str | None, limit: int, series: bool,
) -> ExploreQuery:  # fmt: skip
    try:
        try:
            filters = combine([parse_filter(w) for w in where])
        except ValidationError as exc:
            raise ExploreError("where", exc.errors()[0]["msg"]) from None
        try:
            measures = [parse_measure(m) for m in measure] if measure else None
        except ValidationError as exc:
            raise ExploreError("measure", exc.errors()[0]["msg"]) from None
        fields: dict[str, Any] = {"event": event, "name": name, "where": filters, "group_by": group_by}
        fields |= {"order_by": order_by, "limit": limit, "series": series}
        return ExploreQuery(**fields, **({"measures": measures} if measures else {}))
    except ExploreError as exc:
        raise PeriodError(exc.param, exc.message) from None
    except ValidationError as exc:
        error = exc.errors()[0]
        raise PeriodError(str(error["loc"][0]) if error["loc"] else "query", error["msg"]) from None


@router.get("/explore", response_model=ExploreResult, responses={200: {"content": {"text/csv": {}}}})
async def explore(
    tenant: TenantCtx,
    request: Request,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    period: Annotated[Period, Depends(period_params("7d"))],
    event: Annotated[
        str,
        Query(
            max_length=32,
            description="Event type (custom: your own events; any: all).",
            json_schema_extra={"enum": list(EVENT_TYPES)},
        ),
    ],
    name: Annotated[str | None, Query(max_length=128, description="Custom events of this name only.")] = None,
    where: Annotated[list[str], Query(max_length=20, description="field=value, field!=value, field~text, n>=1.")] = [],  # noqa: B006
    group_by: Annotated[list[str], Query(max_length=2, description="Up to two dimensions.")] = [],  # noqa: B006
    measure: Annotated[list[str], Query(max_length=10, description="count, sum(x), p95(x), users, rate(f=v) ...")] = [],  # noqa: B006
    order_by: Annotated[str | None, Query(max_length=300, description="A measure or group; -x: descending.")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Groups shown; the rest in `other`.")] = 10,
    series: Annotated[bool, Query(description="Per bucket too (false: totals only).")] = True,
    format: Annotated[Literal["json", "csv"], Query(description="json, or csv for a file.")] = "json",
) -> ExploreResult | Response:
    """Any measures of one event type over the period, by up to two dimensions, top N and the rest."""
    query = _from_url(event, name, where, group_by, measure, order_by, limit, series)
    result = await run_explore(request, tenant.tenant_id, warehouse, database, now, period, query)
    return as_csv(result) if format == "csv" else result


@router.post("/explore", response_model=ExploreResult)
async def explore_json(
    tenant: TenantCtx,
    request: Request,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    period: Annotated[Period, Depends(period_params("7d"))],
    query: Annotated[ExploreQuery, Body()],
) -> ExploreResult:
    """The same as `GET .../explore`, the query as JSON (filters hold several values; any field name)."""
    return await run_explore(request, tenant.tenant_id, warehouse, database, now, period, query)
