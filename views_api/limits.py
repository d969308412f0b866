"""How much of the engine one key or tenant may take: request rates, open live streams, running exports.

Every tenant route goes through `views_api.context.tenant_context`, which calls `Limits.admit_key`
(after authentication) and `Limits.admit_tenant` (once the tenant is known to exist): a token bucket
per API key, so a leaked or runaway read key cannot starve the tenant's other keys (the admin's
dashboards), and one per tenant, so all of a tenant's keys together cannot starve other tenants on
the engine they share. Live streams and CSV exports also hold a per-tenant slot for as long as they
run (`Slots`), released by `SlotStreamingResponse` however the response ends: finished, failed,
the client gone, or the client no longer reading (each send waits at most
TALLY_VIEWS_STREAM_SEND_TIMEOUT_SECONDS, then the response is aborted). Live streams of one tenant
share one reading of its figures (`LiveFeeds`).
Refusals are 429 with `{"error": ...}` naming the limit and its setting, and a Retry-After.
Limits are per process: N views instances admit up to N times the rates.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from guards.ratelimit import RateLimiter
from tenancy.directory import Principal
from views_api.live_feed import LiveFeeds
from views_api.models import LiveTick
from views_api.settings import ViewsSettings

log = logging.getLogger(__name__)

SLOT_RETRY_SECONDS = 5
"""Retry-After of a refused stream or export (when a slot frees is unknown)."""


def setting_name(field: str) -> str:
    """The environment variable of a `ViewsSettings` field."""
    return f"{ViewsSettings.model_config.get('env_prefix', '')}{field}".upper()


class LimitError(Exception):
    """A limit is reached: 429, the message names it, Retry-After in whole seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, math.ceil(retry_after))


async def limit_error_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LimitError)
    return JSONResponse({"error": exc.message}, status_code=429, headers={"retry-after": str(exc.retry_after)})


class Slots:
    """At most `cap` concurrent uses (`what`) per tenant."""

    def __init__(self, what: str, field: str, cap: int) -> None:
        self.what, self.field, self.cap = what, field, cap
        self._open: dict[str, int] = {}

    def open(self, tenant_id: str) -> int:
        return self._open.get(tenant_id, 0)

    def acquire(self, tenant_id: str) -> Callable[[], None]:
        """Take a slot (LimitError at the cap); returns its release, which only counts once."""
        if self.open(tenant_id) >= self.cap:
            raise LimitError(
                f"tenant {tenant_id!r} already has {self.cap} {self.what} open, the most allowed "
                f"({setting_name(self.field)}); close one or retry later",
                SLOT_RETRY_SECONDS,
            )
        self._open[tenant_id] = self.open(tenant_id) + 1
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                left = self.open(tenant_id) - 1
                if left > 0:
                    self._open[tenant_id] = left
                else:
                    self._open.pop(tenant_id, None)

        return release


class SlotStreamingResponse(StreamingResponse):
    """A streaming response that releases its slot when it ends, however it ends; a send the client
    does not take within `send_timeout` seconds (it stopped reading) aborts it (the connection is
    closed without the rest)."""

    def __init__(self, content: Any, release: Callable[[], None], send_timeout: float, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release = release
        self._send_timeout = send_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def bounded(message: Message) -> None:
            async with asyncio.timeout(self._send_timeout):
                await send(message)

        try:
            await super().__call__(scope, receive, bounded)
        except TimeoutError:
            log.warning("aborted a streaming response: its client read nothing for %g s", self._send_timeout)
        finally:
            self._release()


class Limits:
    """The views role's limits, from its settings (`clock`: monotonic seconds, injectable)."""

    def __init__(self, settings: ViewsSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._keys = RateLimiter(settings.request_burst_seconds)
        self._tenants = RateLimiter(settings.request_burst_seconds)
        self.streams = Slots("live streams", "live_streams_per_tenant", settings.live_streams_per_tenant)
        self.exports = Slots("CSV exports", "exports_per_tenant", settings.exports_per_tenant)
        self.live: LiveFeeds[LiveTick] = LiveFeeds(settings.live_min_interval_seconds, clock)

    def admit_key(self, principal: Principal) -> None:
        """Count a request of `principal`'s key; LimitError past its rate."""
        rate = self.settings.key_requests_per_second
        wait = self._keys.take(principal.key_id, 1, rate, self._clock())
        if wait is not None:
            raise LimitError(
                f"too many requests with this key: at most {rate:g} per second "
                f"({setting_name('key_requests_per_second')}); retry after the Retry-After seconds",
                wait,
            )

    def admit_tenant(self, principal: Principal, tenant_id: str) -> None:
        """Count a request to `tenant_id` (its key was admitted); LimitError past the tenant's rate."""
        rate = self.settings.tenant_requests_per_second
        wait = self._tenants.take(tenant_id, 1, rate, self._clock())
        if wait is not None:
            self._keys.refund(principal.key_id, 1)
            raise LimitError(
                f"too many requests for tenant {tenant_id!r}: at most {rate:g} per second over all its keys "
                f"({setting_name('tenant_requests_per_second')}); retry after the Retry-After seconds",
                wait,
            )


def install(app: FastAPI, settings: ViewsSettings) -> None:
    """Limits from `settings` on `app` (tests may replace `app.state.limits`), and the 429 handler."""
    app.state.limits = Limits(settings)
    app.add_exception_handler(LimitError, limit_error_response)
