"""Insights under /api/dashboard/{tenant_id}/: funnel, cohorts, cost forecast, live activity feed.

The funnel is the built-in `ecommerce` funnel (`views_api.routes.funnels`, over the raw events) while they
are kept, the rollups before; cohorts and forecast read the rollups; the live feed is a drill-down over
the raw events.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from schemas.funnels import ECOMMERCE, resolve_funnel
from storage import Warehouse
from views_api import forecast as fc
from views_api import queries, reading
from views_api.context import Tenant, TenantCtx, period_params, raw_kept, scope
from views_api.deps import DatabaseDep, NowDep, WarehouseDep, run
from views_api.models import PeriodOut
from views_api.models_insights import (
    Cohort,
    Cohorts,
    CostForecast,
    DayCost,
    ForecastTotal,
    Funnel,
    FunnelDay,
    FunnelStage,
    LiveEvent,
    LiveFeed,
)
from views_api.periods import Period, floor, last, shift
from views_api.reading import rate, series
from views_api.routes.funnels import funnel_counts

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["insights"])

STAGES = {
    "started": "sessions",
    "viewed": "product_viewed",
    "clicked": "clicked",
    "added_to_cart": "added_to_cart",
    "converted": "converted",
}
"""Funnel stages: `queries.FUNNEL_STAGES` column -> the stage's name in answers (the steps of `ECOMMERCE`)."""
_ECOMMERCE = resolve_funnel(ECOMMERCE)


async def _rollup_counts(
    tenant: Tenant, warehouse: Warehouse, database: str, period: Period
) -> tuple[list[int], list[tuple[datetime, list[int]]]]:
    """Distinct sessions with each stage's event, over the period and per bucket, from the rollups."""
    s = scope(tenant, period)
    (totals,) = await run(warehouse, queries.funnel_sessions(database, s))
    rows = await run(warehouse, queries.funnel_sessions(database, s, (period.bucket, period.tz.key)))
    points = series(period, rows, tuple(STAGES))
    return [totals[c] for c in STAGES], [(p["start"], [p[c] for c in STAGES]) for p in points]


@router.get("/funnel", response_model=Funnel)
async def funnel(
    tenant: TenantCtx,
    request: Request,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    period: Annotated[Period, Depends(period_params("7d"))],
) -> Funnel:
    """Sessions at each stage: started, product viewed, clicked, added to cart, converted; per bucket too.

    While the period's raw events are kept: the built-in `ecommerce` funnel (sessions through the stages
    in order within 7 days, a conversion's attributed session counted; per bucket of the session's
    start). Before: from the rollups, distinct sessions with each stage's event, each stage on its own."""
    if raw_kept(request, now, period):
        counted = await funnel_counts(warehouse, database, tenant.tenant_id, _ECOMMERCE, period)
        counts, buckets = counted.totals, counted.daily
    else:
        counts, buckets = await _rollup_counts(tenant, warehouse, database, period)
    stages = []
    for i, (name, count) in enumerate(zip(STAGES.values(), counts, strict=True)):
        previous = counts[i - 1] if i else None
        drop = max(previous - count, 0) if previous is not None else None
        stages.append(
            FunnelStage(
                stage=name,
                count=count,
                from_previous_pct=rate(count, previous) if previous is not None else None,
                from_first_pct=rate(count, counts[0]),
                drop_off=drop,
                drop_off_pct=rate(drop, previous) if previous is not None and drop is not None else None,
            )
        )
    daily = [FunnelDay(start=start, **dict(zip(STAGES.values(), day, strict=True))) for start, day in buckets]
    return Funnel(tenant_id=tenant.tenant_id, period=PeriodOut.of(period), stages=stages, daily=daily)


RETENTION_WEEKS = 5
"""Weeks 0-4 after the cohort week."""


@router.get("/cohorts", response_model=Cohorts)
async def cohorts(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    weeks: Annotated[int, Query(ge=1, le=52, description="Cohort weeks, the current one included.")] = 8,
) -> Cohorts:
    """End users by first-seen week (Monday start, tenant zone): cohort size, retention in weeks 0-4, conversion."""
    tz = tenant.tz
    span = last(now, "week", weeks, tz)
    current = floor(now, "week", tz)
    q = queries.cohort_weeks(database, tenant.tenant_id, tz.key, span.since, span.until)
    cells: dict[datetime, dict[datetime, Mapping[str, Any]]] = {}
    for row in await run(warehouse, q):
        cells.setdefault(reading.utc(row["first_week"]), {})[reading.utc(row["week"])] = row
    out = []
    for start in span.buckets:
        mine = cells.get(start, {})
        first = mine.get(start)
        size, converted = (first["users"], first["converted_users"]) if first else (0, 0)
        active: list[int | None] = []
        for k in range(RETENTION_WEEKS):
            week = shift(start, "week", k, tz)
            active.append(mine[week]["users"] if week in mine else 0 if week <= current else None)
        out.append(
            Cohort(
                week_start=start,
                size=size,
                active=active,
                retention_pct=[rate(a, size) if a is not None and size else None for a in active],
                converted=converted,
                conversion_pct=rate(converted, size),
            )
        )
    return Cohorts(tenant_id=tenant.tenant_id, tz=tz.key, weeks=weeks, cohorts=out)


