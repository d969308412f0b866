"""The I/O-free delivery plan, backoff and Retry-After parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tallystream_sdk._core import Item, Secret, StatsCounter, encode_body
from tallystream_sdk._delivery import Deliverer, Post, RetryPolicy, Sleep, parse_retry_after

NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("Sat, 21 Nov 2026 12:00:30 GMT", 30.0),
        ("Sat, 21 Nov 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_parsing(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_backoff_is_full_jitter_under_a_doubling_capped_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    assert [policy.backoff(n, 1.0, None) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.backoff(3, 0.25, None) == 0.5
    assert policy.backoff(3, 0.0, None) == 0.0
    assert policy.backoff(3, 0.5, 10.0) == 10.0  # Retry-After is a lower bound
    assert policy.backoff(3, 0.5, 0.1) == 1.0


def test_plan_posts_sleeps_and_reposts_the_same_items() -> None:
    stats = StatsCounter()
    items = [Item("a", b"{}"), Item("b", b"{}")]
    deliverer = Deliverer(RetryPolicy(), stats, Secret("k"), clock=lambda: 0.0, jitter=lambda: 0.0, on_failure=None)
    plan = deliverer.plan(items)
    assert next(plan) == Post(items)
    assert plan.send(httpx.Response(429, headers={"Retry-After": "2"})) == Sleep(2.0)
    assert plan.send(None) == Post(items)
    with pytest.raises(StopIteration):
        plan.send(httpx.Response(200, json={"accepted": 2, "rejected": 0, "errors": []}))
    snapshot = stats.snapshot(0)
    assert (snapshot.sent, snapshot.retries, snapshot.failed) == (2, 1, 0)


def test_unknown_exceptions_fail_the_batch_without_retry() -> None:
    stats = StatsCounter()
    deliverer = Deliverer(RetryPolicy(), stats, Secret("k"), clock=lambda: 0.0, jitter=lambda: 0.0, on_failure=None)
    plan = deliverer.plan([Item("a", b"{}")])
    next(plan)
    with pytest.raises(StopIteration):
        plan.send(ValueError("boom"))
    assert stats.snapshot(0).failed == 1


def test_encode_body_is_a_json_array() -> None:
    body, headers = encode_body([Item("a", b'{"x":1}'), Item("b", b'{"y":2}')], use_gzip=False)
    assert body == b'[{"x":1},{"y":2}]'
    assert headers == {"Content-Type": "application/json", "User-Agent": "tallystream-sdk-python/0.1.0"}


def test_secret_hides_itself() -> None:
    secret = Secret("tsk_abc")
    assert repr(secret) == str(secret) == f"{secret}" == "'***'"
    assert secret.reveal() == "tsk_abc"
    assert secret.scrub("key tsk_abc leaked") == "key *** leaked"
