"""The sync Client against a scripted fake ingest server: batching, retries, splitting, accounting."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from schemas.events import event_to_json
from tallystream_sdk import Client, Failure, RetryPolicy, Stats
from tests.sdk.conftest import API_KEY, BASE_URL, TENANT, FakeServer, FakeTime

MakeClient = Callable[..., Client]


@pytest.fixture
def make_client(server: FakeServer, fake_time: FakeTime) -> Iterator[MakeClient]:
    """Clients talking to `server`, sleeping on `fake_time`, never flushing on a timer during a test."""
    clients: list[Client] = []

    def make(**overrides: Any) -> Client:
        options: dict[str, Any] = {
            "transport": server.transport(),
            "sleep": fake_time.sleep,
            "clock": fake_time.clock,
            "jitter": lambda: 0.5,
            "flush_interval": 3600.0,
        }
        options.update(overrides)
        client = Client(BASE_URL, API_KEY, TENANT, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def track_messages(client: Client, n: int) -> list[str]:
    return [str(client.message("s-1", "user", content_chars=i).event_id) for i in range(n)]


def test_1200_events_go_out_as_500_500_200(make_client: MakeClient, server: FakeServer) -> None:
    client = make_client(batch_size=500)
    ids = track_messages(client, 1200)
    assert client.flush() is True
    assert server.sizes == [500, 500, 200]
    assert server.all_ids == ids
    assert client.stats == Stats(sent=1200, rejected=0, dropped=0, retries=0, failed=0, queued=0)


def test_body_is_gzipped_json_array_with_bearer_key(make_client: MakeClient, server: FakeServer) -> None:
    client = make_client()
    event = client.llm_call("openai", "gpt-4o-mini", latency_ms=420, input_tokens=1000, output_tokens=500)
    client.flush()
    (request,) = server.received
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert json.loads(gzip.decompress(request.raw)) == [json.loads(event_to_json(event))]
    assert request.events[0]["input_tokens"] == 1000
    assert request.events[0]["tenant_id"] == TENANT


def test_gzip_can_be_turned_off(make_client: MakeClient, server: FakeServer) -> None:
    client = make_client(gzip=False)
    event = client.session_started("s-9", channel="web")
    client.flush()
    (request,) = server.received
    assert "content-encoding" not in request.headers
    assert json.loads(request.raw) == [json.loads(event_to_json(event))]


def test_503_is_retried_with_the_same_event_ids_after_retry_after(
    make_client: MakeClient, server: FakeServer, fake_time: FakeTime
) -> None:
    server.script = [httpx.Response(503, json={"error": "event log unavailable"}, headers={"Retry-After": "7"})]
    client = make_client()
    ids = track_messages(client, 3)
    client.flush()
    assert len(server.received) == 2
    assert server.received[0].ids == server.received[1].ids == ids
    assert server.received[0].events == server.received[1].events
    assert fake_time.sleeps == [7.0]  # backoff would be 0.25s; Retry-After is the lower bound
    assert client.stats == Stats(sent=3, retries=1)


def test_backoff_doubles_with_full_jitter_and_is_capped(
    make_client: MakeClient, server: FakeServer, fake_time: FakeTime
) -> None:
    server.script = [httpx.Response(429), httpx.Response(500), httpx.Response(502), httpx.Response(429)]
    client = make_client(retry=RetryPolicy(max_retries=5, base_delay=1.0, max_delay=3.0), jitter=lambda: 0.5)
    track_messages(client, 1)
    client.flush()
    assert fake_time.sleeps == [0.5, 1.0, 1.5, 1.5]  # 0.5 * min(3, 1, 2, 4, 8)
    assert client.stats == Stats(sent=1, retries=4)


def test_network_errors_are_retried(make_client: MakeClient, server: FakeServer, fake_time: FakeTime) -> None:
    server.script = [httpx.ConnectError("connection refused"), httpx.ReadTimeout("timed out")]
    client = make_client()
    ids = track_messages(client, 2)
    client.flush()
    assert [r.ids for r in server.received] == [ids, ids, ids]
    assert fake_time.sleeps == [0.25, 0.5]
    assert client.stats == Stats(sent=2, retries=2)


def test_retries_stop_at_max_retries_and_report_failures(
    make_client: MakeClient, server: FakeServer, fake_time: FakeTime
) -> None:
    server.default = lambda events: httpx.Response(503, headers={"Retry-After": "1"})
    failures: list[Failure] = []
    client = make_client(max_retries=2, on_failure=failures.extend)
    ids = track_messages(client, 4)
    client.flush()
    assert len(server.received) == 3
    assert fake_time.sleeps == [1.0, 1.0]
    assert client.stats == Stats(retries=2, failed=4)
    assert [f.event_id for f in failures] == ids
    assert {(f.kind, f.status) for f in failures} == {("failed", 503)}
    assert failures[0].error.startswith("gave up after 3 attempts: HTTP 503")


def test_retries_stop_when_the_wait_would_pass_max_elapsed(
    make_client: MakeClient, server: FakeServer, fake_time: FakeTime
) -> None:
    server.script = [httpx.Response(429, headers={"Retry-After": "100"})]
    client = make_client(retry=RetryPolicy(max_elapsed=60.0))
    track_messages(client, 2)
    client.flush()
    assert len(server.received) == 1
    assert fake_time.sleeps == []
    assert client.stats == Stats(failed=2)


@pytest.mark.parametrize("status", [400, 401, 403])
def test_client_errors_are_never_retried(
    status: int, make_client: MakeClient, server: FakeServer, fake_time: FakeTime
) -> None:
    server.default = lambda events: httpx.Response(status, json={"error": "no"})
    failures: list[Failure] = []
    client = make_client(on_failure=failures.extend)
    track_messages(client, 3)
    client.flush()
    assert len(server.received) == 1
    assert fake_time.sleeps == []
    assert client.stats == Stats(failed=3)
    assert [(f.kind, f.status, f.error) for f in failures] == [("failed", status, f"HTTP {status} (no)")] * 3


def test_413_splits_the_batch_until_it_fits(make_client: MakeClient, server: FakeServer) -> None:
    def at_most_two(events: list[dict[str, Any]]) -> httpx.Response:
        if len(events) > 2:
            return httpx.Response(413, json={"error": "too large"})
        return httpx.Response(200, json={"accepted": len(events), "rejected": 0, "errors": []})

    server.default = at_most_two
    client = make_client()
    ids = track_messages(client, 5)
    client.flush()
    assert server.sizes == [5, 2, 3, 1, 2]
    accepted = [r.ids for r in server.received if len(r.events) <= 2]
    assert [i for chunk in accepted for i in chunk] == ids
    assert client.stats == Stats(sent=5)


def test_413_on_a_single_event_fails_it(make_client: MakeClient, server: FakeServer) -> None:
    server.default = lambda events: httpx.Response(413, json={"error": "too large"})
    client = make_client()
    track_messages(client, 1)
    client.flush()
    assert server.sizes == [1]
    assert client.stats == Stats(failed=1)


def test_207_rejections_are_counted_reported_and_not_retried(make_client: MakeClient, server: FakeServer) -> None:
    def reject_second_and_third(events: list[dict[str, Any]]) -> httpx.Response:
        errors = [
            {"index": 1, "event_id": events[1]["event_id"], "error": "model: field required"},
            {"index": 2, "event_id": None, "error": "event_id: invalid uuid"},
        ]
        return httpx.Response(207, json={"accepted": len(events) - 2, "rejected": 2, "errors": errors})

    server.default = reject_second_and_third
    failures: list[Failure] = []
    client = make_client(on_failure=failures.extend)
    ids = track_messages(client, 4)
    client.flush()
    assert len(server.received) == 1
    assert client.stats == Stats(sent=2, rejected=2)
    assert failures == [
        Failure(ids[1], "rejected", 207, "model: field required"),
        Failure(ids[2], "rejected", 207, "event_id: invalid uuid"),  # named from its index
    ]


def test_full_queue_drops_and_counts_with_a_warning(
    make_client: MakeClient, server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(max_queue=10, batch_size=500)
    with caplog.at_level(logging.WARNING, logger="tallystream_sdk"):
        ids = track_messages(client, 15)
    assert client.stats == Stats(dropped=5, queued=10)
    assert [r.getMessage() for r in caplog.records] == ["tallystream: event dropped (queue full); 1 dropped so far"]
    client.flush()
    assert server.all_ids == ids[:10]
    assert client.stats == Stats(sent=10, dropped=5)


def test_blocking_mode_drops_when_no_room_appears(make_client: MakeClient, server: FakeServer) -> None:
    client = make_client(max_queue=2, on_full="block", block_timeout=0.0)
    track_messages(client, 3)
    assert client.stats == Stats(dropped=1, queued=2)


def test_close_flushes_and_later_events_are_dropped(make_client: MakeClient, server: FakeServer) -> None:
    client = make_client()
    ids = track_messages(client, 3)
    client.close()
    assert server.sizes == [3]
    assert server.all_ids == ids
    client.message("s-1", "assistant")
    client.close()  # idempotent
    assert client.stats == Stats(sent=3, dropped=1)
    assert server.sizes == [3]


def test_context_manager_closes(server: FakeServer) -> None:
    with Client(BASE_URL, API_KEY, TENANT, transport=server.transport(), flush_interval=3600) as client:
        client.feedback(thumbs="up", session_id="s-1")
    assert server.sizes == [1]
    assert server.received[0].events[0]["thumbs"] == "up"


def test_a_raising_on_failure_callback_does_not_stop_sending(make_client: MakeClient, server: FakeServer) -> None:
    server.script = [httpx.Response(400, json={"error": "bad"})]

    def explode(failures: list[Failure]) -> None:
        raise RuntimeError("callback bug")

    client = make_client(on_failure=explode)
    track_messages(client, 1)
    client.flush()
    track_messages(client, 2)
    client.flush()
    assert server.sizes == [1, 2]
    assert client.stats == Stats(sent=2, failed=1)


def test_api_key_is_masked_and_never_logged(
    make_client: MakeClient, server: FakeServer, no_leak: pytest.LogCaptureFixture
) -> None:
    server.script = [
        httpx.Response(503, headers={"Retry-After": "1"}),
        httpx.Response(401, json={"error": f"invalid key {API_KEY}"}),  # even an echoing server is scrubbed
    ]
    failures: list[Failure] = []
    client = make_client(max_queue=1, on_failure=failures.extend)
    track_messages(client, 2)
    client.flush()
    assert API_KEY not in repr(client)
    assert repr(client) == f"Client(base_url='{BASE_URL}', tenant_id='{TENANT}', api_key='***')"
    assert API_KEY not in str(vars(client))
    assert failures[0].error == "HTTP 401 (invalid key ***)"
    messages = [r.getMessage() for r in no_leak.records if r.name == "tallystream_sdk"]
    assert "tallystream: 1 events not delivered: HTTP 401 (invalid key ***)" in messages
    assert any("dropped" in m for m in messages)


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="api_key"):
        Client(BASE_URL, "", TENANT)
    with pytest.raises(ValueError, match="batch_size"):
        Client(BASE_URL, API_KEY, TENANT, batch_size=0)
    with pytest.raises(ValueError, match="on_full"):
        Client(BASE_URL, API_KEY, TENANT, on_full="wait")  # type: ignore[arg-type]
