"""Turning raw Kafka records into priced warehouse rows (pure: no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from processors.event_columns import type_columns
from processors.pricing import NOT_APPLICABLE, PriceBook
from schemas.ddl import EVENTS_COLUMNS, ch_datetime64
from schemas.events import (
    AnyEvent,
    LlmCall,
    describe_validation_error,
    parse_event,
)
from schemas.tenancy import PriceOverride

Row = dict[str, Any]
OverrideLookup = Callable[[str, str, str], PriceOverride | None]
"""(tenant_id, provider, model) -> the tenant's own price for the model, if it set one."""

_ZERO_MONEY = Decimal(0)

#: The empty value of every column; a row starts as this and each event type fills its columns.
_EMPTY_ROW: Row = {
    name: ({} if ch_type.startswith("Map(") else "" if "String" in ch_type else 0) for name, ch_type in EVENTS_COLUMNS
}


def _no_overrides(tenant_id: str, provider: str, model: str) -> PriceOverride | None:
    return None


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
    times: list[datetime] = field(default_factory=list)
    """Each row's event timestamp (the windows it belongs to)."""
    arrivals: list[datetime | None] = field(default_factory=list)
    """Each row's Kafka record timestamp (when ingest accepted it), when known: lateness is measured on it."""
    dead: list[DeadLetter] = field(default_factory=list)
    unknown_model: int = 0
    duplicates: int = 0
    """Events dropped because the same (tenant_id, event_id) came earlier in the batch."""


def event_row(event: AnyEvent, book: PriceBook, ingested_at: str, overrides: OverrideLookup = _no_overrides) -> Row:
    """The warehouse row of one event, priced; keys are exactly the events table's columns, in order."""
    row: Row = dict(_EMPTY_ROW)
    row.update(dimensions={}, measures={})  # fresh maps: rows never share a mutable value
    row.update(
        tenant_id=event.tenant_id,
        event_id=str(event.event_id),
        type=event.type,
        ts=ch_datetime64(event.timestamp),
        session_id=event.session_id or "",
        end_user_id=event.end_user_id or "",
        domain=event.domain or "",
        revenue=_ZERO_MONEY,
        cost_usd=NOT_APPLICABLE.cost_usd,
        price_status=NOT_APPLICABLE.status,
        properties=event.properties,
        schema_version=event.schema_version,
        ingested_at=ingested_at,
    )
    row.update(type_columns(event))
    if isinstance(event, LlmCall):
        price = book.price_llm_call(
            tenant_id=event.tenant_id,
            provider=event.provider,
            model=event.model,
            input_tokens=event.input_tokens,
            output_tokens=event.output_tokens,
            cached_input_tokens=event.cached_input_tokens,
            audio_seconds=event.audio_seconds,
            at=event.timestamp,
            override=overrides(event.tenant_id, event.provider, event.model),
        )
        row.update(cost_usd=price.cost_usd, price_status=price.status)
        if price.stored_model is not None:  # a tenant's unknown models beyond its cap: one name (pricing.py)
            row["model"] = price.stored_model
    return row


MAX_AHEAD = timedelta(days=1)
"""Events further in the future than this are dead letters (ingest already refuses beyond its skew)."""


class Record(NamedTuple):
    """One Kafka record as the worker read it."""

    key: bytes | None
    value: bytes
    partition: int = 0
    offset: int = 0
    timestamp: datetime | None = None


def build_batch(
    records: Iterable[Record | tuple[bytes | None, bytes]],
    book: PriceBook,
    ingested_at: datetime,
    overrides: OverrideLookup = _no_overrides,
    retention: timedelta | None = None,
) -> Batch:
    """Decode, validate and price a batch of records (or bare (key, value) pairs).

    Records that are not JSON, not a valid event, whose key is not the event's tenant, older than
    the raw `retention` (the table would drop them on insert) or more than a day ahead become dead
    letters with the reason; a (tenant_id, event_id) seen earlier in the batch is dropped; the
    rest become rows.
    """
    oldest = ingested_at - retention if retention is not None else None
    too_old = f"timestamp older than the raw retention of {retention.days} days: not stored" if retention else ""
    newest = ingested_at + MAX_AHEAD
    batch = Batch()
    stamp = ch_datetime64(ingested_at)
    seen: set[tuple[str, str]] = set()
    for item in records:
        record = item if isinstance(item, Record) else Record(*item)
        key, value = record.key, record.value
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
        # bounds against when ingest accepted the record (its Kafka timestamp), so a replay decides the same
        shift = (record.timestamp - ingested_at) if record.timestamp is not None else timedelta(0)
        if oldest is not None and event.timestamp < oldest + shift:
            batch.dead.append(DeadLetter(key, value, too_old))
            continue
        if event.timestamp > newest + shift:
            batch.dead.append(DeadLetter(key, value, "timestamp more than a day in the future: not stored"))
            continue
        identity = (event.tenant_id, str(event.event_id))
        if identity in seen:
            batch.duplicates += 1
            continue
        seen.add(identity)
        row = event_row(event, book, stamp, overrides)
        row["source_partition"], row["source_offset"] = record.partition, record.offset
        if row["price_status"] == "unknown_model":
            batch.unknown_model += 1
        batch.rows.append(row)
        batch.times.append(event.timestamp)
        batch.arrivals.append(record.timestamp)
    return batch
