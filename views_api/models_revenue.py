"""Response models of the revenue view: per currency, never added across currencies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from views_api.models import ApiModel, PeriodOut


class FeatureRevenue(ApiModel):
    """The conversions credited to one AI feature, in the currency of their row."""

    feature: str
    """The conversion's `feature`; "(none)" for conversions sent without one."""
    revenue: Decimal
    conversions: int
    share_pct: float
    """The feature's share of the currency's revenue (of its conversions when the revenue is 0), percent."""


class CategoryRevenue(ApiModel):
    """The conversions of one product category, in the currency of their row."""

    category: str
    """The conversion's `category`; "(none)" for conversions sent without one (all those stored before
    conversions carried a category)."""
    revenue: Decimal
    conversions: int
    share_pct: float
    """The category's share of the currency's revenue (of its conversions when the revenue is 0), percent."""


class CurrencyRevenue(ApiModel):
    """Revenue in one currency: amounts in different currencies are never added."""

    currency: str
    """ISO 4217 code."""
    total: Decimal
    """Revenue of the period, exact."""
    previous_total: Decimal
    """Revenue of the previous period (same length, immediately before)."""
    growth_pct: float | None
    """Change from `previous_total` to `total`, percent; null when `previous_total` is 0."""
    conversions: int
    """Conversions of the period."""
    previous_conversions: int
    by_feature: list[FeatureRevenue]
    """Largest revenue first (then by name); at most `limit` rows."""
    features: int
    """How many features had conversions (more than `by_feature` holds when it was cut at `limit`)."""
    by_category: list[CategoryRevenue]
    """Largest revenue first (then by name); at most `limit` rows."""
    categories: int
    """How many categories had conversions (more than `by_category` holds when it was cut at `limit`)."""


class Revenue(ApiModel):
    """Revenue: total, previous period, growth, by AI feature and by product category, per currency."""

    tenant_id: str
    period: PeriodOut
    previous_since: datetime
    """Start of the previous period, which ends at `period.since`."""
    currencies: list[CurrencyRevenue]
    """One entry per currency with conversions in either period, by currency code."""
