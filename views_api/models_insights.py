"""Response models of the usage views (usage analytics, model comparison) and the insights (funnel, cohorts,
cost forecast, live activity feed). Money is a decimal string: exact unless a field says rounded."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from views_api.models import ApiModel, PeriodOut

AudioMinutes = Annotated[
    float,
    Field(description="Minutes of audio (Whisper and other models priced by duration): audio_seconds / 60, 4 places."),
]


class UsageDay(ApiModel):
    """LLM usage of one day (tenant zone)."""

    start: datetime
    """The day's local midnight (UTC)."""
    input_tokens: int
    """Prompt tokens."""
    output_tokens: int
    """Completion tokens."""
    total_tokens: int
    cost_usd: Decimal
    requests: int
    """LLM calls."""
    audio_minutes: AudioMinutes


class UsageWeek(ApiModel):
    """LLM usage of one week (Monday to Sunday, tenant zone)."""

    start: datetime
    """The Monday's local midnight (UTC)."""
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: Decimal
    requests: int
    audio_minutes: AudioMinutes


class ProviderUsage(ApiModel):
    """LLM usage of one provider."""

    provider: str
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: Decimal
    requests: int
    audio_minutes: AudioMinutes
    share_pct: float
    """The provider's share of the cost (of the requests when nothing cost anything), percent."""


class UsageMonth(ApiModel):
    """LLM usage of one calendar month (tenant zone), in total and by provider."""

    start: datetime
    """The first day's local midnight (UTC)."""
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: Decimal
    requests: int
    audio_minutes: AudioMinutes
    by_provider: list[ProviderUsage]
    """Providers used in the month, most expensive first."""


class ConversationUsage(ApiModel):
    """LLM usage of one chat session (read from the raw events)."""

    session_id: str
    requests: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: Decimal
    first_call_at: datetime
    last_call_at: datetime


class UsageSummary(ApiModel):
    """Totals of the `days` period."""

    total_tokens: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal
    requests: int
    audio_minutes: AudioMinutes
    by_provider: list[ProviderUsage]
    """Per-provider totals, most expensive first."""


class Usage(ApiModel):
    """Usage analytics; sections `type` did not ask for are null."""

    tenant_id: str
    type: str
    """all, daily, weekly, monthly or conversation."""
    period: PeriodOut
    """The last `days` days, today included: the period of `daily`, `by_conversation` and `summary`."""
    daily: list[UsageDay] | None
    """One point per day of the period (zeros on days without calls)."""
    weekly: list[UsageWeek] | None
    """The last 12 weeks, the current one included."""
    monthly: list[UsageMonth] | None
    """The last 12 months, the current one included."""
    by_conversation: list[ConversationUsage] | None
    """The 20 sessions of the period with the most LLM tokens."""
    summary: UsageSummary | None
    """Totals of the period (with type=all only)."""


class ModelStats(ApiModel):
    """One provider's model over the period."""

    provider: str
    model: str
    requests: int
    errors: int
    error_rate_pct: float
    """Failed calls, percent of requests."""
    input_tokens: int
    output_tokens: int
    audio_minutes: AudioMinutes
    cost_usd: Decimal
    cost_per_1k_tokens_usd: Decimal
    """Cost per 1,000 tokens (input + output), rounded to 6 places; 0 without tokens."""
    avg_latency_ms: float | None
    """Mean latency of the calls that reported one (None: none did)."""
    p50_latency_ms: int | None
    """Upper bound of the latency bucket holding the median (see schemas.rollups.LATENCY_BOUNDS_MS)."""
    p95_latency_ms: int | None
    """Upper bound of the latency bucket holding the 95th percentile."""
    cost_share_pct: float
    """The model's share of the period's cost (of the requests when nothing cost anything), percent."""


class ModelComparison(ApiModel):
    """The provider and model comparison, most expensive first."""

    tenant_id: str
    period: PeriodOut
    total_requests: int
    total_cost_usd: Decimal
    models: list[ModelStats]


