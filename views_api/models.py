"""Response models of the tenant dashboard. Money is a decimal string: exact to the pico-dollar."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from schemas.tenancy import StoreSettings
from views_api.periods import Period


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class PeriodOut(ApiModel):
    """The period a view covers: [since, until) in UTC, bucketed in `tz`."""

    since: datetime
    until: datetime
    granularity: str
    tz: str
    label: str
    """How it was asked for (7d, days=30, from/to)."""

    @classmethod
    def of(cls, period: Period) -> PeriodOut:
        return cls(
            since=period.since, until=period.until, granularity=period.bucket, tz=period.tz.key, label=period.label
        )


class TenantInfo(ApiModel):
    tenant_id: str
    name: str
    timezone: str
    created_at: datetime
    disabled: bool
    monthly_budget_usd: Decimal | None
    """The tenant's monthly LLM budget, if set."""
    settings: StoreSettings


class Overview(ApiModel):
    """The analytics overview: 'today' is the current day in `tz` (the tenant's zone by default)."""

    tenant_id: str
    tz: str
    total_sessions: int
    """Distinct chat sessions, all time."""
    sessions_today: int
    messages_today: int
    messages_yesterday: int
    messages_change_pct: float | None
    """Today vs yesterday, percent (None without messages yesterday)."""
    llm_calls_today: int
    cost_today_usd: Decimal
    """LLM cost today."""
    cost_yesterday_usd: Decimal
    cost_change_pct: float | None
    unknown_model_calls_today: int
    """LLM calls today whose model has no known price (not included in the cost)."""
    active_sessions: int
    """Sessions with any event in the last hour."""
    as_of: datetime
    """The instant the figures were read."""


class SessionsPoint(ApiModel):
    start: datetime
    started: int
    """Sessions started in the bucket."""
    active: int
    """Distinct sessions with any event in the bucket."""
    ended: int


class SessionsSeries(ApiModel):
    tenant_id: str
    period: PeriodOut
    total_started: int
    previous_started: int
    change_pct: float | None
    distinct_sessions: int
    """Distinct sessions with any event in the period."""
    points: list[SessionsPoint]


class MessagesPoint(ApiModel):
    start: datetime
    user: int
    assistant: int
    system: int


class MessagesSeries(ApiModel):
    tenant_id: str
    period: PeriodOut
    total: int
    user: int
    assistant: int
    system: int
    previous_total: int
    change_pct: float | None
    points: list[MessagesPoint]


class ModelCost(ApiModel):
    """Usage and cost of one provider's model."""

    provider: str
    model: str
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal
    unknown_model_requests: int
    """Requests of this model that could not be priced."""
    share_pct: float
    """This model's share of the period's cost (of requests when nothing cost anything)."""


class CostPoint(ApiModel):
    start: datetime
    cost_usd: Decimal
    requests: int


class Costs(ApiModel):
    """Cost breakdown over a period, by provider and model, with its series."""

    tenant_id: str
    period: PeriodOut
    total_cost_usd: Decimal
    previous_cost_usd: Decimal
    change_pct: float | None
    total_requests: int
    total_input_tokens: int
    total_output_tokens: int
    total_cached_input_tokens: int
    total_reasoning_tokens: int
    unknown_model_requests: int
    by_model: list[ModelCost]
    points: list[CostPoint]


class TopProduct(ApiModel):
    product_id: str
    product_name: str
    count: int
    sessions: int
    """Distinct sessions the event happened in."""


class TopProducts(ApiModel):
    tenant_id: str
    event_type: str
    period: PeriodOut
    products: list[TopProduct]


class HourlyActivity(ApiModel):
    """Events by hour of day (0-23) and by weekday x hour (Monday = 0), in `period.tz`."""

    tenant_id: str
    period: PeriodOut
    messages_by_hour: list[int]
    llm_calls_by_hour: list[int]
    sessions_by_hour: list[int]
    """Sessions started, by hour of day."""
    heatmap: list[list[int]]
    """7 rows (Monday first) of 24 message counts."""


class SessionSummary(ApiModel):
    session_id: str
    started_at: datetime
    last_event_at: datetime
    duration_seconds: float
    """Reported by session_ended when the client measured it, else first to last event."""
    messages: int
    user_messages: int
    llm_calls: int
    tokens: int
    cost_usd: Decimal
    channel: str
    end_user_id: str
    end_reason: str
    """'' while the session is open."""


class RecentSessions(ApiModel):
    tenant_id: str
    since: datetime
    sessions: list[SessionSummary]


class EventOut(ApiModel):
    """One stored event (fields a type does not use hold their empty value)."""

    id: str
    type: str
    ts: datetime
    session_id: str
    end_user_id: str
    domain: str
    feature: str
    provider: str
    model: str
    operation: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal
    price_status: str
    latency_ms: int
    status: str
    role: str
    content_chars: int
    channel: str
    end_reason: str
    tool_name: str
    product_action: str
    product_id: str
    product_name: str
    search_query: str
    results_count: int
    order_id: str
    revenue: Decimal
    currency: str
    rating: int
    thumbs: int
    name: str


class SessionDetail(ApiModel):
    tenant_id: str
    session: SessionSummary
    messages: list[EventOut]
    llm_calls: list[EventOut]
    events: list[EventOut]
    """Every event of the session in time order (messages and calls included)."""
    truncated: bool
    """True when the session has more events than one answer holds."""


class LiveTick(ApiModel):
    """One update of the live stream: the current minute, the last hour and today (tenant zone)."""

    as_of: datetime
    minute_start: datetime
    cost_usd: Decimal
    """LLM cost in the current minute window."""
    requests: int
    """LLM calls in the current minute window."""
    cost_last_hour_usd: Decimal
    requests_last_hour: int
    active_sessions: int
    """Distinct sessions with any event in the last 60 minutes."""
    cost_today_usd: Decimal


class TenantRank(ApiModel):
    tenant_id: str
    name: str
    requests: int
    errors: int
    error_rate_pct: float
    cost_usd: Decimal
    tokens: int
    sessions: int
    """Distinct sessions with LLM calls."""


class TenantRanking(ApiModel):
    period: PeriodOut
    sort: str
    tenants: list[TenantRank]


class DomainRow(ApiModel):
    domain: str
    tenants: int
    requests: int
    cost_usd: Decimal
    sessions: int


class DomainBreakdown(ApiModel):
    period: PeriodOut
    domains: list[DomainRow]


class SeriesPoint(ApiModel):
    start: datetime
    group: dict[str, str]
    """The values of the `group_by` dimensions, by name."""
    values: dict[str, int | Decimal | float | dict[str, float]]
    """Each requested measure (`measures` is a map of the custom measures' sums)."""


class Series(ApiModel):
    tenant_id: str
    type: str
    dimensions: list[str]
    """The type's named dimensions (what `group_by` and `where` take, with `domain`)."""
    period: PeriodOut
    points: list[SeriesPoint]
    """Buckets with data only, in time order then group order."""
