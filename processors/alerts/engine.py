"""The alert engine: evaluates every rule on a timer (on the Faust leader) and records what changed.

Each evaluation reads the LLM-call rollups once (`metrics.tick_query`), steps every enabled rule's
state machine (`state.step`), and for each tenant where something changed writes one `AlertTick`
to the alert-state topic: the transitions, the notifications they call for (grouped per channel,
so a storm of rules firing at once is one message per channel), and the tenant's full state. The
in-memory state moves on only after Kafka acknowledged the record, so:

- a crash before the write loses nothing: the next evaluation makes the same transition;
- a crash after it repeats nothing: `restore` rebuilds the state from the topic (compacted by
  tenant, its last record per tenant is the state) before the first evaluation;
- delivery is the deliverer's (processors.alerts.deliver): it reads the same records.

Evaluations run as rollups change (the timer interval is short, 0.5 s by default) and when
nothing arrives, so a rule also resolves when traffic stops.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from alerting.rulebook import RuleBook
from processors import metrics
from processors.alerts.metrics import needs_detail, rule_value, tick_query
from processors.alerts.state import NOTIFYING, step
from schemas.alerts import PLATFORM, AlertRule, AlertTick, ChannelRef, Notification, RuleState, Transition
from storage import Warehouse
from tenancy.directory import Directory

log = logging.getLogger(__name__)

Write = Callable[[bytes, bytes], Awaitable[int]]
Probe = Callable[[], Awaitable[Mapping[str, float]]]


def _essential(states: Mapping[str, RuleState]) -> dict[str, tuple[Any, ...]]:
    """What must survive a restart (the last metric value need not)."""
    return {k: (s.status, s.since, s.incident, s.last_notified, s.clear_since) for k, s in states.items()}


def notification_id(tenant_id: str, at: datetime, channel_json: str) -> str:
    digest = hashlib.sha256(f"{tenant_id}|{at.isoformat()}|{channel_json}".encode()).hexdigest()
    return digest[:32]


class AlertEngine:
    """Rule states of every tenant, advanced by `evaluate`."""

    def __init__(
        self,
        warehouse: Warehouse,
        database: str,
        rules: RuleBook,
        directory: Directory,
        write: Write,
        probe: Probe | None = None,
    ) -> None:
        self._warehouse = warehouse
        self._database = database
        self._rules = rules
        self._directory = directory
        self._write = write
        self._probe = probe
        self.states: dict[str, dict[str, RuleState]] = {}

    def restore(self, key: bytes | None, value: bytes | None, offset: int | None = None) -> None:
        """Apply one record of the alert-state topic (the last one per tenant is its state)."""
        if key is None:
            return
        if value is None:
            self.states.pop(key.decode(), None)
            return
        tick = AlertTick.model_validate_json(value)
        self.states[tick.tenant_id] = dict(tick.states)

    apply = restore  # a KeyedLogFollower target

    def _tenants(self) -> list[str]:
        active = {t for t, rec in self._directory.tenants.items() if not rec.disabled}
        return sorted(active | ({PLATFORM} if self._rules.own_rules(PLATFORM) else set()))

    async def evaluate(self, now: datetime) -> list[AlertTick]:
        """One evaluation of every rule at `now`; returns the ticks written."""
        with metrics.ALERT_EVALUATION.time():
            return await self._evaluate(now)

    async def _evaluate(self, now: datetime) -> list[AlertTick]:
        tenants = self._tenants()
        rows_by_tenant: dict[str, list[dict[str, Any]]] = defaultdict(list)
        data_tenants = [t for t in tenants if t != PLATFORM]
        enabled = {t: [r for r in self._rules.rules(t, self._budget(t)) if r.enabled] for t in tenants}
        if data_tenants:
            rules = [r for t in data_tenants for r in enabled[t]]
            detailed = sorted({r.tenant_id for r in rules if needs_detail(r)})
            latency = any(r.metric == "latency_p95" for r in rules)
            q = tick_query(self._database, data_tenants, now, detailed, latency)
            for row in await self._warehouse.query(q.sql, q.params):
                rows_by_tenant[row["tenant_id"]].append(row)
        pipeline: Mapping[str, float] = {}
        if PLATFORM in tenants and self._probe is not None:
            try:
                pipeline = await self._probe()
            except Exception:  # pipeline rules see no data this time; tenants' rules go on
                log.warning("pipeline probe failed", exc_info=True)
        written = []
        for tenant in tenants:
            tick = self._evaluate_tenant(tenant, enabled[tenant], rows_by_tenant.get(tenant, []), now, pipeline)
            if tick is None:
                continue
            await self._write(tenant.encode(), tick.model_dump_json().encode())
            self.states[tenant] = dict(tick.states)  # only once the record is durable
            written.append(tick)
            for transition in tick.transitions:
                metrics.ALERT_TRANSITIONS.labels(transition.kind).inc()
        return written

    def _budget(self, tenant: str) -> Decimal | None:
        record = self._directory.tenant(tenant)
        return record.monthly_budget_usd if record is not None else None

    def _evaluate_tenant(
        self,
        tenant: str,
        enabled: list[AlertRule],
        rows: list[dict[str, Any]],
        now: datetime,
        pipeline: Mapping[str, float],
    ) -> AlertTick | None:
        record = self._directory.tenant(tenant)
        budget = self._budget(tenant)
        tz = ZoneInfo(record.timezone if record is not None else "UTC")
        before = self.states.get(tenant, {})
        after: dict[str, RuleState] = {}
        transitions: list[Transition] = []
        rules = {r.rule_id: r for r in enabled}
        for rule in rules.values():
            value = rule_value(rule, rows, now, tz, budget, pipeline)
            current = before.get(rule.rule_id)
            acked = current is not None and self._rules.acknowledged(tenant, rule.rule_id, current.since)
            result = step(rule, current, value, now, acknowledged=acked)
            if result.state is not None:
                after[rule.rule_id] = result.state
            if result.transition is not None:
                transitions.append(result.transition)
        if not transitions and _essential(after) == _essential(before):
            if after:
                self.states[tenant] = after  # fresher values, nothing to record
            return None
        notifications, silenced = self._notifications(tenant, transitions, rules, now)
        return AlertTick(
            tenant_id=tenant,
            at=now,
            states=after,
            transitions=transitions,
            notifications=notifications,
            silenced=silenced,
        )

    def _notifications(
        self, tenant: str, transitions: list[Transition], rules: Mapping[str, Any], now: datetime
    ) -> tuple[list[Notification], list[str]]:
        by_channel: dict[str, tuple[ChannelRef, list[Transition]]] = {}
        silenced: list[str] = []
        for item in transitions:
            if item.kind not in NOTIFYING:
                continue
            if self._rules.silenced(tenant, item.rule_id, now):
                silenced.append(item.rule_id)
                continue
            for ref, channel in self._rules.targets(rules[item.rule_id]):
                key = channel.model_dump_json(exclude={"id"})  # the same channel on several rules: one message
                by_channel.setdefault(key, (ref, []))[1].append(item)
        notifications = [  # a reference, never the channel: the alert-state topic holds no secret
            Notification(notification_id=notification_id(tenant, now, key), channel=ref, items=items)
            for key, (ref, items) in sorted(by_channel.items())
        ]
        return notifications, silenced
