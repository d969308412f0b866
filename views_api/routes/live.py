"""Live: a server-sent event stream per tenant with the current window's figures.

Each tick reads the minute rollups (the current minute and the last 60) and today's day window;
ticks come every `interval` seconds (at most 2, at least the `live_min_interval_seconds` setting)
until the client goes away, `ticks` are sent, the key is revoked or the stream's lifetime is over.
A tenant's streams share one reading per interval (`views_api.live_feed`), and hold one of its
stream slots while open (`views_api.limits`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from storage import Warehouse
from tenancy.directory import Directory
from tenancy.http import AuthError, authenticate, authorize_tenant, bearer_token
from views_api import queries, reading
from views_api.context import Tenant, TenantCtx
from views_api.deps import DatabaseDep, WarehouseDep, one, run
from views_api.limits import Limits, SlotStreamingResponse
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


KEY_CHECK_SECONDS = 0.5
"""How often an open stream re-checks its key (revoked, or its tenant gone: the stream ends)."""


def _end(reason: str) -> str:
    return f"event: end\ndata: {orjson.dumps({'error': reason}).decode()}\n\n"


@router.get(
    "/live",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": '`event: tick` with a LiveTick as data; a last `event: end` with `{"error": ...}` when '
            "the server ends the stream (key revoked, lifetime reached).",
        }
    },
)
async def live(
    tenant: TenantCtx,
    request: Request,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    interval: Annotated[
        float,
        Query(ge=0.2, le=2.0, description="Seconds between ticks, raised to TALLY_VIEWS_LIVE_MIN_INTERVAL_SECONDS."),
    ] = 1.0,
    ticks: Annotated[int | None, Query(ge=1, le=100_000, description="Stop after this many ticks.")] = None,
) -> StreamingResponse:
    """Server-sent events: the current minute's cost and requests, the last hour's, active sessions, today's cost.

    A tenant's open streams share one reading of its figures; each stream re-checks its key every half
    second (revoked: the stream ends) and ends after TALLY_VIEWS_LIVE_MAX_SECONDS (clients reconnect)."""
    guard: Limits = request.app.state.limits
    directory: Directory = request.app.state.directory
    clock: Callable[[], datetime] = request.app.state.clock
    token, tenant_id = bearer_token(request), tenant.tenant_id
    every = max(interval, guard.settings.live_min_interval_seconds)
    loop = asyncio.get_running_loop()

    def refused() -> str | None:
        """Why the stream may not go on (its key revoked, its tenant gone), or None."""
        try:
            authorize_tenant(authenticate(directory, token, "read", "admin"), tenant_id)
        except AuthError as error:
            return error.message
        return None if directory.tenant(tenant_id) is not None else f"unknown tenant {tenant_id!r}"

    async def read(now: datetime) -> LiveTick:
        return await tick(warehouse, database, tenant, now)

    async def events() -> AsyncIterator[str]:
        ends_at = loop.time() + guard.settings.live_max_seconds
        sent = 0
        while ticks is None or sent < ticks:
            if await request.is_disconnected():
                return
            figures = await guard.live.latest(tenant_id, clock(), read)
            yield f"event: tick\ndata: {figures.model_dump_json()}\n\n"
            sent += 1
            next_at = loop.time() + every
            while (ticks is None or sent < ticks) and (left := next_at - loop.time()) > 0:
                await asyncio.sleep(min(KEY_CHECK_SECONDS, left))
                if (reason := refused()) is not None:
                    yield _end(reason)
                    return
                if loop.time() >= ends_at:
                    yield _end("this stream reached its maximum lifetime; reconnect")
                    return

    release_slot = guard.streams.acquire(tenant_id)

    def release() -> None:
        release_slot()
        if guard.streams.open(tenant_id) == 0:
            guard.live.drop(tenant_id)

    return SlotStreamingResponse(
        events(),
        release,
        send_timeout=guard.settings.stream_send_timeout_seconds,
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )
