"""The generic view: any rollup measures of one event type, per bucket and per dimension.

Custom events (`type=custom`, `d1` = the event name, `d2` = its dimensions URL-encoded) and every
built-in type are served by this one route, so a tenant's own domain events (builds, deploys,
refunds ...) get charts without code: e.g. `series?type=custom&d1=build.completed&group_by=d2`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from schemas.registry import REGISTRY, SLOTS
from schemas.rollups import ROLLUP_DIMENSIONS
from views_api import queries, reading
from views_api.context import TenantCtx, period_params, scope
from views_api.deps import DatabaseDep, WarehouseDep
from views_api.models import PeriodOut
from views_api.periods import Period, PeriodError

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["generic"])

SERIES_MEASURES: Final = tuple(m.name for m in REGISTRY.measures if m.merge != "sum_array")
"""Every registry measure whose reading is one number or a map (arrays, e.g. latency buckets, are not points)."""
EventType = Literal[
    "llm_call", "message", "session_started", "session_ended", "tool_call", "product_event", "search", "conversion",
    "feedback", "custom", "late",
]  # fmt: skip
"""Every rollup type (`schemas.rollups.ROLLUP_DIMENSIONS`; a unit test keeps the two equal)."""
GroupBy = Literal["d1", "d2", "d3", "domain"]


class SeriesPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: datetime
    group: dict[str, str]
    """The values of the `group_by` dimensions."""
    values: dict[str, int | Decimal | float | dict[str, float]]
    """Each requested measure (`measures` is a map of the custom measures' sums)."""


class Series(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    type: str
    dimensions: dict[str, str]
    """What d1, d2 and d3 hold for this type."""
    period: PeriodOut
    points: list[SeriesPoint]
    """Buckets with data only, in time order then group order."""


@router.get("/series", response_model=Series)
async def series(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    period: Annotated[Period, Depends(period_params("7d"))],
    type: Annotated[EventType, Query(description="Event type (rollup type); 'custom' for your own events.")],
    measures: Annotated[str, Query(max_length=300, description="Comma-separated measures.")] = "events",
    group_by: Annotated[list[GroupBy] | None, Query(description="Dimensions to split by.")] = None,
    d1: Annotated[list[str] | None, Query(description="Only these d1 values (e.g. a custom event's name).")] = None,
    domain: Annotated[str | None, Query(max_length=256)] = None,
) -> Series:
    """Any measures of one event type per bucket, split by any of its dimensions (generic charts)."""
    names = tuple(m.strip() for m in measures.split(",") if m.strip())
    unknown = [m for m in names if m not in SERIES_MEASURES]
    if not names or unknown:
        raise PeriodError("measures", f"unknown measures {unknown}; choose from {', '.join(SERIES_MEASURES)}")
    groups = tuple(dict.fromkeys(group_by or ()))
    # The public parameters name the slots (d1..d3); the queries read the type's named dimensions.
    named = {slot: d.name for slot, d in zip(SLOTS, REGISTRY.types[type].dimensions, strict=False)}
    columns = {g: named.get(g, g) for g in groups if g == "domain" or g in named}
    wanted = tuple(d1 or ())
    rows: list[dict[str, Any]] = []
    if not wanted or "d1" in named or "" in wanted:  # a slot the type leaves empty holds ''
        match = {named["d1"]: wanted} if wanted and "d1" in named else {}
        s = scope(tenant, period, type, domain=domain, match=match)
        q = queries.rollup_totals(database, s, names, tuple(columns.values()), (period.bucket, period.tz.key))
        rows = await warehouse.query(q.sql, q.params)
    labels = dict(zip(("d1", "d2", "d3"), ROLLUP_DIMENSIONS[type], strict=True))
    return Series(
        tenant_id=tenant.tenant_id,
        type=type,
        dimensions=labels,
        period=PeriodOut.of(period),
        points=[
            SeriesPoint(
                start=reading.utc(r["bucket"]),
                group={g: r[columns[g]] if g in columns else "" for g in groups},
                values={m: r[m] for m in names},
            )
            for r in rows
        ],
    )
