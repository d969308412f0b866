"""The alerts API: rules (seeded defaults included), channels, test sends, active alerts, history,
acknowledgements and silences. Changes are written to the alert-rules topic (acknowledged by Kafka
before the answer) and every worker follows it; history comes from the `alert_events` table.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Annotated

import httpx
from fastapi import APIRouter, Query, Request, Response, status

from alerting.channels import DeliveryError, SmtpEnv, send
from alerting.rulebook import RuleBook, default_rules, dump
from schemas.alerts import (
    AlertChannels,
    AlertControl,
    AlertRule,
    Notification,
    RuleIn,
    Transition,
    channels_record_key,
    control_record_key,
    rule_record_key,
)
from tenancy.http import AuthError
from views_api import queries
from views_api.context import Tenant, TenantCtx
from views_api.deps import DatabaseDep, NowDep, WarehouseDep
from views_api.models_alerts import (
    ActiveAlerts,
    AlertHistory,
    AlertOut,
    ChannelsIn,
    ChannelTest,
    Delivery,
    HistoryItem,
    RuleList,
    RuleOut,
    SilenceIn,
    TestResult,
)
from views_api.rule_writes import RuleIdPath, book_of, write_rules

router = APIRouter(prefix="/api/dashboard/{tenant_id}/alerts", tags=["alerts"])

ACTIVE = ("pending", "firing", "reminder")


def _admin(tenant: Tenant) -> str:
    if tenant.principal.scope != "admin":
        raise AuthError(403, "changing alerts needs an admin key (this key can only read)")
    return tenant.principal.key_id


def _rules(book: RuleBook, tenant: Tenant) -> dict[str, AlertRule]:
    return {r.rule_id: r for r in book.rules(tenant.tenant_id, tenant.record.monthly_budget_usd)}


def _out(book: RuleBook, tenant: Tenant, rule: AlertRule, now: datetime) -> RuleOut:
    silence = book.control("silence", tenant.tenant_id, rule.rule_id)
    ack = book.control("ack", tenant.tenant_id, rule.rule_id)
    seeded = rule.rule_id in {d.rule_id for d in default_rules(tenant.tenant_id, tenant.record.monthly_budget_usd)}
    return RuleOut(
        rule=rule,
        seeded=seeded and rule.rule_id not in {r.rule_id for r in book.own_rules(tenant.tenant_id)},
        silenced_until=silence.until if silence and silence.until and silence.until > now else None,
        acknowledged_at=ack.at if ack else None,
    )


@router.get("/rules", response_model=RuleList)
async def list_rules(tenant: TenantCtx, request: Request, now: NowDep) -> RuleList:
    """The tenant's rules (its own and the seeded defaults) and its default channels."""
    book = book_of(request)
    rules = [_out(book, tenant, r, now) for r in _rules(book, tenant).values()]
    return RuleList(tenant_id=tenant.tenant_id, default_channels=book.default_channels(tenant.tenant_id), rules=rules)


@router.post("/rules", response_model=AlertRule, status_code=status.HTTP_201_CREATED)
async def create_rule(tenant: TenantCtx, body: RuleIn, request: Request, now: NowDep) -> AlertRule:
    """Create a rule (admin key); its id is derived from its name."""
    _admin(tenant)
    slug = re.sub(r"[^a-z0-9]+", "-", body.name.lower()).strip("-")[:40] or "rule"
    rule = AlertRule(
        rule_id=f"{slug}-{secrets.token_hex(3)}", tenant_id=tenant.tenant_id, created_at=now, updated_at=now,
        **body.model_dump(),
    )  # fmt: skip
    await write_rules(request, rule_record_key(tenant.tenant_id, rule.rule_id), dump(rule))
    return rule


@router.put("/rules/{rule_id}", response_model=AlertRule)
async def replace_rule(
    tenant: TenantCtx, rule_id: RuleIdPath, body: RuleIn, request: Request, now: NowDep
) -> AlertRule:
    """Replace a rule (a seeded default too: the tenant's version takes its place)."""
    _admin(tenant)
    existing = _rules(book_of(request), tenant).get(rule_id)
    if existing is None:
        raise AuthError(404, f"no alert rule {rule_id!r}")
    rule = AlertRule(
        rule_id=rule_id, tenant_id=tenant.tenant_id, created_at=existing.created_at, updated_at=now,
        **body.model_dump(),
    )  # fmt: skip
    await write_rules(request, rule_record_key(tenant.tenant_id, rule_id), dump(rule))
    return rule


