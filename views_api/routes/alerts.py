"""The alerts API: rules (seeded defaults included), channels, test sends, active alerts, history,
acknowledgements and silences. Changes are written to the alert-rules topic (acknowledged by Kafka
before the answer) and every worker follows it; history comes from the `alert_events` table.

Channels are write-only: every answer shows them as `ChannelView` (id, kind, masked target); a PUT
keeps a saved channel, secrets included, with `{"kind": "keep", "id": ...}` (alerting.channel_input).
Limits (alerting.limits): rules per tenant (409 past it), recipients per email channel (422), test
sends per tenant and minute (429 with Retry-After).
"""

from __future__ import annotations

import math
import re
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated
from weakref import WeakKeyDictionary

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError

from alerting.channel_input import ChannelInputError, resolve_channels
from alerting.channels import DeliveryError, SmtpEnv, send
from alerting.limits import alert_limits
from alerting.rulebook import RuleBook, default_rules, dump
from guards.outbound import OutboundClient
from guards.ratelimit import RateLimiter
from schemas.alerts import (
    AlertChannels,
    AlertControl,
    AlertRule,
    Channel,
    ChannelIn,
    ChannelRef,
    ChannelView,
    Notification,
    RuleIn,
    RuleView,
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
    ChannelList,
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
_test_limiters: WeakKeyDictionary[object, RateLimiter] = WeakKeyDictionary()
"""Test sends per tenant, one limiter per app (per process)."""


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
        rule=rule.view(),
        seeded=seeded and rule.rule_id not in {r.rule_id for r in book.own_rules(tenant.tenant_id)},
        silenced_until=silence.until if silence and silence.until and silence.until > now else None,
        acknowledged_at=ack.at if ack else None,
    )


@router.get("/rules", response_model=RuleList)
async def list_rules(tenant: TenantCtx, request: Request, now: NowDep) -> RuleList:
    """The tenant's rules (its own and the seeded defaults) and its default channels."""
    book = book_of(request)
    rules = [_out(book, tenant, r, now) for r in _rules(book, tenant).values()]
    defaults = [ChannelView.of(c) for c in book.default_channels(tenant.tenant_id)]
    return RuleList(tenant_id=tenant.tenant_id, default_channels=defaults, rules=rules)


def _channels(incoming: Sequence[ChannelIn], saved: Sequence[Channel]) -> list[Channel]:
    """The channels to save, or a 422 naming the channel (unknown `keep` id, too many recipients)."""
    try:
        return resolve_channels(incoming, saved, alert_limits())
    except ChannelInputError as exc:
        loc = ("body", *(int(p) if p.isdigit() else p for p in exc.field.split(".")))
        raise RequestValidationError([{"loc": loc, "msg": exc.message, "type": "value_error"}]) from exc


@router.post("/rules", response_model=RuleView, status_code=status.HTTP_201_CREATED)
async def create_rule(tenant: TenantCtx, body: RuleIn, request: Request, now: NowDep) -> RuleView:
    """Create a rule (admin key); its id is derived from its name. New channels are sent in full;
    `{"kind": "keep", "id": ...}` takes one of the tenant's default channels."""
    _admin(tenant)
    book = book_of(request)
    limit = alert_limits().max_rules
    if len(book.own_rules(tenant.tenant_id)) >= limit:
        raise AuthError(409, f"alert rule quota reached: at most {limit} rules per tenant (TALLY_ALERT_MAX_RULES)")
    channels = _channels(body.channels, book.default_channels(tenant.tenant_id))
    slug = re.sub(r"[^a-z0-9]+", "-", body.name.lower()).strip("-")[:40] or "rule"
    rule = AlertRule(
        rule_id=f"{slug}-{secrets.token_hex(3)}", tenant_id=tenant.tenant_id, created_at=now, updated_at=now,
        channels=channels, **body.model_dump(exclude={"channels"}),
    )  # fmt: skip
    await write_rules(request, rule_record_key(tenant.tenant_id, rule.rule_id), dump(rule))
    return rule.view()


