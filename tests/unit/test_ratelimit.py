from __future__ import annotations

import pytest

from guards.ratelimit import RateLimiter

# Rates and times are chosen so every float below is exact.
RATE = 4.0  # events per second
BURST = 2.5  # seconds -> capacity 10


def limiter() -> RateLimiter:
    return RateLimiter(burst_seconds=BURST)


def test_a_fresh_bucket_allows_up_to_its_capacity() -> None:
    lim = limiter()
    assert lim.take("acme", 10, RATE, now=100.0) is None


def test_a_fresh_bucket_allows_capacity_in_small_takes() -> None:
    lim = limiter()
    assert [lim.take("acme", 1, RATE, now=100.0) for _ in range(10)] == [None] * 10
    assert lim.take("acme", 1, RATE, now=100.0) == 0.25


def test_over_capacity_returns_the_exact_wait() -> None:
    lim = limiter()
    assert lim.take("acme", 8, RATE, now=0.0) is None  # 2 left
    # 6 more need 4 tokens: 1 s at 4/s
    assert lim.take("acme", 6, RATE, now=0.0) == 1.0


def test_a_refused_take_consumes_nothing() -> None:
    lim = limiter()
    assert lim.take("acme", 8, RATE, now=0.0) is None
    assert lim.take("acme", 6, RATE, now=0.0) == 1.0
    assert lim.take("acme", 6, RATE, now=0.0) == 1.0
    assert lim.take("acme", 2, RATE, now=0.0) is None


def test_waiting_the_advised_time_is_enough() -> None:
    lim = limiter()
    assert lim.take("acme", 10, RATE, now=0.0) is None
    wait = lim.take("acme", 3, RATE, now=0.0)
    assert wait == 0.75
    assert lim.take("acme", 3, RATE, now=0.5) == 0.25  # not yet: 2 tokens after 0.5 s
    assert lim.take("acme", 3, RATE, now=0.75) is None


def test_refill_over_time_with_an_injected_clock() -> None:
    lim = limiter()
    assert lim.take("acme", 10, RATE, now=10.0) is None
    assert lim.take("acme", 1, RATE, now=10.0) == 0.25
    assert lim.take("acme", 2, RATE, now=10.5) is None  # 0.5 s x 4/s = 2 tokens
    assert lim.take("acme", 1, RATE, now=10.5) == 0.25


def test_refill_stops_at_capacity() -> None:
    lim = limiter()
    assert lim.take("acme", 10, RATE, now=0.0) is None
    # an hour idle still only refills to 10
    assert lim.take("acme", 11, RATE, now=3600.0) == 0.25
    assert lim.take("acme", 10, RATE, now=3600.0) is None
    assert lim.take("acme", 1, RATE, now=3600.0) == 0.25


def test_sustained_rate_is_the_refill_rate() -> None:
    lim = limiter()
    assert lim.take("acme", 10, RATE, now=0.0) is None
    # after the burst, 4 events every second pass, a fifth does not
    for second in range(1, 6):
        assert lim.take("acme", 4, RATE, now=float(second)) is None
        assert lim.take("acme", 1, RATE, now=float(second)) == 0.25


def test_tenants_have_separate_buckets() -> None:
    lim = limiter()
    assert lim.take("acme", 10, RATE, now=0.0) is None
    assert lim.take("acme", 1, RATE, now=0.0) == 0.25
    assert lim.take("globex", 10, RATE, now=0.0) is None
    assert lim.take("globex", 4, RATE, now=0.0) == 1.0
    assert lim.take("initech", 1, RATE, now=0.0) is None


def test_each_tenant_uses_its_own_rate() -> None:
    lim = limiter()
    assert lim.take("slow", 5, 2.0, now=0.0) is None  # capacity 5
    assert lim.take("slow", 1, 2.0, now=0.0) == 0.5
    assert lim.take("fast", 40, 16.0, now=0.0) is None  # capacity 40
    assert lim.take("fast", 8, 16.0, now=0.0) == 0.5


def test_capacity_is_rate_times_burst_and_at_least_one_event() -> None:
    lim = RateLimiter(burst_seconds=2.0)
    assert lim.capacity(100.0) == 200.0
    assert lim.capacity(0.1) == 1.0
    assert lim.take("acme", 200, 100.0, now=0.0) is None
    assert lim.take("acme", 1, 100.0, now=0.0) == 0.01


def test_a_refund_gives_the_tokens_back() -> None:
    lim = limiter()
    assert lim.take("acme", 10, RATE, now=0.0) is None
    lim.refund("acme", 10)
    assert lim.take("acme", 10, RATE, now=0.0) is None
    lim.refund("unknown", 5)  # no bucket yet: nothing to give back
    assert lim.take("unknown", 10, RATE, now=0.0) is None


def test_a_take_larger_than_capacity_is_never_allowed() -> None:
    lim = limiter()
    assert lim.take("acme", 11, RATE, now=0.0) == 0.25
    assert lim.take("acme", 11, RATE, now=1e6) == 0.25


def test_a_rate_change_applies_to_the_existing_bucket() -> None:
    lim = limiter()
    assert lim.take("acme", 10, RATE, now=0.0) is None
    # the tenant's rate is raised to 8/s: refills twice as fast, capacity 20
    assert lim.take("acme", 8, 8.0, now=1.0) is None
    assert lim.take("acme", 20, 8.0, now=100.0) is None


def test_taking_nothing_is_always_allowed() -> None:
    lim = limiter()
    assert lim.take("acme", 10, RATE, now=0.0) is None
    assert lim.take("acme", 0, RATE, now=0.0) is None


@pytest.mark.parametrize(("events", "wait"), [(1, 0.25), (2, 0.5), (4, 1.0), (10, 2.5)])
def test_wait_grows_with_the_shortfall(events: int, wait: float) -> None:
    lim = limiter()
    assert lim.take("acme", 10, RATE, now=0.0) is None
    assert lim.take("acme", events, RATE, now=0.0) == wait


def test_wait_tells_without_taking() -> None:
    lim = limiter()
    assert lim.wait("acme", 10, RATE, now=0.0) is None
    assert lim.take("acme", 9, RATE, now=0.0) is None
    assert lim.wait("acme", 1, RATE, now=0.0) is None
    assert lim.wait("acme", 2, RATE, now=0.0) == 0.25
    assert lim.take("acme", 1, RATE, now=0.0) is None  # the waits took nothing


def test_a_charge_takes_what_is_left_and_never_goes_below_empty() -> None:
    lim = limiter()
    lim.charge("acme", 4, RATE, now=0.0)
    assert lim.wait("acme", 6, RATE, now=0.0) is None and lim.wait("acme", 7, RATE, now=0.0) == 0.25
    lim.charge("acme", 1000, RATE, now=0.0)
    assert lim.wait("acme", 1, RATE, now=0.0) == 0.25  # empty, not in debt: one token a quarter second away
    assert lim.take("acme", 1, RATE, now=0.25) is None


def test_a_charge_may_run_into_bounded_debt() -> None:
    lim = limiter()
    lim.charge("acme", 1000, RATE, now=0.0, debt=10)  # capacity 10: at most 10 below empty
    assert lim.wait("acme", 1, RATE, now=0.0) == 2.75  # 11 tokens away at 4/s
    assert lim.wait("acme", 1, RATE, now=2.75) is None
