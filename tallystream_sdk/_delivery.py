"""How one batch is delivered: retries, backoff, 413 splitting and result accounting, without I/O.

`Deliverer.plan(items)` is a generator that yields `Post` (send these events, reply with the
`httpx.Response` or the exception raised) and `Sleep` (wait, reply with None). The sync and async
clients drive the same plan with their own HTTP client and sleep function.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tallystream_sdk._core import Failure, Item, Secret, StatsCounter

logger = logging.getLogger("tallystream_sdk")

RETRYABLE_STATUS = frozenset({408, 429})
"""Statuses retried besides every 5xx."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before re-sending a batch (429, 5xx and network errors only).

    The n-th retry waits a random time in `[0, min(max_delay, base_delay * 2**(n-1))]` (full jitter),
    and at least the server's Retry-After. A batch is given up after `max_retries` retries, or when
    the next wait would end more than `max_elapsed` seconds after its first attempt.
    """

    max_retries: int = 5
    """Re-sends after the first attempt."""
    base_delay: float = 0.5
    """Backoff ceiling of the first retry, in seconds."""
    max_delay: float = 30.0
    """Largest backoff ceiling, in seconds (Retry-After may ask for more)."""
    max_elapsed: float = 120.0
    """Give up on a batch once retrying would go past this many seconds."""

    def backoff(self, retry: int, jitter: float, retry_after: float | None) -> float:
        """Seconds to wait before retry number `retry` (1-based); `jitter` is uniform in [0, 1)."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        delay = ceiling * jitter
        return max(delay, retry_after) if retry_after is not None else delay


@dataclass(frozen=True, slots=True)
class Post:
    """Send these events in one request."""

    items: list[Item]


@dataclass(frozen=True, slots=True)
class Sleep:
    """Wait this many seconds."""

    seconds: float


Reply = httpx.Response | Exception | None
Plan = Generator[Post | Sleep, Reply, None]


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now (delta-seconds or HTTP-date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _is_retryable(reply: Reply) -> bool:
    if isinstance(reply, httpx.Response):
        return reply.status_code in RETRYABLE_STATUS or reply.status_code >= 500
    return isinstance(reply, httpx.TransportError)


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class Deliverer:
    """Delivers batches following a `RetryPolicy` and keeps the counters and failure reports."""

    def __init__(
        self,
        policy: RetryPolicy,
        stats: StatsCounter,
        secret: Secret,
        *,
        clock: Callable[[], float],
        jitter: Callable[[], float],
        on_failure: Callable[[list[Failure]], None] | None,
    ) -> None:
        self._policy = policy
        self._stats = stats
        self._secret = secret
        self._clock = clock
        self._jitter = jitter
        self._on_failure = on_failure

    def plan(self, items: list[Item]) -> Plan:
        """Deliver `items`: yields the requests and waits it needs, records what became of every event."""
        started = self._clock()
        retries = 0
        while True:
            reply = yield Post(items)
            status = reply.status_code if isinstance(reply, httpx.Response) else None
            if isinstance(reply, httpx.Response) and 200 <= reply.status_code < 300:
                self._settle(items, reply)
                return
            if status == 413 and len(items) > 1:
                half = len(items) // 2
                logger.info("tallystream: batch of %d events too large (413), splitting", len(items))
                yield from self.plan(items[:half])
                yield from self.plan(items[half:])
                return
            error = self._describe(reply)
            if not _is_retryable(reply):
                self.fail(items, status, error)
                return
            retries += 1
            retry_after = (
                parse_retry_after(reply.headers.get("retry-after")) if isinstance(reply, httpx.Response) else None
            )
            delay = self._policy.backoff(retries, self._jitter(), retry_after)
            if retries > self._policy.max_retries or self._clock() - started + delay > self._policy.max_elapsed:
                self.fail(items, status, f"gave up after {retries} attempts: {error}")
                return
            logger.info("tallystream: %s; retry %d in %.2fs", error, retries, delay)
            self._stats.add(retries=1)
            yield Sleep(delay)

    def fail(self, items: Sequence[Item], status: int | None, error: str) -> None:
        """Record that `items` could not be delivered."""
        self._stats.add(failed=len(items))
        logger.warning("tallystream: %d events not delivered: %s", len(items), error)
        self._report([Failure(item.event_id, "failed", status, error) for item in items])

    def _settle(self, items: list[Item], response: httpx.Response) -> None:
        body = _json_body(response)
        body = body if isinstance(body, dict) else {}
        errors = body.get("errors")
        failures: list[Failure] = []
        for entry in errors if isinstance(errors, list) else []:
            if not isinstance(entry, dict):
                continue
            index, event_id = entry.get("index"), entry.get("event_id")
            if not isinstance(event_id, str) and isinstance(index, int) and 0 <= index < len(items):
                event_id = items[index].event_id
            reason = self._secret.scrub(str(entry.get("error", "rejected")))
            failures.append(
                Failure(event_id if isinstance(event_id, str) else None, "rejected", response.status_code, reason)
            )
        rejected = body.get("rejected")
        rejected = max(len(failures), rejected if isinstance(rejected, int) else 0)
        accepted = body.get("accepted")
        sent = accepted if isinstance(accepted, int) else len(items) - rejected
        self._stats.add(sent=sent, rejected=rejected)
        if failures:
            logger.warning(
                "tallystream: server rejected %d of %d events, e.g. %s",
                rejected,
                len(items),
                failures[0].error,
            )
            self._report(failures)

    def _describe(self, reply: Reply) -> str:
        if isinstance(reply, httpx.Response):
            body = _json_body(reply)
            detail = body.get("error") if isinstance(body, dict) else None
            text = f"HTTP {reply.status_code}" + (f" ({detail})" if detail else "")
        else:
            text = f"{type(reply).__name__}: {reply}"
        return self._secret.scrub(text)[:500]

    def _report(self, failures: list[Failure]) -> None:
        if self._on_failure is None:
            return
        try:
            self._on_failure(failures)
        except Exception:
            logger.exception("tallystream: on_failure callback raised")
