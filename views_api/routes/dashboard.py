"""Seed 000's dashboard endpoints under /api/dashboard/{tenant_id}/."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from schemas.types import TenantId
from views_api import queries
from views_api.auth import tenant_reader
from views_api.deps import DatabaseDep, NowDep, WarehouseDep
from views_api.models import Costs, ModelCost, Overview, RollupPoint, RollupSeries

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["dashboard"], dependencies=[Depends(tenant_reader)])

TenantPath = Annotated[TenantId, Path(description="The tenant's id.")]


@router.get("/overview", response_model=Overview)
async def overview(tenant_id: TenantPath, warehouse: WarehouseDep, database: DatabaseDep, now: NowDep) -> Overview:
    """Total sessions, messages and cost today (UTC), sessions active in the last hour."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    q = queries.overview(database, tenant_id, day_start, now - timedelta(hours=1))
    (row,) = await warehouse.query(q.sql, q.params)
    return Overview(tenant_id=tenant_id, as_of=now, **row)


@router.get("/costs", response_model=Costs)
async def costs(
    tenant_id: TenantPath,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    days: Annotated[int, Query(ge=1, le=366, description="Length of the period, ending now.")] = 7,
) -> Costs:
    """LLM cost, tokens and requests by provider and model over the last `days` days."""
    since = now - timedelta(days=days)
    until = now + timedelta(milliseconds=1)
    q = queries.costs_by_model(database, tenant_id, since, until)
    by_model = [ModelCost(**row) for row in await warehouse.query(q.sql, q.params)]
    return Costs(
        tenant_id=tenant_id,
        days=days,
        since=since,
        until=now,
        total_cost_usd=sum((m.cost_usd for m in by_model), Decimal(0)),
        total_requests=sum(m.requests for m in by_model),
        total_input_tokens=sum(m.input_tokens for m in by_model),
        total_output_tokens=sum(m.output_tokens for m in by_model),
        total_cached_input_tokens=sum(m.cached_input_tokens for m in by_model),
        total_reasoning_tokens=sum(m.reasoning_tokens for m in by_model),
        unknown_model_requests=sum(m.unknown_model_requests for m in by_model),
        by_model=by_model,
    )


@router.get("/rollups", response_model=RollupSeries)
async def rollups(
    tenant_id: TenantPath,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    granularity: Annotated[Literal["minute", "hour", "day"], Query(description="Window size.")] = "hour",
    days: Annotated[int, Query(ge=1, le=1830, description="Length of the period, ending now.")] = 1,
    type: Annotated[str | None, Query(max_length=64, description="Only this event type (or 'late').")] = None,
) -> RollupSeries:
    """Windowed aggregates from the stream rollups: every window and key of the period."""
    since = now - timedelta(days=days)
    q = queries.rollup_series(database, tenant_id, granularity, since, now + timedelta(seconds=1), type)
    points = [RollupPoint(**row) for row in await warehouse.query(q.sql, q.params)]
    return RollupSeries(tenant_id=tenant_id, granularity=granularity, since=since, until=now, points=points)
