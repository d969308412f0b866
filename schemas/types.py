"""Reusable constrained types for the event contract."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints

#: Money is kept exact: 12 decimal places (pico-USD) in Python and in ClickHouse Decimal(38, 12).
USD_SCALE = 12
USD_QUANTUM = Decimal(1).scaleb(-USD_SCALE)


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a UTC offset (RFC 3339), e.g. 2026-01-31T12:00:00Z")
    return value.astimezone(UTC)


TenantId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
]
"""A tenant's identifier: letters, digits, `_`, `.` and `-`, starting with a letter or digit."""

EventId = UUID
"""Client-generated UUID of one event; (tenant_id, event_id) identifies it for deduplication."""

Timestamp = Annotated[datetime, AfterValidator(_require_utc)]
"""An RFC 3339 instant with an explicit offset, normalised to UTC."""

ShortText = Annotated[str, StringConstraints(max_length=256)]
"""An identifier-like string (session, model, feature, domain ...)."""

TokenCount = Annotated[int, Field(ge=0, le=100_000_000)]
"""A non-negative token count."""

Milliseconds = Annotated[int, Field(ge=0, le=86_400_000)]
"""A non-negative duration in milliseconds (at most a day)."""

Properties = Annotated[dict[ShortText, Annotated[str, StringConstraints(max_length=2048)]], Field(max_length=64)]
"""Free-form string dimensions attached to an event."""

Usd = Annotated[Decimal, Field(max_digits=38, decimal_places=USD_SCALE)]
"""An exact amount of US dollars."""

PriceStatus = Literal["priced", "unknown_model", "not_applicable"]
"""How an event's cost was obtained: priced by genai-prices, model without a price, or not an LLM call."""