HORIZONS = (7, 30)


@router.get("/forecast", response_model=CostForecast)
async def forecast(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    days: Annotated[int, Query(ge=1, le=365, description="Complete days of history to fit (before today).")] = 28,
) -> CostForecast:
    """LLM cost forecast for the next 7 and 30 days (from today, tenant zone) from the daily cost of the last days."""
    tz = tenant.tz
    today = floor(now, "day", tz)
    since = shift(today, "day", -days, tz)
    period = Period(since, today, "day", tz, shift(since, "day", -days, tz), f"days={days}")
    q = queries.rollup_totals(database, scope(tenant, period, "llm_call"), ("cost_usd",), (), ("day", tz.key))
    history = [
        DayCost(start=p["start"], cost_usd=p["cost_usd"])
        for p in series(period, await run(warehouse, q), ("cost_usd",))
    ]
    line = fc.fit([h.cost_usd for h in history])
    projection = line.projection(max(HORIZONS))
    totals = [fc.outlook(line, n) for n in HORIZONS]
    week, month = (ForecastTotal(days=o.horizon, total_usd=o.total, low_usd=o.low, high_usd=o.high) for o in totals)
    return CostForecast(
        tenant_id=tenant.tenant_id,
        tz=tz.key,
        method=line.method,
        history=history,
        history_total_usd=sum((h.cost_usd for h in history), Decimal(0)),
        slope_usd_per_day=reading.money(line.slope),
        residual_std_usd=reading.money(line.residual_std),
        projection=[DayCost(start=shift(today, "day", i, tz), cost_usd=c) for i, c in enumerate(projection)],
        next_7_days=week,
        next_30_days=month,
    )


@router.get("/activity/live", response_model=LiveFeed)
async def live_activity(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    limit: Annotated[int, Query(ge=1, le=500, description="How many events.")] = 50,
) -> LiveFeed:
    """The latest events of the last 24 hours (up to now), newest first, each with a short description."""
    since = now - timedelta(hours=24)
    q = queries.recent_events(database, tenant.tenant_id, since, now + timedelta(milliseconds=1), limit)
    events = [
        LiveEvent(
            id=r["id"],
            type=r["type"],
            ts=r["ts"],
            session_id=r["session_id"],
            end_user_id=r["end_user_id"],
            domain=r["domain"],
            description=describe(r),
        )
        for r in await run(warehouse, q)
    ]
    return LiveFeed(tenant_id=tenant.tenant_id, since=since, events=events)


def usd(amount: Decimal) -> str:
    """A cost for people: 4 decimal places, 6 below $0.0001 ("$0.0031", "$0.000075")."""
    places = Decimal("0.000001") if 0 < amount < Decimal("0.0001") else Decimal("0.0001")
    return f"${amount.quantize(places, rounding=ROUND_HALF_EVEN)}"


def describe(event: Mapping[str, Any]) -> str:
    """A one-line description of a raw event (a row of `queries.EVENT_COLUMNS`)."""
    kind = event["type"]
    if kind == "llm_call":
        tokens = event["input_tokens"] + event["output_tokens"]
        cost = "unpriced" if event["price_status"] == "unknown_model" else usd(event["cost_usd"])
        text = f"llm_call {event['model']} {tokens:,} tokens {cost}"
        return text + " (error)" if event["status"] == "error" else text
    if kind == "message":
        return f"{event['role'] or 'a'} message ({event['content_chars']:,} characters)"
    if kind in ("session_started", "session_ended"):
        detail = event.get("channel", "") if kind == "session_started" else event.get("end_reason", "")
        verb = kind.replace("_", " ")
        return f"{verb} ({detail})" if detail else verb
    if kind == "product_event":
        action = event["product_action"].replace("_", " ")
        return f"product {action}: {event['product_name'] or event['product_id']}"
    if kind == "search":
        n = event["results_count"]
        return f"search '{event['search_query']}' — {n:,} result{'' if n == 1 else 's'}"
    if kind == "conversion":
        revenue = reading.money(event["revenue"], "0.01")
        return f"conversion {event['order_id']}: {revenue} {event['currency']}".rstrip()
    if kind == "feedback":
        if event["rating"]:
            return f"feedback: rated {event['rating']}"
        thumbs = {1: ": thumbs up", -1: ": thumbs down"}.get(event["thumbs"], "")
        return f"feedback{thumbs}"
    if kind == "tool_call":
        return (
            f"tool call {event['tool_name']} ({event['status']})"
            if event["status"]
            else f"tool call {event['tool_name']}"
        )
    if kind == "custom":
        return f"custom: {event['name']}"
    return str(kind)
