"""Response models of the telemetry views: telemetry, analytics, conversations, missing products.

Keys are snake_case as everywhere in the views API. Money is a `Decimal`, serialised as a string:
totals are exact, derived figures (averages, rates, projections) are rounded half-even to 6 decimal
places. Rounded ratios are 2-decimal strings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from views_api.models import ApiModel

# --- /telemetry -------------------------------------------------------------------------------------


class TelemetryOverview(ApiModel):
    """Requests are LLM calls (`llm_call` events) in the period."""

    total_requests: int
    successful_requests: int
    """LLM calls that did not fail."""
    failed_requests: int
    """LLM calls with status `error`."""
    success_rate: float
    """Successful requests, percent of all requests (0-100, 2 decimals; 0 without requests)."""
    error_rate: float
    """Failed requests, percent of all requests (0-100, 2 decimals; 0 without requests)."""
    active_sessions: int
    """Distinct sessions with any event in the last 60 minutes (minute rollups, the current minute included)."""
    time_range: str
    """The period in words: 'Last 7 days', 'Last 24 hours', or 'from <since> to <until>' (UTC)."""


class TelemetryCost(ApiModel):
    """LLM cost of the period. Projections extrapolate the period's hourly rate."""

    total: Decimal
    """Exact LLM cost of the period (USD)."""
    average: Decimal
    """Cost per request (USD; 0 without requests)."""
    per_hour: Decimal
    """Total cost / elapsed hours: the hours from the period's start to the end of the current hour
    (minute, for periods bucketed by minute), or to the period's end if that is earlier."""
    projected_daily: Decimal
    """perHour x 24."""
    projected_monthly: Decimal
    """perHour x 24 x 30."""
    trend: Literal["increasing", "decreasing", "stable"]
    """The elapsed part of the period is cut in two halves of whole hours (minutes for minute-bucketed
    periods; the second half takes the odd one). The second half's cost per hour against the first's:
    more than 10% higher is 'increasing', more than 10% lower 'decreasing', else 'stable' (a first half
    without cost: 'increasing' if the second has any)."""


class TelemetryTokens(ApiModel):
    total_input: int
    """Input (prompt) tokens of LLM calls, cached ones included."""
    total_output: int
    """Output tokens, reasoning ones included."""
    total: int
    avg_per_request: float
    """total / requests (2 decimals; 0 without requests)."""


class TelemetryPerformance(ApiModel):
    avg_response_time: float
    """Mean LLM call latency in milliseconds over calls that reported one (2 decimals; 0 without any)."""
    total_searches: int
    """`search` events in the period."""
    avg_searches_per_request: Decimal
    """totalSearches / LLM requests, 2 decimals (a string)."""
    avg_iterations: Decimal
    """Iterations = LLM calls per session: LLM calls / distinct sessions with an LLM call, 2 decimals."""


class ModelUsage(ApiModel):
    model: str
    provider: str
    count: int
    """LLM calls to this model."""
    cost: Decimal
    tokens: int
    """Input + output tokens."""
    percentage: float
    """Share of all requests, percent (2 decimals)."""


class DomainUsage(ApiModel):
    domain: str
    """The event's domain ('' for events sent without one)."""
    requests: int
    cost: Decimal


class HourPoint(ApiModel):
    hour: datetime
    """Start of the hour (UTC instant; hours aligned in the requested zone)."""
    cost: Decimal
    """LLM cost of the hour."""
    requests: int


class LiveSession(ApiModel):
    """A session with an event in the last 60 minutes (raw events; figures over its last 24 hours)."""

    id: str
    uptime: int
    """Seconds from the session's first event (looking back 24 hours) to now."""
    cost: Decimal
    """The session's LLM cost since that first event."""
    model: str
    """Model of its latest LLM call ('' without one)."""


class Live(ApiModel):
    active_sessions: int
    """As overview.activeSessions."""
    current_cost: Decimal
    """LLM cost of the last 60 minutes (minute rollups): what the active sessions spend now."""
    sessions_data: list[LiveSession]
    """The 20 most recently active of them."""


