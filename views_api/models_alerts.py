"""Response models of the alerts API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.alerts import ChannelIn, ChannelView, RuleView


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class RuleOut(_Model):
    rule: RuleView
    """Channels masked: secrets are write-only."""
    seeded: bool
    """A default rule of seed 003 (replace it with PUT, turn it off with DELETE)."""
    silenced_until: datetime | None
    acknowledged_at: datetime | None


class RuleList(_Model):
    tenant_id: str
    default_channels: list[ChannelView]
    rules: list[RuleOut]


class ChannelsIn(_Model):
    channels: Annotated[list[ChannelIn], Field(max_length=10)]
    """New channels in full; saved ones kept by `{"kind": "keep", "id": ...}`."""


class ChannelList(_Model):
    channels: list[ChannelView]


class SilenceIn(_Model):
    minutes: Annotated[int, Field(ge=1, le=30 * 24 * 60)]


class ChannelTest(_Model):
    channel: str
    """The channel's kind."""
    id: str
    target: str
    """Masked."""
    ok: bool
    result: str
    """`delivered` or how it failed (alerting.channels.CATEGORIES): never the peer's answer or an error text."""


class TestResult(_Model):
    rule_id: str
    results: list[ChannelTest]


class Delivery(_Model):
    notification_id: str
    channel: str
    status: str
    attempts: int
    error: str
    at: datetime


class AlertOut(_Model):
    rule_id: str
    kind: str
    """The rule's latest transition (pending, firing, reminder, resolved, cleared)."""
    at: datetime
    name: str
    metric: str
    severity: str
    value: float | None
    threshold: Decimal
    incident: str


class ActiveAlerts(_Model):
    tenant_id: str
    alerts: list[AlertOut]
    """Rules pending or firing now."""


class HistoryItem(AlertOut):
    notifications: list[str]
    silenced: bool
    deliveries: list[Delivery]


class AlertHistory(_Model):
    tenant_id: str
    since: datetime
    until: datetime
    items: list[HistoryItem]
