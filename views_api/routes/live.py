"""Live: a server-sent event stream per tenant with the current window's figures.

Each tick reads the minute rollups (the current minute and the last 60) and today's day window;
ticks come every `interval` seconds (at most 2) until the client goes away, or `ticks` are sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from storage import Warehouse
from views_api import queries, reading
from views_api.context import Tenant, TenantCtx
from views_api.deps import DatabaseDep, WarehouseDep, one, run
from views_api.models import LiveTick
from views_api.periods import floor

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["live"])


async def tick(warehouse: Warehouse, database: str, tenant: Tenant, now: datetime) -> LiveTick:
    """The live figures at `now`."""
    minute = now.replace(second=0, microsecond=0)
    hour = queries.Scope(tenant.tenant_id, "minute", minute - timedelta(minutes=59), minute + timedelta(minutes=1))
    q = queries.rollup_totals(database, hour, ("events", "cost_usd"), ("type",), bucket=("minute", "UTC"))
    rows = [r for r in await run(warehouse, q) if r["type"] == "llm_call"]
    active = await one(warehouse, queries.rollup_totals(database, hour, ("sessions",)))
    day_start = floor(now, "day", tenant.tz)
    today = queries.Scope(tenant.tenant_id, "day", day_start, day_start + timedelta(hours=1), ("llm_call",))
    day = await one(warehouse, queries.rollup_totals(database, today, ("cost_usd",)))
    current = [r for r in rows if reading.utc(r["bucket"]) == minute]
    return LiveTick(
        as_of=now,
        minute_start=minute,
        cost_usd=reading.total(current, "cost_usd") or Decimal(0),
        requests=reading.total(current, "events"),
        cost_last_hour_usd=reading.total(rows, "cost_usd") or Decimal(0),
        requests_last_hour=reading.total(rows, "events"),
        active_sessions=active["sessions"],
        cost_today_usd=day["cost_usd"] if day["cost_usd"] is not None else Decimal(0),
    )


@router.get(
    "/live",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`event: tick` with a LiveTick as data."}},
)
async def live(
    tenant: TenantCtx,
    request: Request,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    interval: Annotated[float, Query(ge=0.2, le=2.0, description="Seconds between ticks.")] = 1.0,
    ticks: Annotated[int | None, Query(ge=1, le=100_000, description="Stop after this many ticks.")] = None,
) -> StreamingResponse:
    """Server-sent events: the current minute's cost and requests, the last hour's, active sessions, today's cost."""
    clock: Callable[[], datetime] = request.app.state.clock

    async def events() -> AsyncIterator[str]:
        sent = 0
        while ticks is None or sent < ticks:
            if await request.is_disconnected():
                return
            figures = await tick(warehouse, database, tenant, clock())
            yield f"event: tick\ndata: {figures.model_dump_json()}\n\n"
            sent += 1
            if ticks is None or sent < ticks:
                await asyncio.sleep(interval)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"cache-control": "no-cache", "x-accel-buffering": "no"}
    )
