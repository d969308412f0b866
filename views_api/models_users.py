"""Response models of the end-user views: the users list and one user's summary and timeline."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from views_api.models import ApiModel, PeriodOut

FieldValue = str | int | float | Decimal | dict[str, str] | dict[str, float] | None
"""A value of an event field: text, a count, a number, an amount, dimensions, measures, or none."""


class EndUser(ApiModel):
    """One end user's figures (the events carrying their `end_user_id`)."""

    end_user_id: str
    first_seen: datetime
    """Their first event read."""
    last_seen: datetime
    """Their last event read."""
    sessions: int
    """Distinct chat sessions (exact)."""
    messages: int
    llm_calls: int
    tokens: int
    """LLM input plus output tokens."""
    cost_usd: Decimal
    """LLM cost (calls that could not be priced count 0)."""
    conversions: int
    revenue: dict[str, Decimal]
    """Conversion revenue per ISO 4217 currency; amounts in different currencies are never added."""


class EndUserList(ApiModel):
    """One page of the tenant's end users with events in the period."""

    tenant_id: str
    period: PeriodOut
    sort: str
    q: str | None
    """The search applied: end_user_id contains it, case-insensitively."""
    limit: int
    offset: int
    total: int
    """How many end users match (all pages)."""
    users: list[EndUser]


class TimelineEvent(ApiModel):
    """One event of an end user."""

    id: str
    """The event's id."""
    type: str
    ts: datetime
    session_id: str
    domain: str
    tokens: int
    """LLM input plus output tokens (0 for other types)."""
    cost_usd: Decimal
    """LLM cost (0 for other types and unpriced calls)."""
    price_status: str
    properties: dict[str, str]
    fields: dict[str, FieldValue]
    """The fields of its type under their contract names (llm_call: model, input_tokens ...;
    conversion: order_id, revenue, currency ...; custom: name, dimensions, measures ...)."""


class EndUserDetail(ApiModel):
    """One end user over every retained event: their figures and one page of their timeline."""

    tenant_id: str
    user: EndUser
    events: list[TimelineEvent]
    """In time order (ts, then event id)."""
    limit: int
    next: str | None
    """Pass as `after` for the events that follow; None when there are none."""
    previous: str | None
    """Pass as `before` for the events that precede; None when there are none."""