@router.put("/rules/{rule_id}", response_model=RuleView)
async def replace_rule(tenant: TenantCtx, rule_id: RuleIdPath, body: RuleIn, request: Request, now: NowDep) -> RuleView:
    """Replace a rule (a seeded default too: the tenant's version takes its place). Channels it keeps
    are sent as `{"kind": "keep", "id": ...}` (its own or the tenant's defaults): their secrets stay."""
    _admin(tenant)
    book = book_of(request)
    existing = _rules(book, tenant).get(rule_id)
    if existing is None:
        raise AuthError(404, f"no alert rule {rule_id!r}")
    channels = _channels(body.channels, [*existing.channels, *book.default_channels(tenant.tenant_id)])
    rule = AlertRule(
        rule_id=rule_id, tenant_id=tenant.tenant_id, created_at=existing.created_at, updated_at=now,
        channels=channels, **body.model_dump(exclude={"channels"}),
    )  # fmt: skip
    await write_rules(request, rule_record_key(tenant.tenant_id, rule_id), dump(rule))
    return rule.view()


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


@router.put("/channels", response_model=ChannelList)
async def put_channels(tenant: TenantCtx, body: ChannelsIn, request: Request) -> ChannelList:
    """Set the tenant's default channels (used by rules without their own, the seeded ones included);
    `{"kind": "keep", "id": ...}` keeps a saved default channel as it is."""
    _admin(tenant)
    channels = _channels(body.channels, book_of(request).default_channels(tenant.tenant_id))
    record = AlertChannels(tenant_id=tenant.tenant_id, channels=channels)
    await write_rules(request, channels_record_key(tenant.tenant_id), dump(record))
    return ChannelList(channels=[ChannelView.of(c) for c in channels])


def _take_test(request: Request, tenant_id: str) -> None:
    """The tenant's test-send allowance, or 429 with Retry-After (test sends reach out to the internet)."""
    per_minute = alert_limits().tests_per_minute
    limiter = _test_limiters.setdefault(request.app, RateLimiter(burst_seconds=60.0))
    wait = limiter.take(tenant_id, 1, per_minute / 60.0, time.monotonic())
    if wait is not None:
        error = AuthError(429, f"too many test sends: at most {per_minute:g} a minute (TALLY_ALERT_TESTS_PER_MINUTE)")
        error.headers = {"Retry-After": str(max(1, math.ceil(wait)))}
        raise error


@router.post("/rules/{rule_id}/test", response_model=TestResult)
async def test_rule(tenant: TenantCtx, rule_id: RuleIdPath, request: Request, now: NowDep) -> TestResult:
    """Send a test notification to each of the rule's channels now, and say how each went: `delivered`
    or a category (refused: the address is not allowed; timeout; HTTP 4xx; HTTP 5xx; connection failed ...)."""
    _admin(tenant)
    book = book_of(request)
    rule = _rules(book, tenant).get(rule_id)
    if rule is None:
        raise AuthError(404, f"no alert rule {rule_id!r}")
    _take_test(request, tenant.tenant_id)
    item = Transition(
        rule_id=rule.rule_id, kind="firing", at=now, value=None, threshold=rule.threshold, metric=rule.metric,
        severity=rule.severity, name=f"TEST — {rule.name}", incident=f"test:{tenant.tenant_id}:{rule.rule_id}",
    )  # fmt: skip
    http = OutboundClient()
    try:
        results = [await _test_one(http, tenant.tenant_id, ref, channel, item) for ref, channel in book.targets(rule)]
    finally:
        await http.aclose()
    return TestResult(rule_id=rule_id, results=results)


async def _test_one(
    http: OutboundClient, tenant_id: str, ref: ChannelRef, channel: Channel, item: Transition
) -> ChannelTest:
    notification = Notification(notification_id=f"test-{secrets.token_hex(8)}", channel=ref, items=[item])
    try:
        await send(channel, tenant_id, notification, http, SmtpEnv().settings())
        result = "delivered"
    except DeliveryError as exc:
        result = exc.category
    except Exception:  # never a 500 nor an exception's text
        result = "internal error"
    ok = result == "delivered"
    return ChannelTest(channel=channel.kind, id=channel.id, target=channel.target(), ok=ok, result=result)


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
