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
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.alert_fields import (
    MIN_REPEAT_SECONDS,
    ChannelId,
    Email,
    HttpUrl,
    NewChannelId,
    PlainText,
    TargetUrl,
    mask_url,
    no_control,
    url_host,
)
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

PIPELINE_METRICS: Final = ("consumer_lag", "dlq_rate")
"""Metrics of the pipeline itself: platform rules only."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class _Channel(_Model):
    id: NewChannelId = ""
    """Assigned by the server (ignored in what clients send); channels are write-only: reads show
    `ChannelView`s, and a PUT keeps a saved channel with `{"kind": "keep", "id": ...}`."""

    def target(self) -> str:
        """Where it goes, masked: enough to recognise it, never a secret."""
        raise NotImplementedError


class WebhookChannel(_Channel):
    kind: Literal["webhook"] = "webhook"
    url: HttpUrl
    secret: Annotated[str, Field(min_length=16, max_length=256), AfterValidator(no_control)]
    """HMAC-SHA256 key: `X-Tally-Signature: t=<unix>,v1=<hex of HMAC(secret, "<unix>." + body)>`."""

    def target(self) -> str:
        return mask_url(self.url)


class SlackChannel(_Channel):
    kind: Literal["slack"] = "slack"
    webhook_url: HttpUrl
    """A Slack incoming-webhook URL (its path is the secret)."""

    def target(self) -> str:
        return mask_url(self.webhook_url)


class EmailChannel(_Channel):
    kind: Literal["email"] = "email"
    to: Annotated[list[Email], Field(min_length=1, max_length=20)]
    """Recipients (the SMTP server comes from the worker's settings; `TALLY_ALERT_MAX_RECIPIENTS` caps them)."""

    def target(self) -> str:
        return ", ".join(f"{a[:1]}…@{a.rpartition('@')[2]}" for a in self.to)


class PagerDutyChannel(_Channel):
    kind: Literal["pagerduty"] = "pagerduty"
    routing_key: Annotated[str, Field(min_length=8, max_length=64), AfterValidator(no_control)]
    """Integration (routing) key of a PagerDuty Events API v2 service."""
    url: HttpUrl = "https://events.pagerduty.com/v2/enqueue"

    def target(self) -> str:
        return f"{url_host(self.url)} key …{self.routing_key[-4:]}"


class WebhookChannelIn(WebhookChannel):
    url: TargetUrl


class SlackChannelIn(SlackChannel):
    webhook_url: TargetUrl


class PagerDutyChannelIn(PagerDutyChannel):
    url: TargetUrl = "https://events.pagerduty.com/v2/enqueue"


class KeepChannel(_Model):
    """In a PUT: keep the saved channel with this id as it is (its secrets are never read back)."""

    kind: Literal["keep"] = "keep"
    id: ChannelId


Channel = Annotated[WebhookChannel | SlackChannel | EmailChannel | PagerDutyChannel, Field(discriminator="kind")]
ChannelIn = Annotated[
    WebhookChannelIn | SlackChannelIn | EmailChannel | PagerDutyChannelIn | KeepChannel, Field(discriminator="kind")
]
"""A channel as clients send it: URLs checked in full (`TargetUrl`)."""
ChannelKind = Literal["webhook", "slack", "email", "pagerduty"]


class ChannelView(_Model):
    """A saved channel as reads show it: kind and masked target, never a secret."""

    id: str
    kind: ChannelKind
    target: str

    @classmethod
    def of(cls, channel: WebhookChannel | SlackChannel | EmailChannel | PagerDutyChannel) -> ChannelView:
        return cls(id=channel.id, kind=channel.kind, target=channel.target())


def _with_id(channel: Any, position: int) -> Any:
    legacy = f"ch_{position:012x}"
    if isinstance(channel, dict) and not channel.get("id"):
        return {**channel, "id": legacy}
    if isinstance(channel, _Channel) and not channel.id:
        return channel.model_copy(update={"id": legacy})
    return channel


def _legacy_ids(data: Any) -> Any:
    """Records saved before channel ids: their channels get ids by position (stable, the same everywhere)."""
    if isinstance(data, dict) and isinstance(data.get("channels"), list):
        data = {**data, "channels": [_with_id(c, i) for i, c in enumerate(data["channels"])]}
    return data


class Filters(_Model):
    """Only LLM calls matching every given field count."""

    model: ShortText | None = None
    provider: ShortText | None = None
    feature: ShortText | None = None
    domain: ShortText | None = None


class RuleSpec(_Model):
    """What a rule watches and how it behaves (everything but its channels and ids)."""

    name: PlainText
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
    """Remind every this many seconds while firing and not acknowledged (0: never; else at least
    `MIN_REPEAT_SECONDS`, 300)."""
    severity: Severity = "warning"
    enabled: bool = True

    def reminder_seconds(self) -> int:
        """The reminder interval in force: 0 (never) or at least `MIN_REPEAT_SECONDS`, rules saved
        before the minimum included."""
        return 0 if self.repeat_seconds == 0 else max(self.repeat_seconds, MIN_REPEAT_SECONDS)


class RuleIn(RuleSpec):
    """A rule as clients send it (ids, tenant and times are set by the server)."""

    channels: Annotated[list[ChannelIn], Field(max_length=10)] = Field(default_factory=list)
    """Where to notify; empty: the tenant's default channels. New channels in full; saved ones kept
    by `{"kind": "keep", "id": ...}`."""

    @field_validator("repeat_seconds")
    @classmethod
    def _repeat(cls, value: int) -> int:
        if 0 < value < MIN_REPEAT_SECONDS:
            raise ValueError(f"must be 0 (no reminders) or at least {MIN_REPEAT_SECONDS} seconds")
        return value


class _Saved(RuleSpec):
    rule_id: RuleId
    tenant_id: TenantId | Literal["_platform"]
    created_at: datetime
    updated_at: datetime


class AlertRule(_Saved):
    """A saved rule (on the rules topic: only the processes' own followers read it)."""

    channels: Annotated[list[Channel], Field(max_length=10)] = Field(default_factory=list)
    """Where to notify; empty: the tenant's default channels."""

    _ids = model_validator(mode="before")(_legacy_ids)

    def view(self) -> RuleView:
        return RuleView(**self.model_dump(exclude={"channels"}), channels=[ChannelView.of(c) for c in self.channels])


class RuleView(_Saved):
    """A rule as reads show it: channels masked."""

    channels: list[ChannelView]


class AlertChannels(_Model):
    """A tenant's default channels (used by rules without their own, the seeded ones included)."""

    tenant_id: TenantId
    channels: Annotated[list[Channel], Field(max_length=10)]

    _ids = model_validator(mode="before")(_legacy_ids)


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


class ChannelRef(_Model):
    """Which saved channel a notification goes to; the deliverer looks it up in its rule book, so the
    alert-state topic never holds a secret."""

    kind: ChannelKind
    id: Annotated[str, Field(pattern=r"^(ch_[0-9a-f]{12})?$")]
    """Empty: written before channel references (cannot be resolved)."""
    rule_id: RuleId | None = None
    """The rule whose own channel it is; None: one of the tenant's default channels."""


def _legacy_channel(data: Any) -> Any:
    """A notification written before channel references held the channel itself: keep only its kind."""
    channel = data.get("channel") if isinstance(data, dict) else None
    if isinstance(channel, dict) and set(channel) - {"kind", "id", "rule_id"}:
        return {**data, "channel": {"kind": channel.get("kind"), "id": ""}}
    return data


class Notification(_Model):
    """One message to one channel, grouping the transitions of one evaluation."""

    notification_id: str
    """Deterministic (tenant, tick, channel): the deliverer sends each id once."""
    channel: ChannelRef
    items: list[Transition]

    _legacy = model_validator(mode="before")(_legacy_channel)


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
