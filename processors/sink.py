"""Writing rows to the warehouse: the at-least-once half of exact totals.

The guarantee, and where each part of it is kept:

1. The agent reads a batch without acknowledging it (`noack_take`).
2. `EventSink.write` inserts rows in one statement and returns only once the warehouse accepted
   them; on failure it retries with capped exponential backoff, forever. Nothing is acked while a
   write is failing, so consumption stops instead of dropping data. Retrying a statement that did
   land is harmless: raw rows collapse (ReplacingMergeTree + FINAL), rollup rows carry a version.
3. Records are acked only once their whole range is stored (processors.ranges), in offset order per
   partition, and the agent never leaves a record it took unacked while acking later ones (any error
   in the batch step stops the worker): Faust commits past the highest acked offset without checking
   for gaps, so this ordering is what keeps a crash replaying whole ranges.
4. The replay is recognised (processors.dedup): a record stored before from the same (partition,
   offset) is not stored again but is recounted in the range being rebuilt; another record with a
   stored id is a duplicate and counts nowhere. At-least-once delivery into idempotent writes gives
   totals that count every accepted event exactly once (docs/decisions/0003 and 0005).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from processors import metrics
from storage import Warehouse

log = logging.getLogger(__name__)
T = TypeVar("T")


class EventSink:
    """Inserts batches into one table, retrying until the warehouse takes them."""

    def __init__(
        self,
        warehouse: Warehouse,
        table: str,
        *,
        first_backoff: float = 0.2,
        max_backoff: float = 5.0,
    ) -> None:
        self._warehouse = warehouse
        self._table = table
        self._first_backoff = first_backoff
        self._max_backoff = max_backoff
        self.rows_written = 0
        self.failed_attempts = 0

    async def retrying(self, action: Callable[[], Awaitable[T]]) -> T:
        """Run `action` until it succeeds, with capped exponential backoff between failures."""
        backoff = self._first_backoff
        while True:
            try:
                return await action()
            except Exception as exc:
                self.failed_attempts += 1
                metrics.INSERT_RETRIES.inc()
                log.warning("warehouse call on %s failed (%s); retrying in %.1fs", self._table, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def write(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert `rows` in one statement; returns only when they are stored."""
        if not rows:
            return
        await self.retrying(lambda: self._warehouse.insert(self._table, rows))
        self.rows_written += len(rows)
