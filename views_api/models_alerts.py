"""Response models of the alerts API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from schemas.alerts import ChannelIn, ChannelView, RuleView
from views_api.models import ApiModel


class RuleOut(ApiModel):
    rule: RuleView
    """Channels masked: secrets are write-only."""
    seeded: bool
    """A default rule, seeded for every tenant (replace it with PUT, turn it off with DELETE)."""
    silenced_until: datetime | None
    acknowledged_at: datetime | None


class RuleList(ApiModel):
    tenant_id: str
    default_channels: list[ChannelView]
    rules: list[RuleOut]


class ChannelsIn(ApiModel):
    channels: Annotated[list[ChannelIn], Field(max_length=10)]
    """New channels in full; saved ones kept by `{"kind": "keep", "id": ...}`."""


class ChannelList(ApiModel):
    channels: list[ChannelView]


class SilenceIn(ApiModel):
    minutes: Annotated[int, Field(ge=1, le=30 * 24 * 60)]


class ChannelTest(ApiModel):
    channel: str
    """The channel's kind."""
    id: str
    target: str
    """Masked."""
    ok: bool
    result: str
    """`delivered` or how it failed (alerting.channels.CATEGORIES): never the peer's answer or an error text."""


class TestResult(ApiModel):
    rule_id: str
    results: list[ChannelTest]


class Delivery(ApiModel):
    notification_id: str
    channel: str
    status: str
    attempts: int
    error: str
    at: datetime


class AlertOut(ApiModel):
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


class ActiveAlerts(ApiModel):
    tenant_id: str
    alerts: list[AlertOut]
    """Rules pending or firing now."""


class HistoryItem(AlertOut):
    notifications: list[str]
    silenced: bool
    deliveries: list[Delivery]


class AlertHistory(ApiModel):
    tenant_id: str
    since: datetime
    until: datetime
    items: list[HistoryItem]
