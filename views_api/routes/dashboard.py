"""The tenant dashboard under /api/dashboard/{tenant_id}/ (settings and CSV export live apart)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from views_api import queries, reading
from views_api.context import Tenant, TenantCtx, period_params, scope
from views_api.deps import DatabaseDep, NowDep, WarehouseDep, run
from views_api.models import (
    CostPoint,
    Costs,
    HourlyActivity,
    MessagesPoint,
    MessagesSeries,
    ModelCost,
    Overview,
    PeriodOut,
    SessionsPoint,
    SessionsSeries,
    TopProduct,
    TopProducts,
)
from views_api.periods import Period, resolve, source_granularity, zone
from views_api.queries import Scope
from views_api.reading import change, rate, series

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["dashboard"])

PeriodDep = Annotated[Period, Depends(period_params("7d"))]


@router.get("/overview", response_model=Overview)
async def overview(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    tz: Annotated[str | None, Query(max_length=64, description="IANA zone of 'today' (default: the tenant's).")] = None,
) -> Overview:
    """All-time sessions; today's sessions, messages and cost vs yesterday; sessions active in the last hour."""
    today = resolve(now, days=1, tz=zone(tz, tenant.record.timezone), granularity="day")
    two_days = Scope(
        tenant.tenant_id,
        source_granularity("day", today.tz, tenant.tz, today.since),
        today.prev_since,
        today.until,
        ("session_started", "message", "llm_call"),
    )
    q = queries.rollup_totals(
        database, two_days, ("events", "cost_usd", "unpriced"), ("type",), bucket=("day", today.tz.key)
    )
    rows = await run(warehouse, q)
    is_today = {"bucket": int(today.since.timestamp())}
    yesterday = {"bucket": int(today.prev_since.timestamp())}
    all_time = Scope(tenant.tenant_id, "day", datetime(1970, 1, 2), today.until + timedelta(days=1))
    (lifetime,) = await run(warehouse, queries.rollup_totals(database, all_time, ("sessions",)))
    minute = now.replace(second=0, microsecond=0)
    last_hour = Scope(tenant.tenant_id, "minute", minute - timedelta(minutes=59), minute + timedelta(minutes=1))
    (active,) = await run(warehouse, queries.rollup_totals(database, last_hour, ("sessions",)))
    messages_today = reading.total(rows, "events", type="message", **is_today)
    messages_yesterday = reading.total(rows, "events", type="message", **yesterday)
    cost_today = reading.total(rows, "cost_usd", type="llm_call", **is_today) or Decimal(0)
    cost_yesterday = reading.total(rows, "cost_usd", type="llm_call", **yesterday) or Decimal(0)
    return Overview(
        tenant_id=tenant.tenant_id,
        tz=today.tz.key,
        total_sessions=lifetime["sessions"],
        sessions_today=reading.total(rows, "events", type="session_started", **is_today),
        messages_today=messages_today,
        messages_yesterday=messages_yesterday,
        messages_change_pct=change(messages_today, messages_yesterday),
        llm_calls_today=reading.total(rows, "events", type="llm_call", **is_today),
        cost_today_usd=cost_today,
        cost_yesterday_usd=cost_yesterday,
        cost_change_pct=change(cost_today, cost_yesterday),
        unknown_model_calls_today=reading.total(rows, "unpriced", type="llm_call", **is_today),
        active_sessions=active["sessions"],
        as_of=now,
    )


