"""One reading of a tenant's live figures, shared by all of its open live streams.

However many streams a tenant has open, and whatever `interval` they ask for, its figures are read
from the engine at most once per `min_interval` seconds: a stream that wants a tick sooner gets the
last reading. The reading is also renewed when the app clock has moved by `min_interval` since it
was taken (a pinned test clock moved by hand). A tenant's entry is dropped when its last stream ends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Feed(Generic[T]):
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    value: T | None = None
    read_at: float = 0.0
    """Monotonic time of the reading."""
    as_of: datetime | None = None
    """The app clock's `now` the reading was taken at."""


class LiveFeeds(Generic[T]):
    """The latest reading per tenant, renewed at most once per `min_interval` seconds."""

    def __init__(self, min_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval = min_interval
        self._clock = clock
        self._feeds: dict[str, _Feed[T]] = {}

    def _stale(self, feed: _Feed[T], now: datetime) -> bool:
        if feed.value is None or feed.as_of is None:
            return True
        moved = abs(now - feed.as_of) >= timedelta(seconds=self.min_interval)
        return moved or self._clock() - feed.read_at >= self.min_interval

    async def latest(self, tenant_id: str, now: datetime, read: Callable[[datetime], Awaitable[T]]) -> T:
        """The tenant's reading: the last one if still fresh, else `read(now)` (one reader at a time)."""
        feed = self._feeds.setdefault(tenant_id, _Feed())
        async with feed.lock:
            if self._stale(feed, now):
                feed.value = await read(now)
                feed.read_at, feed.as_of = self._clock(), now
            assert feed.value is not None
            return feed.value

    def drop(self, tenant_id: str) -> None:
        """Forget the tenant's reading (its last stream ended)."""
        self._feeds.pop(tenant_id, None)

    def __contains__(self, tenant_id: str) -> bool:
        return tenant_id in self._feeds
