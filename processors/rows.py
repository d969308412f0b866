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
from schemas.records import FramingError, split_events
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
    """The refused event's own bytes (a single-event record), or the whole record when its framing is broken."""
    reason: str
    index: int | None = None
    """The event's index in its batch record, when it came from one."""
    format: bytes | None = None
    """The record's `tally-format`, when the whole batch record is refused (republishable as it was)."""


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
    """Events dropped because the same (tenant_id, event_id), not stored, came earlier in the batch (set
    once the batch is classified against what is stored: processors.dedup)."""


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
    format: bytes | None = None
    """Its `tally-format` header (schemas.records): None for a single-event record."""


def build_batch(
    records: Iterable[Record | tuple[bytes | None, bytes]],
    book: PriceBook,
    ingested_at: datetime,
    overrides: OverrideLookup = _no_overrides,
    retention: timedelta | None = None,
) -> Batch:
    """Decode, validate and price a batch of records (or bare (key, value) pairs).

    Each record is cut into its events (schemas.records: one for a single-event record); a record
    whose framing is broken becomes one dead letter, whole, with the reason. Events that are not
    JSON, not a valid event, whose key is not the event's tenant, older than the raw `retention`
    (the table would drop them on insert) or more than a day ahead become dead letters with the
    reason (and their index in a batch record); the rest become rows, each with its place
    (source_partition, source_offset, source_index), copies of an id included: which copy counts
    depends on what is stored (processors.dedup.classify).
    """
    checks = _Checks(ingested_at, retention)
    batch = Batch()
    stamp = ch_datetime64(ingested_at)
    for item in records:
        record = item if isinstance(item, Record) else Record(*item)
        try:
            values = split_events(record.format, record.value)
        except FramingError as exc:
            batch.dead.append(DeadLetter(record.key, record.value, f"bad batch record: {exc}", format=record.format))
            continue
        batched = record.format is not None
        for index, value in enumerate(values):
            event = checks.event(record, value, batch.dead, index if batched else None)
            if event is None:
                continue
            row = event_row(event, book, stamp, overrides)
            row["source_partition"], row["source_offset"], row["source_index"] = record.partition, record.offset, index
            if row["price_status"] == "unknown_model":
                batch.unknown_model += 1
            batch.rows.append(row)
            batch.times.append(event.timestamp)
            batch.arrivals.append(record.timestamp)
    return batch


class _Checks:
    """Decoding and bound checks of one event (pure); a refused event is appended to `dead`."""

    def __init__(self, ingested_at: datetime, retention: timedelta | None) -> None:
        self.ingested_at = ingested_at
        self.oldest = ingested_at - retention if retention is not None else None
        self.too_old = (
            f"timestamp older than the raw retention of {retention.days} days: not stored" if retention else ""
        )
        self.newest = ingested_at + MAX_AHEAD

    def event(self, record: Record, value: bytes, dead: list[DeadLetter], index: int | None) -> AnyEvent | None:
        key = record.key
        try:
            event = parse_event(orjson.loads(value))
        except orjson.JSONDecodeError as exc:
            dead.append(DeadLetter(key, value, f"not JSON: {exc}", index))
            return None
        except ValidationError as exc:
            dead.append(DeadLetter(key, value, f"invalid event: {describe_validation_error(exc)}", index))
            return None
        if key is not None and key.decode(errors="replace") != event.tenant_id:
            dead.append(DeadLetter(key, value, "record key is not the event's tenant_id", index))
            return None
        # bounds against when ingest accepted the record (its Kafka timestamp), so a replay decides the same
        shift = (record.timestamp - self.ingested_at) if record.timestamp is not None else timedelta(0)
        if self.oldest is not None and event.timestamp < self.oldest + shift:
            dead.append(DeadLetter(key, value, self.too_old, index))
            return None
        if event.timestamp > self.newest + shift:
            dead.append(DeadLetter(key, value, "timestamp more than a day in the future: not stored", index))
            return None
        return event