@router.get("/sessions", response_model=SessionsSeries)
async def sessions(
    tenant: TenantCtx, period: PeriodDep, warehouse: WarehouseDep, database: DatabaseDep
) -> SessionsSeries:
    """Sessions over time: started, ended and active (distinct sessions with events) per bucket."""
    bucket = (period.bucket, period.tz.key)
    kinds = ("session_started", "session_ended")
    # one scan for both periods' starts and ends; one for active sessions per bucket and over the period
    both = scope(tenant, period, *kinds)
    both = Scope(both.tenant_id, both.granularity, period.prev_since, period.until, both.types)
    rows = await run(warehouse, queries.rollup_totals(database, both, ("events",), ("type",), bucket))
    since = period.since.timestamp()
    by_type = [r for r in rows if r["bucket"] >= since]
    previous_started = sum(r["events"] for r in rows if r["bucket"] < since and r["type"] == "session_started")
    active_rows = await run(
        warehouse, queries.rollup_totals(database, scope(tenant, period), ("sessions",), (), bucket, with_total=True)
    )
    active = [r for r in active_rows if r["bucket"] != 0]
    distinct = next((r for r in active_rows if r["bucket"] == 0), {"sessions": 0})
    started = series(period, [r for r in by_type if r["type"] == "session_started"], ("events",))
    ended = series(period, [r for r in by_type if r["type"] == "session_ended"], ("events",))
    live = series(period, active, ("sessions",))
    total_started = sum(p["events"] for p in started)
    return SessionsSeries(
        tenant_id=tenant.tenant_id,
        period=PeriodOut.of(period),
        total_started=total_started,
        previous_started=previous_started,
        change_pct=change(total_started, previous_started),
        distinct_sessions=distinct["sessions"],
        points=[
            SessionsPoint(start=s["start"], started=s["events"], active=a["sessions"], ended=e["events"])
            for s, a, e in zip(started, live, ended, strict=True)
        ],
    )


@router.get("/messages", response_model=MessagesSeries)
async def messages(
    tenant: TenantCtx, period: PeriodDep, warehouse: WarehouseDep, database: DatabaseDep
) -> MessagesSeries:
    """Message volume per bucket, user vs assistant (and system)."""
    q = queries.rollup_totals(
        database, scope(tenant, period, "message"), ("events",), ("role",), (period.bucket, period.tz.key)
    )
    rows = await run(warehouse, q)
    prev = await run(
        warehouse, queries.rollup_totals(database, scope(tenant, period, "message", previous=True), ("events",))
    )
    roles = {
        role: series(period, [r for r in rows if r["role"] == role], ("events",))
        for role in ("user", "assistant", "system")
    }
    totals = {role: sum(p["events"] for p in points) for role, points in roles.items()}
    total, previous_total = sum(totals.values()), (prev[0]["events"] if prev else 0)
    return MessagesSeries(
        tenant_id=tenant.tenant_id,
        period=PeriodOut.of(period),
        total=total,
        previous_total=previous_total,
        change_pct=change(total, previous_total),
        points=[
            MessagesPoint(start=u["start"], user=u["events"], assistant=a["events"], system=s["events"])
            for u, a, s in zip(roles["user"], roles["assistant"], roles["system"], strict=True)
        ],
        **totals,
    )


@router.get("/costs", response_model=Costs)
async def costs(tenant: TenantCtx, period: PeriodDep, warehouse: WarehouseDep, database: DatabaseDep) -> Costs:
    """LLM cost, tokens and requests by provider and model, the cost series, and the previous period's cost."""
    measures = (
        "events",
        "errors",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "reasoning_tokens",
        "cost_usd",
        "unpriced",
    )
    llm = scope(tenant, period, "llm_call")
    models = await run(
        warehouse,
        queries.rollup_totals(
            database,
            llm,
            measures,
            ("provider", "model"),
            order_by=("cost_usd DESC", "events DESC", "provider", "model"),
        ),
    )
    points = await run(
        warehouse, queries.rollup_totals(database, llm, ("events", "cost_usd"), (), (period.bucket, period.tz.key))
    )
    prev = await run(
        warehouse, queries.rollup_totals(database, scope(tenant, period, "llm_call", previous=True), ("cost_usd",))
    )
    total_cost = sum((m["cost_usd"] for m in models), Decimal(0))
    total_requests = sum(m["events"] for m in models)
    previous_cost = prev[0]["cost_usd"] if prev else Decimal(0)
    by_model = [
        ModelCost(
            provider=m["provider"],
            model=m["model"],
            requests=m["events"],
            errors=m["errors"],
            input_tokens=m["input_tokens"],
            output_tokens=m["output_tokens"],
            cached_input_tokens=m["cached_input_tokens"],
            reasoning_tokens=m["reasoning_tokens"],
            cost_usd=m["cost_usd"],
            unknown_model_requests=m["unpriced"],
            share_pct=rate(m["cost_usd"], total_cost) if total_cost else rate(m["events"], total_requests),
        )
        for m in models
    ]
    return Costs(
        tenant_id=tenant.tenant_id,
        period=PeriodOut.of(period),
        total_cost_usd=total_cost,
        previous_cost_usd=previous_cost,
        change_pct=change(total_cost, previous_cost),
        total_requests=total_requests,
        total_input_tokens=sum(m.input_tokens for m in by_model),
        total_output_tokens=sum(m.output_tokens for m in by_model),
        total_cached_input_tokens=sum(m.cached_input_tokens for m in by_model),
        total_reasoning_tokens=sum(m.reasoning_tokens for m in by_model),
        unknown_model_requests=sum(m.unknown_model_requests for m in by_model),
        by_model=by_model,
        points=[
            CostPoint(start=p["start"], cost_usd=p["cost_usd"], requests=p["events"])
            for p in series(period, points, ("cost_usd", "events"))
        ],
    )


