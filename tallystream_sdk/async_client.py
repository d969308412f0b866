"""The asyncio client: `track()` queues (a plain, non-blocking call), an asyncio task batches and sends.

    async with AsyncClient("https://ingest.example.com", api_key, "acme") as client:
        client.llm_call("openai", "gpt-4o-mini", latency_ms=420, input_tokens=1200, output_tokens=300)

The sender task starts on the first `track` made inside a running event loop (or at `flush`,
`close` or `async with`); once it runs, `track` may also be called from other threads (the event
is handed to the loop). A full queue always drops the new event and counts it in `stats.dropped`:
blocking `track` would stall the event loop. There is no atexit hook: `await client.close()` or use
`async with`, or queued events are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable

import httpx

from tallystream_sdk._base import ClientBase
from tallystream_sdk._core import Failure, Item
from tallystream_sdk._delivery import Post, Reply, RetryPolicy

logger = logging.getLogger("tallystream_sdk")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class AsyncClient(ClientBase):
    """Client for asyncio applications; the arguments are those of `Client` without `on_full`,
    `block_timeout` and `shutdown_timeout`, with an `httpx.AsyncBaseTransport` and an async `sleep`."""

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
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        super().__init__(
            base_url,
            api_key,
            tenant_id,
            batch_size=batch_size,
            flush_interval=flush_interval,
            max_queue=max_queue,
            gzip=gzip,
            timeout=timeout,
            max_retries=max_retries,
            retry=retry,
            on_failure=on_failure,
            clock=clock,
            jitter=jitter,
        )
        self._sleep = sleep
        self._http = httpx.AsyncClient(transport=transport, timeout=self.timeout)
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._flush_waiters = 0
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def __aenter__(self) -> AsyncClient:
        self._ensure_sender()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _enqueue(self, item: Item) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed() and _running_loop() is not loop:
            loop.call_soon_threadsafe(self._append, item)  # tracked from another thread
            return
        self._append(item)

    def _append(self, item: Item) -> None:
        why = "client closed" if self._closing else "queue full" if len(self._queue) >= self.max_queue else None
        if why is not None:
            self._record_drop(why)
            return
        self._queue.append(item)
        self._enqueued += 1
        self._ensure_sender()
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    def _ensure_sender(self) -> None:
        loop = _running_loop()
        if loop is None:
            return  # not in a loop: the task starts at the next flush/close
        if self._task is None or self._task.done():
            self._loop = loop
            self._task = loop.create_task(self._run(), name="tallystream-sender")

    async def flush(self, timeout: float | None = None) -> bool:
        """Send everything tracked so far; False if `timeout` seconds passed first."""
        self._ensure_sender()
        await asyncio.sleep(0)  # let events handed over by other threads land in the queue
        target = self._enqueued
        if self._done >= target:
            return True
        self._flush_waiters += 1
        self._wake.set()
        try:
            async with asyncio.timeout(timeout), self._progress:
                await self._progress.wait_for(lambda: self._done >= target)
            return True
        except TimeoutError:
            return False
        finally:
            self._flush_waiters -= 1

    async def close(self, timeout: float | None = None) -> None:
        """Flush the queue, stop the sender task and release the HTTP client (idempotent).

        When `timeout` passes first, the sender is cancelled and the events still queued are lost.
        """
        if self._closed:
            return
        await asyncio.sleep(0)  # let events handed over by other threads land in the queue
        self._closing = True
        if self._queue:
            self._ensure_sender()
        self._wake.set()
        task = self._task
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                logger.warning("tallystream: close timed out with %d events unsent", len(self._queue))
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._closed = True
        await self._http.aclose()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.flush_interval
        while True:
            if not self._batch_ready(self._flush_waiters > 0):
                if self._closing:
                    return
                remaining = deadline - loop.time()
                if remaining > 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), remaining)
                    continue
                deadline = loop.time() + self.flush_interval
                if not self._queue:
                    continue
            batch = self._pop_batch()
            try:
                await self._deliver(batch)
            except Exception as exc:
                self._record_crash(batch, exc)
            finally:
                self._done += len(batch)
                async with self._progress:
                    self._progress.notify_all()
            deadline = loop.time() + self.flush_interval

    async def _deliver(self, batch: list[Item]) -> None:
        plan = self._deliverer.plan(batch)
        action = next(plan)
        while True:
            reply: Reply = None
            if isinstance(action, Post):
                reply = await self._post(action)
            else:
                await self._sleep(action.seconds)
            try:
                action = plan.send(reply)
            except StopIteration:
                return

    async def _post(self, action: Post) -> Reply:
        body, headers = self._request(action.items)
        try:
            return await self._http.post(self._url, content=body, headers=headers)
        except Exception as exc:
            return exc
