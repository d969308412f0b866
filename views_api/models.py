"""Response models of the views API. Money is a decimal string: exact to the pico-dollar."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Overview(ApiModel):
    """Seed 000's analytics overview for one tenant."""

    tenant_id: str
    total_sessions: int
    """Distinct chat sessions, all time."""
    messages_today: int
    """Messages since midnight UTC."""
    llm_calls_today: int
    """LLM calls since midnight UTC."""
    cost_today_usd: Decimal
    """LLM cost since midnight UTC."""
    unknown_model_calls_today: int
    """LLM calls today whose model has no known price (not included in the cost)."""
    active_sessions: int
    """Sessions with any event in the last hour."""
    as_of: datetime
    """The instant the figures were read."""


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


class Costs(ApiModel):
    """Cost breakdown over the last `days` days."""

    tenant_id: str
    days: int
    since: datetime
    until: datetime
    total_cost_usd: Decimal
    total_requests: int
    total_input_tokens: int
    total_output_tokens: int
    total_cached_input_tokens: int
    total_reasoning_tokens: int
    unknown_model_requests: int
    by_model: list[ModelCost]


class RollupPoint(ApiModel):
    """Totals of one window and key (see schemas.rollups.ROLLUP_DIMENSIONS for d1..d3 per type)."""

    window_start: datetime
    type: str
    d1: str
    d2: str
    d3: str
    events: int
    errors: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    reasoning_tokens: int
    cost_usd: Decimal
    unpriced: int
    latency_ms_sum: int
    latency_buckets: list[int]
    """Counts per latency bucket (bounds in schemas.rollups.LATENCY_BOUNDS_MS)."""
    revenue: Decimal
    rating_sum: int
    rating_count: int
    thumbs_up: int
    thumbs_down: int
    zero_results: int
    sessions: int
    """Distinct sessions in the window."""
    end_users: int
    """Distinct end users in the window."""


class RollupSeries(ApiModel):
    tenant_id: str
    granularity: str
    since: datetime
    until: datetime
    points: list[RollupPoint]
