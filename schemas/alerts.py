"""Alert rules, their channels, and the records the alert engine writes (see docs/decisions/0007-alerts.md).

Rules, channel settings, acknowledgements and silences live in the compacted topic
`schemas.topics.ALERT_RULES`, one record per key:
- `rule:<tenant or _platform>:<rule_id>`  an `AlertRule` (a tombstone deletes it);
- `channels:<tenant>`                     the tenant's default `AlertChannels` (used by seeded rules);
- `ack:<tenant>:<rule_id>`                an `AlertControl` (acknowledged: no reminders until it resolves);
- `silence:<tenant>:<rule_id>`            an `AlertControl` (no notifications until `until`).
The engine writes one `AlertTick` per tenant and evaluation that changed something to
`schemas.topics.ALERT_STATE` (compacted by tenant, so the last record holds the tenant's state).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.types import ShortText, TenantId

PLATFORM: Final = "_platform"
"""The 'tenant' of platform-wide rules (operator keys only)."""

Metric = Literal[
    "cost",
    "requests",
    "tokens",
    "error_rate",
    "latency_p95",
    "unknown_model",
    "budget_used_pct",
    "projected_budget_pct",
    "consumer_lag",
    "dlq_rate",
]
Window = Literal["5m", "15m", "1h", "day", "month"]
Comparator = Literal["gt", "gte", "lt", "lte"]
Severity = Literal["info", "warning", "critical"]
Status = Literal["ok", "pending", "firing"]
RuleId = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
HttpUrl = Annotated[str, Field(max_length=2048, pattern=r"^https?://[^\s]+$")]
Email = Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]

PIPELINE_METRICS: Final = ("consumer_lag", "dlq_rate")
"""Metrics of the pipeline itself: platform rules only."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class WebhookChannel(_Model):
    kind: Literal["webhook"] = "webhook"
    url: HttpUrl
    secret: Annotated[str, Field(min_length=16, max_length=256)]
    """HMAC-SHA256 key: `X-Tally-Signature: t=<unix>,v1=<hex of HMAC(secret, "<unix>." + body)>`."""


class SlackChannel(_Model):
    kind: Literal["slack"] = "slack"
    webhook_url: HttpUrl
    """A Slack incoming-webhook URL."""


class EmailChannel(_Model):
    kind: Literal["email"] = "email"
    to: Annotated[list[Email], Field(min_length=1, max_length=20)]
    """Recipients (the SMTP server comes from the worker's settings)."""


class PagerDutyChannel(_Model):
    kind: Literal["pagerduty"] = "pagerduty"
    routing_key: Annotated[str, Field(min_length=8, max_length=64)]
    """Integration (routing) key of a PagerDuty Events API v2 service."""
    url: HttpUrl = "https://events.pagerduty.com/v2/enqueue"


Channel = Annotated[WebhookChannel | SlackChannel | EmailChannel | PagerDutyChannel, Field(discriminator="kind")]


class Filters(_Model):
    """Only LLM calls matching every given field count."""

    model: ShortText | None = None
    provider: ShortText | None = None
    feature: ShortText | None = None
    domain: ShortText | None = None


class RuleIn(_Model):
    """A rule as clients send it (ids, tenant and times are set by the server)."""

    name: ShortText
    metric: Metric
    window: Window = "1h"
    """5m, 15m, 1h (rolling, minute windows), day (the tenant's current day) or month (current month)."""
    comparator: Comparator = "gt"
    threshold: Annotated[Decimal, Field(max_digits=24, decimal_places=12)]
    """USD for cost, % for rates and budgets, ms for latency, counts otherwise."""
    filters: Filters = Filters()
    min_samples: Annotated[int, Field(ge=0, le=10**9)] = 0
    """Fewer LLM calls than this in the window: the condition counts as false."""
    for_seconds: Annotated[int, Field(ge=0, le=86_400)] = 0
    """The condition must hold this long before the rule fires (pending meanwhile)."""
    resolve_after_seconds: Annotated[int, Field(ge=0, le=86_400)] = 60
    """The condition must be false this long before a firing rule resolves (hysteresis)."""
    repeat_seconds: Annotated[int, Field(ge=0, le=7 * 86_400)] = 0
    """Remind every this many seconds while firing and not acknowledged (0: never)."""
    severity: Severity = "warning"
    channels: Annotated[list[Channel], Field(max_length=10)] = Field(default_factory=list)
    """Where to notify; empty: the tenant's default channels."""
    enabled: bool = True


class AlertRule(RuleIn):
    rule_id: RuleId
    tenant_id: TenantId | Literal["_platform"]
    created_at: datetime
    updated_at: datetime


class AlertChannels(_Model):
    """A tenant's default channels (used by rules without their own, the seeded ones included)."""

    tenant_id: TenantId
    channels: Annotated[list[Channel], Field(max_length=10)]


class AlertControl(_Model):
    """An acknowledgement or a silence of one rule."""

    kind: Literal["ack", "silence"]
    tenant_id: TenantId | Literal["_platform"]
    rule_id: RuleId
    at: datetime
    until: datetime | None = None
    """Silences end at `until`; acknowledgements last until the alert resolves."""
    by: ShortText = ""
    """The key id that did it."""


class RuleState(_Model):
    """Where one rule stands (rules not listed in a tick are `ok`)."""

    status: Status
    since: datetime
    """When it entered `status` (pending: when the condition started holding)."""
    incident: str = ""
    """Id of the current incident (set when it fires)."""
    value: float | None = None
    last_notified: datetime | None = None
    clear_since: datetime | None = None
    """While firing: when the condition stopped holding (resolves after `resolve_after_seconds`)."""


class Transition(_Model):
    rule_id: RuleId
    kind: Literal["pending", "firing", "reminder", "resolved", "cleared"]
    """cleared: pending -> ok without firing."""
    at: datetime
    value: float | None
    threshold: Decimal
    metric: Metric
    severity: Severity
    name: str
    incident: str


class Notification(_Model):
    """One message to one channel, grouping the transitions of one evaluation."""

    notification_id: str
    """Deterministic (tenant, tick, channel): the deliverer sends each id once."""
    channel: Channel
    items: list[Transition]


class AlertTick(_Model):
    """What one evaluation changed for one tenant, and the tenant's resulting state."""

    tenant_id: str
    at: datetime
    states: dict[str, RuleState]
    """Every rule not `ok` after this tick (rules absent are ok)."""
    transitions: list[Transition]
    notifications: list[Notification]
    silenced: list[str] = Field(default_factory=list)
    """Rules whose notifications were withheld (silenced)."""


def rule_record_key(tenant_id: str, rule_id: str) -> bytes:
    return f"rule:{tenant_id}:{rule_id}".encode()


def channels_record_key(tenant_id: str) -> bytes:
    return f"channels:{tenant_id}".encode()


def control_record_key(kind: str, tenant_id: str, rule_id: str) -> bytes:
    return f"{kind}:{tenant_id}:{rule_id}".encode()
