"""Response models of explore (`views_api.routes.explore`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from views_api.models import ApiModel, PeriodOut

Value = int | Decimal | float | str | None


class Window(ApiModel):
    since: datetime
    until: datetime


class ExploreRow(ApiModel):
    group: dict[str, str]
    """The values of the `group_by` fields ('' in the `other` row)."""
    other: bool
    """The groups beyond `limit`, together."""
    values: dict[str, Value]
    """Each measure by its label, e.g. `p95(duration_ms)`; null where no event carries what it reads."""


class ExplorePoint(ExploreRow):
    start: datetime
    """Bucket start (UTC)."""


class ExploreResult(ApiModel):
    tenant_id: str
    event: str
    name: str | None
    period: PeriodOut
    previous: Window
    """The previous period, of the same length, just before."""
    group_by: list[str]
    measures: list[str]
    total: dict[str, Value]
    """Every measure over the whole period (distinct counts and percentiles over its events, not summed)."""
    previous_total: dict[str, Value] | None
    """The same over the previous period; null when that starts before the raw retention."""
    groups: list[ExploreRow]
    """Per group, best first by `order_by`, then `other` (when more groups exist than `limit`)."""
    series: list[ExplorePoint]
    """Per bucket with events, per shown group and `other`, in time order."""
