"""The generic view: any rollup measures of one event type, per bucket and per dimension.

Custom events (`type=custom`, `d1` = the event name, `d2` = its dimensions URL-encoded) and every
built-in type are served by this one route, so a tenant's own domain events (builds, deploys,
refunds ...) get charts without code: e.g. `series?type=custom&d1=build.completed&group_by=d2`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from schemas.rollups import ROLLUP_DIMENSIONS
from views_api import queries, reading
from views_api.context import TenantCtx, period_params, scope
from views_api.deps import DatabaseDep, WarehouseDep
from views_api.models import PeriodOut
from views_api.periods import Period, PeriodError

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["generic"])

SERIES_MEASURES = (
    "events", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens", "cost_usd",
    "unpriced", "latency_ms_sum", "content_chars", "revenue", "rating_sum", "rating_count", "thumbs_up",
    "thumbs_down", "zero_results", "sessions", "end_users", "measures",
)  # fmt: skip
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
    s = scope(tenant, period, type, d1=tuple(d1 or ()), domain=domain)
    q = queries.rollup_totals(database, s, names, groups, (period.bucket, period.tz.key))
    rows: list[dict[str, Any]] = await warehouse.query(q.sql, q.params)
    labels = dict(zip(("d1", "d2", "d3"), ROLLUP_DIMENSIONS[type], strict=True))
    return Series(
        tenant_id=tenant.tenant_id,
        type=type,
        dimensions=labels,
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
