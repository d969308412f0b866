"""What every ingest route does with decoded events: authorise, rate-limit, publish, report.

Shared by `POST /v1/events` and the OTLP route so both give the same guarantees: a 2xx only after
Kafka acknowledged every accepted event (acks=all), 403 when an event belongs to another tenant,
429 over the tenant's rate, 503 with Retry-After when Kafka does not acknowledge.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel

from guards.ratelimit import RateLimiter
from ingest.errors import ApiError
from ingest.metering import SplitBatch, over_rate, tenant_rate
from ingest.metrics import IngestMetrics
from ingest.parsing import Rejected, TimeBounds, all_within, validate_events
from ingest.publisher import OutRecord, PublishError
from ingest.settings import IngestSettings
from schemas.events import AnyEvent, event_to_json
from schemas.records import batch_headers, encode_batches
from tenancy.directory import Principal


class EventResult(BaseModel):
    """Why one event of the batch was rejected."""

    index: int
    """Position of the event in the request (0-based)."""
    event_id: str | None
    """Its event_id, when it had one."""
    error: str
    """The field and the reason."""


class IngestResponse(BaseModel):
    accepted: int
    """Events acknowledged by the event log."""
    rejected: int
    """Events refused; each is listed in `errors`."""
    errors: list[EventResult]


def sender(principal: Principal) -> str:
    """The tenant the key sends for (403 for operator keys)."""
    if principal.tenant_id is None:  # operator keys have the admin scope only; ingest keys always have a tenant
        raise ApiError(403, "operator keys cannot send events")
    return principal.tenant_id


def _check_size(request: Request, count: int) -> None:
    settings: IngestSettings = request.app.state.settings
    if count > settings.max_batch_events:
        request.app.state.metrics.rejected.labels("too_large").inc(count)
        raise ApiError(413, f"batch has {count} events; at most {settings.max_batch_events} per request")


def too_many(request: Request, what: str) -> ApiError:
    """413 for a body found to hold more than the batch limit of `what` before it was decoded."""
    limit = request.app.state.settings.max_batch_events
    request.app.state.metrics.rejected.labels("too_large").inc(limit + 1)
    return ApiError(413, f"batch has more than {limit} {what}; at most {limit} per request")


def time_bounds(settings: IngestSettings) -> TimeBounds:
    now = datetime.now(UTC)
    return TimeBounds(
        oldest=now - timedelta(days=settings.max_event_age_days),
        newest=now + timedelta(seconds=settings.max_clock_skew_seconds),
    )


async def accept(request: Request, principal: Principal, docs: list[Any], source: str) -> IngestResponse:
    """Validate `docs` as events of the principal's tenant and publish the valid ones."""
    tenant_id = sender(principal)
    _check_size(request, len(docs))
    accepted, rejected = validate_events(docs, tenant_id, time_bounds(request.app.state.settings))
    return await _publish(request, tenant_id, accepted, rejected, source)


async def accept_valid(
    request: Request, principal: Principal, events: list[AnyEvent], source: str
) -> IngestResponse | None:
    """Publish events already validated (the whole-body fast path) as `accept` would; None when one
    of them is out of time bounds (the caller then takes the per-event path, which names it)."""
    tenant_id = sender(principal)
    _check_size(request, len(events))
    if not all_within(events, time_bounds(request.app.state.settings)):
        return None
    return await _publish(request, tenant_id, events, [], source)


async def _publish(
    request: Request, tenant_id: str, accepted: list[AnyEvent], rejected: list[Rejected], source: str
) -> IngestResponse:
    state = request.app.state
    metrics: IngestMetrics = state.metrics
    total = len(accepted) + len(rejected)  # the request's events, for the counters
    foreign = next((i for i, ev in enumerate(accepted) if ev.tenant_id != tenant_id), None)
    if foreign is not None:
        metrics.rejected.labels("forbidden").inc(total)
        raise ApiError(
            403,
            f"event {accepted[foreign].event_id} has tenant_id {accepted[foreign].tenant_id!r}, "
            f"but this key belongs to tenant {tenant_id!r}; nothing in this request was accepted",
        )
    limiter: RateLimiter = state.limiter
    rate = tenant_rate(request, tenant_id)
    if accepted:
        if len(accepted) > limiter.capacity(rate):
            metrics.rejected.labels("too_large").inc(total)
            raise SplitBatch(
                413,
                f"{len(accepted)} events exceed tenant {tenant_id!r}'s burst of {limiter.capacity(rate):g} "
                f"events ({rate:g}/s); send smaller batches",
            )
        wait = limiter.take(tenant_id, len(accepted), rate, time.monotonic())
        if wait is not None:
            metrics.rejected.labels("rate_limited").inc(total)
            raise over_rate(tenant_id, rate, wait)
        records = batch_records(tenant_id, accepted, state.settings)
        try:
            await state.publisher.publish(records)
        except PublishError as exc:
            limiter.refund(tenant_id, len(accepted))
            metrics.rejected.labels("unavailable").inc(total)
            raise ApiError(
                503,
                "event log unavailable: the events were not acknowledged; retry (a re-sent event is counted once)",
                {"Retry-After": "1"},
            ) from exc
        metrics.accepted.labels(source).inc(len(accepted))
    if rejected:
        metrics.rejected.labels("invalid").inc(len(rejected))
        limiter.charge(tenant_id, len(rejected), rate, time.monotonic())  # parsed and refused: not free
    return IngestResponse(
        accepted=len(accepted),
        rejected=len(rejected),
        errors=[EventResult(index=r.index, event_id=r.event_id, error=r.error) for r in rejected],
    )


def batch_records(tenant_id: str, events: list[AnyEvent], settings: IngestSettings) -> list[OutRecord]:
    """The events as batch records keyed by the tenant (schemas.records), split at the record bounds."""
    key, headers = tenant_id.encode(), batch_headers()
    values = encode_batches([event_to_json(ev) for ev in events], settings.record_max_events, settings.record_max_bytes)
    return [OutRecord(key, value, headers) for value in values]


def render(result: IngestResponse) -> Response:
    """200 when every event was accepted, 207 with the per-event errors otherwise."""
    return Response(
        result.model_dump_json(), status_code=207 if result.rejected else 200, media_type="application/json"
    )
