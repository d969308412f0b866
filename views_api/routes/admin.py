"""Platform admin views (operator admin keys): tenants ranked, domains across tenants.

Tenants keep hour and day windows in their own zones, so cross-tenant figures read the hour
windows (aligned in every whole-hour zone) over a period bucketed in UTC (or `tz`).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError

from alerting.channel_input import ChannelInputError, resolve_channels
from alerting.limits import alert_limits
from alerting.rulebook import RuleBook, dump
from schemas.alerts import PIPELINE_METRICS, PLATFORM, AlertRule, RuleIn, RuleView, rule_record_key
from tenancy.directory import Directory, Principal
from tenancy.http import AuthError, authenticate, bearer_token
from views_api import queries, reading
from views_api.context import PeriodName
from views_api.deps import DatabaseDep, NowDep, WarehouseDep
from views_api.models import DomainBreakdown, DomainRow, PeriodOut, TenantRank, TenantRanking
from views_api.periods import Period, resolve, zone
from views_api.rule_writes import RuleIdPath, write_rules

router = APIRouter(prefix="/api/admin", tags=["admin"])


async def operator(request: Request) -> Principal:
    """401 without a valid admin key; 403 for a tenant's own admin key."""
    directory: Directory = request.app.state.directory
    principal = authenticate(directory, bearer_token(request), "admin")
    if principal.tenant_id is not None:
        raise AuthError(403, "platform views need an operator admin key")
    return principal


async def admin_period(
    now: NowDep,
    period: Annotated[PeriodName | None, Query(description="Period ending now (default 7d).")] = None,
    days: Annotated[int | None, Query(ge=1, le=400, description="Last N days, today included.")] = None,
    tz: Annotated[str | None, Query(max_length=64, description="IANA time zone (default UTC).")] = None,
) -> Period:
    period_ = resolve(now, period=period, days=days, tz=zone(tz, "UTC"), granularity=None)
    if period_.bucket == "minute":
        return resolve(now, period=period, days=days, tz=period_.tz, granularity="hour")
    return period_


AdminPeriod = Annotated[Period, Depends(admin_period)]
Operator = Annotated[Principal, Depends(operator)]


def _scope(period: Period) -> queries.Scope:
    return queries.Scope(None, "hour", period.since, period.until, ("llm_call",))


@router.get("/tenants", response_model=TenantRanking)
async def tenants(
    _: Operator,
    request: Request,
    period: AdminPeriod,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    sort: Annotated[Literal["cost", "requests", "error_rate"], Query(description="Rank by.")] = "cost",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TenantRanking:
    """Tenants ranked by LLM cost, requests or error rate over the period."""
    measures = ("events", "errors", "cost_usd", "input_tokens", "output_tokens", "sessions")
    q = queries.rollup_totals(database, _scope(period), measures, ("tenant_id",))
    directory: Directory = request.app.state.directory
    ranks = [
        TenantRank(
            tenant_id=r["tenant_id"],
            name=t.name if (t := directory.tenant(r["tenant_id"])) else "",
            requests=r["events"],
            errors=r["errors"],
            error_rate_pct=reading.rate(r["errors"], r["events"]),
            cost_usd=r["cost_usd"],
            tokens=r["input_tokens"] + r["output_tokens"],
            sessions=r["sessions"],
        )
        for r in await warehouse.query(q.sql, q.params)
    ]
    key = {"cost": lambda t: t.cost_usd, "requests": lambda t: t.requests, "error_rate": lambda t: t.error_rate_pct}
    ranks.sort(key=lambda t: t.tenant_id)
    ranks.sort(key=key[sort], reverse=True)  # type: ignore[arg-type, return-value]
    return TenantRanking(period=PeriodOut.of(period), sort=sort, tenants=ranks[:limit])


@router.get("/domains", response_model=DomainBreakdown)
async def domains(_: Operator, period: AdminPeriod, warehouse: WarehouseDep, database: DatabaseDep) -> DomainBreakdown:
    """LLM requests and cost per domain across every tenant."""
    q = queries.rollup_totals(database, _scope(period), ("events", "cost_usd", "sessions"), ("domain", "tenant_id"))
    merged: dict[str, DomainRow] = {}
    for r in await warehouse.query(q.sql, q.params):  # session ids are per tenant: their counts add up
        row = merged.setdefault(
            r["domain"], DomainRow(domain=r["domain"], tenants=0, requests=0, cost_usd=0, sessions=0)
        )
        row.tenants += 1
        row.requests += r["events"]
        row.cost_usd += r["cost_usd"]
        row.sessions += r["sessions"]
    out = list(merged.values())
    out.sort(key=lambda r: (-r.cost_usd, -r.requests, r.domain))
    return DomainBreakdown(period=PeriodOut.of(period), domains=out)


@router.get("/alert-rules", response_model=list[RuleView])
async def platform_rules(_: Operator, request: Request) -> list[RuleView]:
    """Platform-wide alert rules (pipeline health: consumer lag, dead-letter rate); channels masked."""
    book: RuleBook | None = request.app.state.rules
    return [r.view() for r in book.own_rules(PLATFORM)] if book is not None else []


def _body_error(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])


@router.post("/alert-rules", response_model=RuleView, status_code=201)
async def create_platform_rule(principal: Operator, body: RuleIn, request: Request, now: NowDep) -> RuleView:
    """Create a platform rule on `consumer_lag` (records) or `dlq_rate` (dead letters per minute)."""
    if body.metric not in PIPELINE_METRICS:
        raise _body_error("metric", f"platform rules watch the pipeline: {', '.join(PIPELINE_METRICS)}")
    if not body.channels:
        raise _body_error("channels", "platform rules need their own channels")
    try:  # channels are write-only: new ones get ids, and reads show them masked
        channels = resolve_channels(body.channels, [], alert_limits())
    except ChannelInputError as exc:
        raise _body_error(exc.field, exc.message) from exc
    rule = AlertRule(
        rule_id=f"{body.metric.replace('_', '-')}-{secrets.token_hex(3)}", tenant_id=PLATFORM, created_at=now,
        updated_at=now, channels=channels, **body.model_dump(exclude={"channels"}),
    )  # fmt: skip
    await write_rules(request, rule_record_key(PLATFORM, rule.rule_id), dump(rule))
    return rule.view()


@router.delete("/alert-rules/{rule_id}", status_code=204)
async def delete_platform_rule(_: Operator, rule_id: RuleIdPath, request: Request) -> Response:
    book: RuleBook | None = request.app.state.rules
    if book is None or rule_id not in {r.rule_id for r in book.own_rules(PLATFORM)}:
        raise AuthError(404, f"no platform alert rule {rule_id!r}")
    await write_rules(request, rule_record_key(PLATFORM, rule_id), None)
    return Response(status_code=204)