class Telemetry(ApiModel):
    """The AI performance and cost view of a period (rollups; the live session list reads raw events).

    `domain=` restricts every figure, live ones included, to one domain.
    """

    overview: TelemetryOverview
    cost: TelemetryCost
    tokens: TelemetryTokens
    performance: TelemetryPerformance
    model_usage: list[ModelUsage]
    """By requests (desc), then cost (desc), then model."""
    domain_breakdown: list[DomainUsage]
    """By requests (desc), then domain."""
    hourly_trend: list[HourPoint]
    """Every hour of the period up to the current one, zero-filled; at most the last 744 (31 days)."""
    live: Live


# --- /analytics -------------------------------------------------------------------------------------


class QueryCount(ApiModel):
    query: str
    """The search query as rollups group it (lower case, whitespace collapsed), cut to 50 characters."""
    count: int
    percentage: float
    """Share of all searches of the period, percent (2 decimals)."""


class LanguageShare(ApiModel):
    language: str
    """English, Spanish, French, German or Other (any other code sent)."""
    percentage: float
    """Share of the messages that carried a language, percent (2 decimals)."""
    color: str
    """CSS color class for the chart."""


class MessageMetrics(ApiModel):
    total_messages: int
    user_messages: int
    avg_messages_per_day: float
    """totalMessages / the period's length in days (7 for days=7, today counted whole; 2 decimals)."""


class Analytics(ApiModel):
    """The behaviour view. Event payloads carry no message text, so there is no text sentiment:
    satisfaction comes from feedback events and languages from the messages' `language` property."""

    response_time: float
    """Mean LLM call latency in seconds (3 decimals; 0 without calls)."""
    satisfaction_score: float | None
    """Mean 1-5 score of feedback events: a rating counts as given, thumbs up as 5, thumbs down as 1
    (2 decimals; null without feedback)."""
    resolution_rate: float | None
    """Ended sessions whose reason is 'completed', percent of ended sessions (null without any)."""
    top_queries: list[QueryCount]
    """The 10 most frequent search queries (then alphabetical)."""
    failed_searches: list[str]
    """The 10 most frequent queries that found nothing (then alphabetical)."""
    language_distribution: list[LanguageShare]
    """Messages that sent a `language`, by language (desc share, then name); messages without one are
    not counted; empty when none did."""
    metrics: MessageMetrics


# --- /conversations ---------------------------------------------------------------------------------


class RecentConversation(ApiModel):
    """A session of the period. The event contract never carries message text, so there is no
    `message` field: the message count and channel stand in."""

    id: str
    """Session id."""
    timestamp: datetime
    """The session's first event in the period."""
    messages: int
    channel: str
    """Channel of its session_started event ('' if not seen in the period)."""


class Conversations(ApiModel):
    total: int
    """Sessions started (session_started events) in the period."""
    change: float | None
    """Percent change of `total` vs the previous period of the same length (null when that had none)."""
    recent: list[RecentConversation]
    """The 10 most recently active sessions of the period (raw events)."""


# --- /missing-products ------------------------------------------------------------------------------


class MissingProduct(ApiModel):
    name: str
    """Product extracted from the queries (see views_api.missing)."""
    count: int
    """Zero-result searches asking for it."""
    last_requested: datetime
    """End of the latest stored window holding such a search: hour precision (minute precision for
    periods bucketed by minute or zones not a whole number of hours off the tenant's)."""
    examples: list[str]
    """Up to 3 distinct queries (normalised), the most frequent first."""


class MissingStatistics(ApiModel):
    total_missing_products: int
    total_requests: int
    """Zero-result searches behind the products."""
    avg_requests_per_product: float
    """2 decimals (0 without products)."""
    time_range: str


class MissingCategories(ApiModel):
    """Top 5 product names of each category, by requests (keywords in views_api.missing.CATEGORIES)."""

    tools: list[str]
    parts: list[str]
    equipment: list[str]
    other: list[str]


class MissingProducts(ApiModel):
    """Missing products: zero-result searches of the period (search rollups)."""

    missing_products: list[MissingProduct]
    """By count (desc), then name."""
    statistics: MissingStatistics
    categories: MissingCategories
    recommendations: list[str]
    """Rule-based action items, at most 4 (views_api.missing.recommend)."""
