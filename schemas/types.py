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
    # mirrored on the worker's fast path by schemas/fast_events.py `_utc_timestamp` (differential tests keep them equal)
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a UTC offset (RFC 3339), e.g. 2026-01-31T12:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is past year 9999 in UTC: a refusal, not a crash
        raise ValueError("timestamp is out of range once converted to UTC") from None


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

PriceStatus = Literal["priced", "tenant_price", "unknown_model", "not_applicable"]
"""How an event's cost was obtained: genai-prices, the tenant's own price, no price known, or not an LLM call."""

Amount = Annotated[Decimal, Field(ge=0, max_digits=26, decimal_places=USD_SCALE)]
"""A non-negative exact amount of money (in the event's currency), at most 12 decimal places."""

Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""An ISO 4217 currency code, upper case (USD, EUR ...)."""

Count = Annotated[int, Field(ge=0, le=4_000_000_000)]
"""A non-negative count (results, characters ...)."""

Dimensions = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=64)],
        Annotated[str, StringConstraints(max_length=256)],
    ],
    Field(max_length=32),
]
"""Named string dimensions of a custom event (what it can be grouped by)."""

Measures = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=64)],
        Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)],
    ],
    Field(max_length=32),
]
"""Named numeric measures of a custom event (what can be summed or averaged)."""

AudioSeconds = Annotated[float, Field(ge=0, le=86_400, allow_inf_nan=False)]
"""Seconds of audio processed (transcription, speech)."""
