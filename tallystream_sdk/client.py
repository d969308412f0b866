"""The synchronous client: `track()` queues, a daemon thread batches and sends.

    client = Client("https://ingest.example.com", api_key, "acme")
    client.llm_call("openai", "gpt-4o-mini", latency_ms=420, input_tokens=1200, output_tokens=300)
    client.close()  # or rely on the atexit flush

Events are sent in batches of `batch_size`, or whatever is queued every `flush_interval` seconds.
The queue holds at most `max_queue` events. When it is full, `on_full="drop"` (the default) drops
the new event, counts it in `stats.dropped` and logs a warning; `on_full="block"` makes `track`
wait up to `block_timeout` seconds for room first, then drops.
"""

from __future__ import annotations

import atexit
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Literal

import httpx

from tallystream_sdk._base import ClientBase
from tallystream_sdk._core import Failure, Item
from tallystream_sdk._delivery import Post, Reply, RetryPolicy

logger = logging.getLogger("tallystream_sdk")


class Client(ClientBase):
    """Thread-safe client sending events from a background daemon thread.

    Args:
        base_url: Ingest API root, e.g. `https://ingest.example.com`.
        api_key: The tenant's ingest key (never logged; masked in repr).
        tenant_id: The key's tenant; events of other tenants are refused at `track`.
        batch_size: Events per request.
        flush_interval: Seconds between sends of a partial batch.
        max_queue: Most events held in memory.
        on_full: `drop` (default) or `block` (wait up to `block_timeout` seconds, then drop).
        gzip: Gzip request bodies.
        timeout: HTTP timeout in seconds.
        max_retries: Shortcut for `retry.max_retries`.
        retry: Backoff settings (`RetryPolicy`).
        on_failure: Called (from the sender thread) with events rejected by the server or given up on.
        shutdown_timeout: Seconds the atexit hook waits for the queue to drain.
        transport: httpx transport (tests use `httpx.MockTransport`).
        sleep: Sleep function for backoff (tests inject a fake).
        clock, jitter: Monotonic clock and [0, 1) random source for backoff (tests inject fakes).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        tenant_id: str,
        *,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_queue: int = 10_000,
        on_full: Literal["drop", "block"] = "drop",
        block_timeout: float = 1.0,
        gzip: bool = True,
        timeout: float = 10.0,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        on_failure: Callable[[list[Failure]], None] | None = None,
        shutdown_timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
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
        if on_full not in ("drop", "block"):
            raise ValueError("on_full must be 'drop' or 'block'")
        self.on_full = on_full
        self.block_timeout = block_timeout
        self.shutdown_timeout = shutdown_timeout
        self._sleep = sleep
        self._http = httpx.Client(transport=transport, timeout=self.timeout)
        self._cond = threading.Condition()
        self._flush_waiters = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="tallystream-sender", daemon=True)
        self._thread.start()
        atexit.register(self._atexit)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _enqueue(self, item: Item) -> None:
        with self._cond:
            if not self._closing and len(self._queue) >= self.max_queue and self.on_full == "block":
                self._cond.wait_for(lambda: len(self._queue) < self.max_queue or self._closing, self.block_timeout)
            why = "client closed" if self._closing else "queue full" if len(self._queue) >= self.max_queue else None
            if why is None:
                self._queue.append(item)
                self._enqueued += 1
                if len(self._queue) >= self.batch_size:
                    self._cond.notify_all()
        if why is not None:
            self._record_drop(why)

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything tracked so far, blocking until done; False if `timeout` seconds passed first.

        Called from the sender thread itself (e.g. inside `on_failure`) it returns False at once.
        """
        if threading.current_thread() is self._thread:
            return False
        with self._cond:
            target = self._enqueued
            self._flush_waiters += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(lambda: self._done >= target, timeout)
            finally:
                self._flush_waiters -= 1

    def close(self, timeout: float | None = None) -> None:
        """Flush the queue, stop the sender thread and release the HTTP client (idempotent)."""
        with self._cond:
            if self._closed:
                return
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        atexit.unregister(self._atexit)
        if self._thread.is_alive():
            logger.warning("tallystream: close timed out with %d events unsent", len(self._queue))
            return
        self._closed = True
        self._http.close()

    def _atexit(self) -> None:
        self.close(self.shutdown_timeout)

    def _run(self) -> None:
        deadline = time.monotonic() + self.flush_interval
        while True:
            with self._cond:
                while not self._batch_ready(self._flush_waiters > 0):
                    if self._closing:
                        return
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        if self._queue:
                            break
                        deadline = time.monotonic() + self.flush_interval
                        continue
                    self._cond.wait(remaining)
                batch = self._pop_batch()
                self._cond.notify_all()  # room for blocked track() calls
            try:
                self._deliver(batch)
            except Exception as exc:
                self._record_crash(batch, exc)
            finally:
                with self._cond:
                    self._done += len(batch)
                    self._cond.notify_all()
            deadline = time.monotonic() + self.flush_interval

    def _deliver(self, batch: list[Item]) -> None:
        plan = self._deliverer.plan(batch)
        action = next(plan)
        while True:
            reply: Reply = None
            if isinstance(action, Post):
                reply = self._post(action)
            else:
                self._sleep(action.seconds)
            try:
                action = plan.send(reply)
            except StopIteration:
                return

    def _post(self, action: Post) -> Reply:
        body, headers = self._request(action.items)
        try:
            return self._http.post(self._url, content=body, headers=headers)
        except Exception as exc:
            return exc
