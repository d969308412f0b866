"""A tenant's rate limit over whole requests: admitted before its body is read, all reading paid for.

Every request whose body was read costs tokens in proportion to what reading it cost: one per event
found, or one per KiB received or decoded (whichever is more), at least one. Accepted and rejected
events take one token each as they are published (`accept`); what the body cost beyond its events
(a body of megabytes holding no event, say) is charged once the request is answered, so a tenant
cannot make ingest read, inflate and parse for free, whatever the outcome. A request refused after
its body was read (400, 403, 413, 415) costs the same. A tenant with no token left is answered 429
with Retry-After before its body is read at all. Two refusals are free: 429 (nothing was read) and
413 for a batch larger than the tenant's burst (`SplitBatch`: the client splits it and sends the
same events again; its size is bounded by the batch limit).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from fastapi import Request

from guards.ratelimit import RateLimiter
from ingest.errors import ApiError
from ingest.parsing import BodyError, Inflater
from ingest.settings import IngestSettings
from tenancy.directory import Directory

BYTES_PER_TOKEN = 1024
"""A body costs a token per KiB received or decoded (about an event's size), when that is more than its events."""
CHARGED = frozenset({400, 403, 413, 415})
"""Refusals that cost tokens (when not `SplitBatch`)."""


class SplitBatch(ApiError):
    """413: more events than the tenant's burst; the client sends them again in smaller batches."""


def tenant_rate(request: Request, tenant_id: str) -> float:
    """Events per second the tenant may send: its own rate, else the instance's default."""
    directory: Directory = request.app.state.directory
    settings: IngestSettings = request.app.state.settings
    tenant = directory.tenant(tenant_id)
    return (tenant.rate_limit_per_second if tenant else None) or settings.rate_limit_per_second


def over_rate(tenant_id: str, rate: float, wait: float) -> ApiError:
    return ApiError(
        429,
        f"tenant {tenant_id!r} is over its rate limit of {rate:g} events/s; retry later",
        {"Retry-After": str(max(1, math.ceil(wait)))},
    )


def admit(request: Request, tenant_id: str) -> None:
    """429 unless the tenant has a token left: its body is then not read."""
    rate = tenant_rate(request, tenant_id)
    limiter: RateLimiter = request.app.state.limiter
    wait = limiter.wait(tenant_id, 1, rate, time.monotonic())
    if wait is not None:
        raise over_rate(tenant_id, rate, wait)


@dataclass(slots=True)
class Cost:
    """What a request made ingest read, in tokens."""

    inflater: Inflater
    events: int = 0
    """Events found (or known to be more than) before the refusal; once answered, the events that
    `accept` took or charged tokens for (accepted and rejected)."""

    def kib(self) -> int:
        """KiB read: received or decoded, whichever is more (rounded up)."""
        return math.ceil(max(self.inflater.received, self.inflater.inflated) / BYTES_PER_TOKEN)

    def tokens(self) -> int:
        """The request's whole cost."""
        return max(1, self.events, self.kib())

    def beyond_events(self) -> int:
        """What the request cost beyond the tokens its events already took (an answered request)."""
        return self.tokens() - self.events


@contextmanager
def charged(request: Request, tenant_id: str, cost: Cost) -> Iterator[None]:
    """Charges the tenant `cost`: all of it when the block refuses the request (`BodyError` becomes an
    `ApiError`); what it cost beyond its events when the block answers (its events took theirs)."""
    try:
        yield
    except BodyError as exc:
        _charge(request, tenant_id, cost.tokens())
        raise ApiError(exc.status, str(exc)) from exc
    except SplitBatch:
        raise
    except ApiError as exc:
        if exc.status in CHARGED:
            _charge(request, tenant_id, cost.tokens())
        raise
    else:
        if cost.beyond_events() > 0:
            _charge(request, tenant_id, cost.beyond_events())


def _charge(request: Request, tenant_id: str, tokens: int) -> None:
    """Take `tokens`, running into debt up to a burst: a tenant whose requests cost more than its
    burst waits up to two bursts' time before the next is read (429 with Retry-After meanwhile)."""
    limiter: RateLimiter = request.app.state.limiter
    rate = tenant_rate(request, tenant_id)
    limiter.charge(tenant_id, tokens, rate, time.monotonic(), debt=limiter.capacity(rate))
