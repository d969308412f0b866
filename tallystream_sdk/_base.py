"""Configuration, validation and accounting shared by `Client` and `AsyncClient`."""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, overload

from schemas.events import AnyEvent, EventBase
from tallystream_sdk._builders import EventBuilders
from tallystream_sdk._core import E, Failure, Item, Secret, Stats, StatsCounter, encode_body, prepare_event, to_item
from tallystream_sdk._delivery import Deliverer, RetryPolicy

logger = logging.getLogger("tallystream_sdk")

DROP_LOG_EVERY = 1000
"""After the first dropped event, a warning is logged once per this many drops."""


class ClientBase(EventBuilders):
    """What both clients share: settings, the bounded queue, local validation, counters and repr."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        tenant_id: str,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        gzip: bool = True,
        timeout: float = 10.0,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        on_failure: Callable[[list[Failure]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if flush_interval <= 0:
            raise ValueError("flush_interval must be positive")
        policy = retry or RetryPolicy()
        if max_retries is not None:
            policy = RetryPolicy(max_retries, policy.base_delay, policy.max_delay, policy.max_elapsed)
        self.base_url = base_url.rstrip("/")
        self.tenant_id = tenant_id
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_queue = max_queue
        self.gzip = gzip
        self.timeout = timeout
        self.retry = policy
        self._url = f"{self.base_url}/v1/events"
        self._secret = Secret(api_key)
        self._counters = StatsCounter()
        self._queue: deque[Item] = deque()
        self._enqueued = 0
        self._done = 0
        self._closing = False
        self._deliverer = Deliverer(
            policy, self._counters, self._secret, clock=clock, jitter=jitter, on_failure=on_failure
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r}, tenant_id={self.tenant_id!r}, api_key='***')"

    @property
    def stats(self) -> Stats:
        """A snapshot of the delivery counters."""
        return self._counters.snapshot(len(self._queue))

    @overload
    def track(self, event: E) -> E: ...

    @overload
    def track(self, event: Mapping[str, Any]) -> AnyEvent: ...

    def track(self, event: EventBase | Mapping[str, Any]) -> EventBase:
        """Queue one event for sending and return it validated.

        A dict gets `event_id` (uuid4), `tenant_id` (this client's) and `timestamp` (now) when absent,
        and is validated here: pydantic.ValidationError is raised at the call, not lost in a batch.
        An event of another tenant raises ValueError. When the queue is full the event is dropped
        and counted in `stats.dropped` (see the client's `on_full`); `track` never raises for that.
        """
        prepared = prepare_event(event, self.tenant_id)
        self._enqueue(to_item(prepared))
        return prepared

    def _emit(self, event: E) -> E:
        return self.track(event)

    def _enqueue(self, item: Item) -> None:
        raise NotImplementedError

    def _request(self, items: list[Item]) -> tuple[bytes, dict[str, str]]:
        body, headers = encode_body(items, self.gzip)
        headers["Authorization"] = f"Bearer {self._secret.reveal()}"
        return body, headers

    def _pop_batch(self) -> list[Item]:
        return [self._queue.popleft() for _ in range(min(len(self._queue), self.batch_size))]

    def _batch_ready(self, flush_wanted: bool) -> bool:
        queued = len(self._queue)
        return queued >= self.batch_size or (queued > 0 and (flush_wanted or self._closing))

    def _record_drop(self, why: str) -> None:
        self._counters.add(dropped=1)
        dropped = self._counters.snapshot(0).dropped
        if dropped == 1 or dropped % DROP_LOG_EVERY == 0:
            logger.warning("tallystream: event dropped (%s); %d dropped so far", why, dropped)

    def _record_crash(self, batch: list[Item], exc: Exception) -> None:
        logger.error("tallystream: sending a batch failed unexpectedly: %s", self._secret.scrub(repr(exc)))
        self._deliverer.fail(batch, None, self._secret.scrub(f"{type(exc).__name__}: {exc}"))
