"""A scripted fake ingest server (httpx.MockTransport) and a fake clock for the SDK tests."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

API_KEY = "tsk_live_SuperSecretKey_0123456789"
TENANT = "acme"
BASE_URL = "https://ingest.test"

Reply = httpx.Response | Exception | Callable[[list[dict[str, Any]]], httpx.Response | Exception]


@dataclass
class Received:
    """One request the fake server got, body decoded."""

    headers: httpx.Headers
    events: list[dict[str, Any]]
    raw: bytes

    @property
    def ids(self) -> list[str]:
        return [e["event_id"] for e in self.events]


def accept_all(events: list[dict[str, Any]]) -> httpx.Response:
    return httpx.Response(200, json={"accepted": len(events), "rejected": 0, "errors": []})


@dataclass
class FakeServer:
    """Answers with the scripted replies in order, then with `default` (200 accepting all)."""

    script: list[Reply] = field(default_factory=list)
    default: Callable[[list[dict[str, Any]]], httpx.Response | Exception] = accept_all
    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: httpx.Request) -> httpx.Response:
        raw = request.read()
        body = gzip.decompress(raw) if request.headers.get("content-encoding") == "gzip" else raw
        events = json.loads(body)
        with self._lock:
            self.received.append(Received(request.headers, events, raw))
            reply = self.script.pop(0) if self.script else self.default
        if callable(reply) and not isinstance(reply, httpx.Response | Exception):
            reply = reply(events)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    @property
    def sizes(self) -> list[int]:
        return [len(r.events) for r in self.received]

    @property
    def all_ids(self) -> list[str]:
        return [i for r in self.received for i in r.ids]


class FakeTime:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def no_leak(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Captures every log record at DEBUG and checks afterwards that none carries the API key."""
    caplog.set_level("DEBUG")
    yield caplog
    assert API_KEY not in caplog.text
    for record in caplog.records:
        assert API_KEY not in record.getMessage()
