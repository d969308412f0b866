"""Turning raw Kafka records into priced warehouse rows (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from processors.pricing import NOT_APPLICABLE, PriceBook
from schemas.ddl import EVENTS_COLUMN_NAMES, ch_datetime64
from schemas.events import LlmCall, Message, describe_validation_error, parse_event

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record the processors could not handle, and why."""

    key: bytes | None
    value: bytes
    reason: str


@dataclass(slots=True)
class Batch:
    """What one batch of records became."""

    rows: list[Row] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    unknown_model: int = 0


def event_row(event: LlmCall | Message, book: PriceBook, ingested_at: str) -> Row:
    """The warehouse row of one event, priced; keys are exactly `EVENTS_COLUMN_NAMES`."""
    row: Row = {
        "tenant_id": event.tenant_id,
        "event_id": str(event.event_id),
        "type": event.type,
        "ts": ch_datetime64(event.timestamp),
        "session_id": event.session_id,
        "provider": "",
        "model": "",
        "input_tokens": 0,
        "output_tokens": 0,
        "cached_input_tokens": 0,
        "reasoning_tokens": 0,
        "latency_ms": 0,
        "status": "",
        "error_type": "",
        "feature": "",
        "end_user_id": "",
        "domain": "",
        "role": "",
        "content_chars": 0,
        "cost_usd": NOT_APPLICABLE.cost_usd,
        "price_status": NOT_APPLICABLE.status,
        "properties": event.properties,
        "schema_version": event.schema_version,
        "ingested_at": ingested_at,
    }
    if isinstance(event, LlmCall):
        price = book.price_llm_call(
            provider=event.provider,
            model=event.model,
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            cached_input_tokens=event.cached_input_tokens,
            at=event.timestamp,
        )
        row.update(
            provider=event.provider,
            model=event.model,
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            cached_input_tokens=event.cached_input_tokens,
            reasoning_tokens=event.reasoning_tokens,
            latency_ms=event.latency_ms,
            status=event.status,
            error_type=event.error_type or "",
            feature=event.feature or "",
            end_user_id=event.end_user_id or "",
            domain=event.domain or "",
            cost_usd=price.cost_usd,
            price_status=price.status,
        )
    else:
        row.update(role=event.role, content_chars=event.content_chars or 0)
    assert tuple(row) == EVENTS_COLUMN_NAMES
    return row


def build_batch(records: Iterable[tuple[bytes | None, bytes]], book: PriceBook, ingested_at: datetime) -> Batch:
    """Decode, validate and price a batch of (key, value) records.

    Records that are not JSON, not a valid event, or whose key is not the event's tenant become
    dead letters with the reason; the rest become rows.
    """
    batch = Batch()
    stamp = ch_datetime64(ingested_at)
    for key, value in records:
        try:
            event = parse_event(orjson.loads(value))
        except orjson.JSONDecodeError as exc:
            batch.dead.append(DeadLetter(key, value, f"not JSON: {exc}"))
            continue
        except ValidationError as exc:
            batch.dead.append(DeadLetter(key, value, f"invalid event: {describe_validation_error(exc)}"))
            continue
        if key is not None and key.decode(errors="replace") != event.tenant_id:
            batch.dead.append(DeadLetter(key, value, "record key is not the event's tenant_id"))
            continue
        row = event_row(event, book, stamp)
        if row["price_status"] == "unknown_model":
            batch.unknown_model += 1
        batch.rows.append(row)
    return batch