@router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(tenant: TenantCtx, rule_id: RuleIdPath, request: Request, now: NowDep) -> Response:
    """Delete a rule; a seeded default is turned off instead (it would come back otherwise)."""
    _admin(tenant)
    book = book_of(request)
    rule = _rules(book, tenant).get(rule_id)
    if rule is None:
        raise AuthError(404, f"no alert rule {rule_id!r}")
    key = rule_record_key(tenant.tenant_id, rule_id)
    if rule_id in {d.rule_id for d in default_rules(tenant.tenant_id, tenant.record.monthly_budget_usd)}:
        await write_rules(request, key, dump(rule.model_copy(update={"enabled": False, "updated_at": now})))
    else:
        await write_rules(request, key, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/channels", response_model=ChannelsIn)
async def put_channels(tenant: TenantCtx, body: ChannelsIn, request: Request) -> ChannelsIn:
    """Set the tenant's default channels (used by rules without their own, the seeded ones included)."""
    _admin(tenant)
    record = AlertChannels(tenant_id=tenant.tenant_id, channels=body.channels)
    await write_rules(request, channels_record_key(tenant.tenant_id), dump(record))
    return body


@router.post("/rules/{rule_id}/test", response_model=TestResult)
async def test_rule(tenant: TenantCtx, rule_id: RuleIdPath, request: Request, now: NowDep) -> TestResult:
    """Send a test notification to each of the rule's channels now, and say how each went."""
    _admin(tenant)
    book = book_of(request)
    rule = _rules(book, tenant).get(rule_id)
    if rule is None:
        raise AuthError(404, f"no alert rule {rule_id!r}")
    item = Transition(
        rule_id=rule.rule_id, kind="firing", at=now, value=None, threshold=rule.threshold, metric=rule.metric,
        severity=rule.severity, name=f"TEST — {rule.name}", incident=f"test:{tenant.tenant_id}:{rule.rule_id}",
    )  # fmt: skip
    results = []
    async with httpx.AsyncClient(timeout=10) as http:
        for channel in book.channels(rule):
            notification = Notification(notification_id=f"test-{secrets.token_hex(8)}", channel=channel, items=[item])
            try:
                await send(channel, tenant.tenant_id, notification, http, SmtpEnv().settings())
                results.append(ChannelTest(channel=channel.kind, ok=True, error=""))
            except DeliveryError as exc:
                results.append(ChannelTest(channel=channel.kind, ok=False, error=str(exc)))
    return TestResult(rule_id=rule_id, results=results)


@router.post("/rules/{rule_id}/ack", response_model=RuleOut)
async def acknowledge(tenant: TenantCtx, rule_id: RuleIdPath, request: Request, now: NowDep) -> RuleOut:
    """Acknowledge the rule's current incident: no reminders until it resolves."""
    by = _admin(tenant)
    book = book_of(request)
    rule = _rules(book, tenant).get(rule_id)
    if rule is None:
        raise AuthError(404, f"no alert rule {rule_id!r}")
    control = AlertControl(kind="ack", tenant_id=tenant.tenant_id, rule_id=rule_id, at=now, by=by)
    await write_rules(request, control_record_key("ack", tenant.tenant_id, rule_id), dump(control))
    return _out(book, tenant, rule, now)


@router.post("/rules/{rule_id}/silence", response_model=RuleOut)
async def silence(tenant: TenantCtx, rule_id: RuleIdPath, body: SilenceIn, request: Request, now: NowDep) -> RuleOut:
    """Withhold the rule's notifications for `minutes` (it keeps being evaluated and recorded)."""
    by = _admin(tenant)
    book = book_of(request)
    rule = _rules(book, tenant).get(rule_id)
    if rule is None:
        raise AuthError(404, f"no alert rule {rule_id!r}")
    until = now + timedelta(minutes=body.minutes)
    control = AlertControl(kind="silence", tenant_id=tenant.tenant_id, rule_id=rule_id, at=now, until=until, by=by)
    await write_rules(request, control_record_key("silence", tenant.tenant_id, rule_id), dump(control))
    return _out(book, tenant, rule, now)


@router.get("/active", response_model=ActiveAlerts)
async def active(tenant: TenantCtx, warehouse: WarehouseDep, database: DatabaseDep) -> ActiveAlerts:
    """Rules pending or firing now (their latest recorded transition)."""
    q = queries.alert_latest(database, tenant.tenant_id)
    rows = await warehouse.query(q.sql, q.params)
    alerts = [AlertOut(**{k: r[k] for k in AlertOut.model_fields}) for r in rows if r["kind"] in ACTIVE]
    return ActiveAlerts(tenant_id=tenant.tenant_id, alerts=alerts)


@router.get("/history", response_model=AlertHistory)
async def history(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    days: Annotated[int, Query(ge=1, le=400, description="Look back this many days.")] = 7,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> AlertHistory:
    """Every transition of the period, newest first, with the delivery outcome of its notifications."""
    since, until = now - timedelta(days=days), now + timedelta(seconds=1)
    q = queries.alert_history(database, tenant.tenant_id, since, until, limit)
    rows = await warehouse.query(q.sql, q.params)
    ids = sorted({n for r in rows for n in r["notifications"]})
    deliveries: dict[str, list[Delivery]] = {}
    if ids:
        dq = queries.alert_deliveries(database, tenant.tenant_id, ids)
        for d in await warehouse.query(dq.sql, dq.params):
            deliveries.setdefault(d["notification_id"], []).append(Delivery(**d))
    items = [
        HistoryItem(
            **{k: r[k] for k in AlertOut.model_fields},
            notifications=r["notifications"],
            silenced=bool(r["silenced"]),
            deliveries=[d for n in r["notifications"] for d in deliveries.get(n, [])],
        )
        for r in rows
    ]
    return AlertHistory(tenant_id=tenant.tenant_id, since=since, until=now, items=items)
