"""The series view: any rollup measures of one event type, per bucket and per named dimension.

Custom events and every built-in type are served by this one route, over the rollups (any period the
rollups keep), e.g. `series?type=llm_call&group_by=feature&measures=events,cost_usd` or
`series?type=custom&where=name=build.completed&group_by=dimensions`. Dimensions are the registry's
names (`schemas.registry`); explore (`views_api.routes.explore`) answers finer questions on raw events.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Query

from schemas.explore import ExploreError, combine, parse_filter
from schemas.registry import REGISTRY
from views_api import queries, reading
from views_api.context import TenantCtx, period_params, scope
from views_api.deps import DatabaseDep, WarehouseDep
from views_api.models import PeriodOut, Series, SeriesPoint
from views_api.periods import Period, PeriodError

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["series"])

SERIES_MEASURES: Final = tuple(m.name for m in REGISTRY.measures if m.merge != "sum_array")
"""Every registry measure whose reading is one number or a map (arrays, e.g. latency buckets, are not points)."""
EventType = Literal[
    "llm_call", "message", "session_started", "session_ended", "tool_call", "product_event", "search", "conversion",
    "feedback", "custom", "late",
]  # fmt: skip
"""Every rollup type (`schemas.rollups.ROLLUP_DIMENSIONS`; a unit test keeps the two equal)."""


@router.get("/series", response_model=Series)
async def series(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    period: Annotated[Period, Depends(period_params("7d"))],
    type: Annotated[EventType, Query(description="Event type (rollup type); 'custom' for your own events.")],
    measures: Annotated[str, Query(max_length=300, description="Comma-separated measures.")] = "events",
    group_by: Annotated[list[str], Query(max_length=3, description="The type's dimensions (or domain).")] = [],  # noqa: B006
    where: Annotated[list[str], Query(max_length=10, description="dimension=value (repeat for any of several).")] = [],  # noqa: B006
) -> Series:
    """Any measures of one event type per bucket, split by any of its named dimensions (generic charts)."""
    names = tuple(m.strip() for m in measures.split(",") if m.strip())
    unknown = [m for m in names if m not in SERIES_MEASURES]
    if not names or unknown:
        raise PeriodError("measures", f"unknown measures {unknown}; choose from {', '.join(SERIES_MEASURES)}")
    dimensions = [d.name for d in REGISTRY.types[type].dimensions]
    allowed = [*dimensions, "domain"]
    groups = tuple(dict.fromkeys(group_by))
    if bad := [g for g in groups if g not in allowed]:
        raise PeriodError("group_by", f"{bad[0][:64]!r} is not a dimension of {type}; choose from {', '.join(allowed)}")
    match: dict[str, tuple[str, ...]] = {}
    domain: str | None = None
    try:
        filters = combine([parse_filter(w) for w in where])
    except (ExploreError, ValueError) as exc:
        raise PeriodError("where", str(exc)) from None
    for f in filters:
        if f.field not in allowed or f.op != "eq":
            raise PeriodError("where", f"write dimension=value with a dimension of {type}: {', '.join(allowed)}")
        if f.field == "domain":
            if len(f.values) != 1:
                raise PeriodError("where", "one domain at a time")
            domain = f.values[0]
        else:
            match[f.field] = tuple(f.values)
    s = scope(tenant, period, type, domain=domain, match=match)
    q = queries.rollup_totals(database, s, names, groups, (period.bucket, period.tz.key))
    rows: list[dict[str, Any]] = await warehouse.query(q.sql, q.params)
    return Series(
        tenant_id=tenant.tenant_id,
        type=type,
        dimensions=dimensions,
        period=PeriodOut.of(period),
        points=[
            SeriesPoint(
                start=reading.utc(r["bucket"]),
                group={g: r[g] for g in groups},
                values={m: r[m] for m in names},
            )
            for r in rows
        ],
    )