class FunnelStage(ApiModel):
    """One stage of the funnel: distinct sessions that reached it in the period."""

    stage: str
    """sessions, product_viewed, clicked, added_to_cart or converted."""
    count: int
    """Sessions that reached the stage (see `Funnel`)."""
    from_previous_pct: float | None
    """Count as a percentage of the previous stage's (None for the first stage)."""
    from_first_pct: float
    """Count as a percentage of the first stage's."""
    drop_off: int | None
    """Sessions of the previous stage that did not reach this one (never below 0; None for the first)."""
    drop_off_pct: float | None
    """Drop-off as a percentage of the previous stage's count."""


class FunnelDay(ApiModel):
    """The stage counts of one bucket: of the sessions started in it (from the rollups: distinct sessions
    with the stage's event within the bucket)."""

    start: datetime
    sessions: int
    product_viewed: int
    clicked: int
    added_to_cart: int
    converted: int


class Funnel(ApiModel):
    """The conversion funnel: sessions started -> product viewed (recommended or inquired) -> clicked ->
    added to cart -> converted: the built-in `ecommerce` funnel (sessions started in the period that went
    through the stages in order within 7 days; a conversion sent with only `attributed_session_id` counts
    for that session). For a period older than the raw events' retention, from the rollups: distinct
    sessions with each stage's event in the period, each stage on its own."""

    tenant_id: str
    period: PeriodOut
    stages: list[FunnelStage]
    daily: list[FunnelDay]
    """One row per bucket of the period (days unless `granularity` says otherwise)."""


class Cohort(ApiModel):
    """End users first seen in one week, and how many came back in the following weeks."""

    week_start: datetime
    """The cohort week's Monday, local midnight (UTC)."""
    size: int
    """End users first seen that week."""
    active: list[int | None]
    """Users of the cohort active in weeks 0-4 after the cohort week (None: that week has not started)."""
    retention_pct: list[float | None]
    """`active` as percentages of the size (None: the week has not started or the cohort is empty)."""
    converted: int
    """Users of the cohort with a conversion at any time since."""
    conversion_pct: float
    """`converted` as a percentage of the size."""


class Cohorts(ApiModel):
    """Weekly retention cohorts, oldest first. An end user is active in a week when any
    event of theirs falls in it; first seen looks back over every stored day window."""

    tenant_id: str
    tz: str
    weeks: int
    cohorts: list[Cohort]


class DayCost(ApiModel):
    start: datetime
    """The day's local midnight (UTC, tenant zone)."""
    cost_usd: Decimal


class ForecastTotal(ApiModel):
    """The forecast cost of the next `days` days from today, with its band (rounded to 6 places)."""

    days: int
    total_usd: Decimal
    low_usd: Decimal
    """Never below 0."""
    high_usd: Decimal


class CostForecast(ApiModel):
    """The cost forecast from the daily LLM cost of the last complete days."""

    tenant_id: str
    tz: str
    method: str
    """How the forecast is made."""
    history: list[DayCost]
    """The daily cost the forecast is fitted to (complete days, oldest first; exact)."""
    history_total_usd: Decimal
    slope_usd_per_day: Decimal
    """Daily change of the fitted line (rounded to 6 places; 0 for the mean method)."""
    residual_std_usd: Decimal
    """Standard deviation of the residuals (rounded to 6 places)."""
    projection: list[DayCost]
    """The fitted cost of each of the next 30 days from today, clamped at 0 (rounded to 6 places)."""
    next_7_days: ForecastTotal
    next_30_days: ForecastTotal


class LiveEvent(ApiModel):
    """One event of the live feed."""

    id: str
    type: str
    ts: datetime
    session_id: str
    end_user_id: str
    domain: str
    description: str
    """A short human description ("llm_call gpt-4o 1,200 tokens $0.0031", "session started (web)")."""


class LiveFeed(ApiModel):
    """The live activity feed: the latest events of the last 24 hours, newest first."""

    tenant_id: str
    since: datetime
    events: list[LiveEvent]
