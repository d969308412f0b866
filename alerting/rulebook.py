"""The rules every worker and views process holds, followed from the compacted rules topic.

`RuleBook.apply` takes the topic's records (`schemas.alerts` lists the keys); `rules(tenant)` gives
the tenant's effective rules: its own, plus the seeded defaults (daily cost over $50,
LLM error rate over 15 %, and, once a monthly budget is set, 80 % and 100 % of it) unless the
tenant replaced or disabled them under the same id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from pydantic import BaseModel

from schemas.alerts import (
    PLATFORM,
    AlertChannels,
    AlertControl,
    AlertRule,
    Channel,
    ChannelRef,
)
from tenancy.ordering import OffsetOrder

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@lru_cache(maxsize=65_536)
def default_rules(tenant_id: str, budget: Decimal | None) -> tuple[AlertRule, ...]:
    """The default rules of a tenant (budget rules only with a budget); built once per tenant
    and budget (rules are immutable), since every evaluation asks for every tenant's."""
    common = {"tenant_id": tenant_id, "created_at": EPOCH, "updated_at": EPOCH}
    rules = [
        AlertRule(
            rule_id="default-daily-cost", name="High daily cost", metric="cost", window="day",
            threshold=Decimal(50), severity="warning", **common,
        ),
        AlertRule(
            rule_id="default-error-rate", name="Error rate spike", metric="error_rate", window="15m",
            threshold=Decimal(15), min_samples=20, for_seconds=60, severity="critical", **common,
        ),
    ]  # fmt: skip
    if budget is not None:
        rules += [
            AlertRule(
                rule_id=f"default-budget-{pct}", name=f"Monthly budget {pct} % used", metric="budget_used_pct",
                window="month", comparator="gte", threshold=Decimal(pct), resolve_after_seconds=0,
                severity="warning" if pct < 100 else "critical", **common,
            )
            for pct in (80, 100)
        ]  # fmt: skip
    return tuple(rules)


class RuleBook:
    """Rules, default channels, acknowledgements and silences by tenant."""

    def __init__(self) -> None:
        self._rules: dict[str, dict[str, AlertRule | None]] = {}
        self._channels: dict[str, list[Channel]] = {}
        self._controls: dict[tuple[str, str, str], AlertControl] = {}
        self._order = OffsetOrder()

    def apply(self, key: bytes | None, value: bytes | None, offset: int | None = None) -> None:
        """Apply one record of the rules topic (a None value deletes the key's record)."""
        if key is None:
            return
        if offset is not None and not self._order.admits(key, offset, value is None):
            return  # older than the key's record applied (`tenancy.ordering.OffsetOrder`)
        kind, _, rest = key.decode().partition(":")
        tenant, _, rule_id = rest.partition(":")
        if kind == "rule":
            if value is None:
                self._rules.get(tenant, {}).pop(rule_id, None)
            else:
                rule = AlertRule.model_validate_json(value)
                self._rules.setdefault(tenant, {})[rule_id] = rule
        elif kind == "channels":
            if value is None:
                self._channels.pop(tenant, None)
            else:
                self._channels[tenant] = AlertChannels.model_validate_json(value).channels
        elif kind in ("ack", "silence"):
            if value is None:
                self._controls.pop((kind, tenant, rule_id), None)
            else:
                self._controls[(kind, tenant, rule_id)] = AlertControl.model_validate_json(value)

    def followed(self, offset: int) -> None:
        """The follower consumed the topic up to `offset`."""
        self._order.followed(offset)

    @property
    def offsets_held(self) -> int:
        return self._order.held

    def own_rules(self, tenant_id: str) -> list[AlertRule]:
        return [r for r in self._rules.get(tenant_id, {}).values() if r is not None]

    def rules(self, tenant_id: str, budget: Decimal | None = None, with_defaults: bool = True) -> list[AlertRule]:
        """The tenant's effective rules: its own, and the defaults it did not replace."""
        own = {r.rule_id: r for r in self.own_rules(tenant_id)}
        defaults = default_rules(tenant_id, budget) if with_defaults and tenant_id != PLATFORM else []
        merged = {**{d.rule_id: d for d in defaults}, **own}
        return sorted(merged.values(), key=lambda r: r.rule_id)

    def tenants(self) -> set[str]:
        return set(self._rules) | set(self._channels)

    def channels(self, rule: AlertRule) -> list[Channel]:
        """Where a rule notifies: its own channels, else its tenant's defaults."""
        return [channel for _, channel in self.targets(rule)]

    def targets(self, rule: AlertRule) -> list[tuple[ChannelRef, Channel]]:
        """Where a rule notifies, each channel with the reference a notification carries instead of it."""
        if rule.channels:
            return [(ChannelRef(kind=c.kind, id=c.id, rule_id=rule.rule_id), c) for c in rule.channels]
        return [(ChannelRef(kind=c.kind, id=c.id), c) for c in self._channels.get(rule.tenant_id, [])]

    def resolve(self, tenant_id: str, ref: ChannelRef) -> Channel | None:
        """The saved channel a notification refers to, None when it is gone (changed or deleted since)."""
        if ref.rule_id is not None:
            rule = self._rules.get(tenant_id, {}).get(ref.rule_id)
            pool: list[Channel] = list(rule.channels) if rule is not None else []
        else:
            pool = self._channels.get(tenant_id, [])
        return next((c for c in pool if c.id == ref.id and c.kind == ref.kind), None) if ref.id else None

    def default_channels(self, tenant_id: str) -> list[Channel]:
        return self._channels.get(tenant_id, [])

    def silenced(self, tenant_id: str, rule_id: str, now: datetime) -> bool:
        control = self._controls.get(("silence", tenant_id, rule_id))
        return control is not None and (control.until is None or now < control.until)

    def acknowledged(self, tenant_id: str, rule_id: str, since: datetime) -> bool:
        """Whether the incident that started at `since` was acknowledged."""
        control = self._controls.get(("ack", tenant_id, rule_id))
        return control is not None and control.at >= since

    def control(self, kind: str, tenant_id: str, rule_id: str) -> AlertControl | None:
        return self._controls.get((kind, tenant_id, rule_id))


def dump(model: BaseModel) -> bytes:
    return model.model_dump_json().encode()
