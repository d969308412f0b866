"""The asyncio client against the scripted fake ingest server."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from tallystream_sdk import AsyncClient, Failure, Stats
from tests.sdk.conftest import API_KEY, BASE_URL, TENANT, FakeServer, FakeTime


def make(server: FakeServer, fake_time: FakeTime, **overrides: Any) -> AsyncClient:
    options: dict[str, Any] = {
        "transport": server.transport(),
        "sleep": fake_time.asleep,
        "clock": fake_time.clock,
        "jitter": lambda: 0.5,
        "flush_interval": 3600.0,
    }
    options.update(overrides)
    return AsyncClient(BASE_URL, API_KEY, TENANT, **options)


async def test_1200_events_go_out_as_500_500_200(server: FakeServer, fake_time: FakeTime) -> None:
    client = make(server, fake_time, batch_size=500)
    ids = [str(client.message("s-1", "user", content_chars=i).event_id) for i in range(1200)]
    assert await client.flush() is True
    assert server.sizes == [500, 500, 200]
    assert server.all_ids == ids
    assert client.stats == Stats(sent=1200)
    await client.close()


async def test_503_retry_keeps_event_ids_and_honours_retry_after(server: FakeServer, fake_time: FakeTime) -> None:
    server.script = [httpx.Response(503, headers={"Retry-After": "3"}), httpx.ConnectError("reset")]
    client = make(server, fake_time)
    ids = [str(client.tool_call("catalog_lookup", latency_ms=i).event_id) for i in range(3)]
    await client.flush()
    assert [r.ids for r in server.received] == [ids, ids, ids]
    assert fake_time.sleeps == [3.0, 0.5]
    assert client.stats == Stats(sent=3, retries=2)
    await client.close()


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_client_errors_are_not_retried(status: int, server: FakeServer, fake_time: FakeTime) -> None:
    server.default = lambda events: httpx.Response(status)
    failures: list[Failure] = []
    client = make(server, fake_time, on_failure=failures.extend)
    client.search("red shoes", 0)
    await client.flush()
    assert server.sizes == [1]
    assert fake_time.sleeps == []
    assert client.stats == Stats(failed=1)
    assert [(f.kind, f.status) for f in failures] == [("failed", status)]
    await client.close()


async def test_413_splits(server: FakeServer, fake_time: FakeTime) -> None:
    def at_most_three(events: list[dict[str, Any]]) -> httpx.Response:
        if len(events) > 3:
            return httpx.Response(413)
        return httpx.Response(200, json={"accepted": len(events), "rejected": 0, "errors": []})

    server.default = at_most_three
    client = make(server, fake_time)
    for i in range(8):
        client.custom("build.completed", {"status": "ok"}, {"duration_s": float(i)})
    await client.flush()
    assert server.sizes == [8, 4, 2, 2, 4, 2, 2]
    assert client.stats == Stats(sent=8)
    await client.close()


async def test_207_rejections_are_counted(server: FakeServer, fake_time: FakeTime) -> None:
    server.default = lambda events: httpx.Response(
        207, json={"accepted": 1, "rejected": 1, "errors": [{"index": 0, "event_id": None, "error": "x: bad"}]}
    )
    failures: list[Failure] = []
    client = make(server, fake_time, on_failure=failures.extend)
    first = client.message("s-1", "user")
    client.message("s-1", "assistant")
    await client.flush()
    assert client.stats == Stats(sent=1, rejected=1)
    assert failures == [Failure(str(first.event_id), "rejected", 207, "x: bad")]
    await client.close()


async def test_full_queue_drops_and_counts(server: FakeServer, fake_time: FakeTime) -> None:
    client = make(server, fake_time, max_queue=4)
    for i in range(6):
        client.message("s-1", "user", content_chars=i)
    assert client.stats == Stats(dropped=2, queued=4)
    await client.close()
    assert server.sizes == [4]
    assert client.stats == Stats(sent=4, dropped=2)


async def test_close_flushes_and_async_with(server: FakeServer, fake_time: FakeTime) -> None:
    async with make(server, fake_time) as client:
        client.session_started("s-1", channel="whatsapp")
        client.session_ended("s-1", reason="abandoned", duration_ms=1500)
    assert server.sizes == [2]
    assert [e["type"] for e in server.received[0].events] == ["session_started", "session_ended"]
    client.message("s-1", "user")
    assert client.stats == Stats(sent=2, dropped=1)
    assert repr(client) == f"AsyncClient(base_url='{BASE_URL}', tenant_id='{TENANT}', api_key='***')"


async def test_events_tracked_from_another_thread_are_handed_to_the_loop(
    server: FakeServer, fake_time: FakeTime
) -> None:
    client = make(server, fake_time)
    assert await client.flush() is True  # nothing to send; starts the sender
    assert client._task is not None
    done = threading.Event()

    def from_thread() -> None:
        client.message("s-1", "user")
        done.set()

    worker = threading.Thread(target=from_thread)
    worker.start()
    worker.join()
    assert done.is_set()
    await client.close()
    assert server.sizes == [1]
    assert client.stats == Stats(sent=1)