ProductAction = Literal["recommended", "inquired", "clicked", "added_to_cart"]


@router.get("/products/top", response_model=TopProducts)
async def top_products(
    tenant: TenantCtx,
    period: PeriodDep,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    event_type: Annotated[ProductAction, Query(description="Which product event to rank by.")] = "recommended",
    limit: Annotated[int, Query(ge=1, le=100, description="How many products.")] = 10,
) -> TopProducts:
    """Products most often recommended, inquired about, clicked or added to cart in the period."""
    s = scope(tenant, period, "product_event", match={"action": (event_type,)})
    q = queries.rollup_totals(
        database,
        s,
        ("events", "sessions", "max_product_name"),
        ("product_id",),
        order_by=("events DESC", "product_id"),
        limit=limit,
    )
    rows = await run(warehouse, q)
    return TopProducts(
        tenant_id=tenant.tenant_id,
        event_type=event_type,
        period=PeriodOut.of(period),
        products=[
            TopProduct(
                product_id=r["product_id"],
                product_name=r["max_product_name"],
                count=r["events"],
                sessions=r["sessions"],
            )
            for r in rows
        ],
    )


@router.get("/activity/hourly", response_model=HourlyActivity)
async def hourly_activity(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    period: Annotated[Period, Depends(period_params("30d"))],
) -> HourlyActivity:
    """When people chat: messages, LLM calls and sessions started by hour of day, and a weekday x hour heatmap."""
    hour_scope = _hourly_scope(tenant, period)
    q = queries.rollup_totals(database, hour_scope, ("events",), ("type",), ("hour", period.tz.key))
    by_hour: dict[str, list[int]] = {k: [0] * 24 for k in ("message", "llm_call", "session_started")}
    heatmap = [[0] * 24 for _ in range(7)]
    for row in await run(warehouse, q):
        local = reading.utc(row["bucket"]).astimezone(period.tz)
        if row["type"] in by_hour:
            by_hour[row["type"]][local.hour] += row["events"]
        if row["type"] == "message":
            heatmap[local.weekday()][local.hour] += row["events"]
    return HourlyActivity(
        tenant_id=tenant.tenant_id,
        period=PeriodOut.of(period),
        messages_by_hour=by_hour["message"],
        llm_calls_by_hour=by_hour["llm_call"],
        sessions_by_hour=by_hour["session_started"],
        heatmap=heatmap,
    )


def _hourly_scope(tenant: Tenant, period: Period) -> Scope:
    granularity = (
        "minute" if period.bucket == "minute" else source_granularity("hour", period.tz, tenant.tz, period.since)
    )
    kinds = ("message", "llm_call", "session_started")
    return Scope(tenant.tenant_id, granularity, period.since, period.until, kinds)
