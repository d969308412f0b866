"""Views limits without a server: rates per key and per tenant, slots per tenant, shared live readings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tenancy.directory import Principal
from views_api.limits import LimitError, Limits, Slots, setting_name
from views_api.live_feed import LiveFeeds
from views_api.settings import ViewsSettings

NOW = datetime(2026, 3, 18, 15, 30, tzinfo=UTC)


def principal(key_id: str, tenant: str | None = "acme") -> Principal:
    return Principal(key_id, tenant, "read")


def test_a_key_past_its_rate_is_refused_with_the_wait_and_other_keys_are_not() -> None:
    clock = [100.0]
    limits = Limits(ViewsSettings(key_requests_per_second=2, request_burst_seconds=2), clock=lambda: clock[0])
    for _ in range(4):  # capacity 2/s x 2 s
        limits.admit_key(principal("k1"))
    with pytest.raises(LimitError) as refused:
        limits.admit_key(principal("k1"))
    assert refused.value.retry_after == 1 and "TALLY_VIEWS_KEY_REQUESTS_PER_SECOND" in refused.value.message
    limits.admit_key(principal("k2"))
    clock[0] += 0.5  # one token back
    limits.admit_key(principal("k1"))


def test_a_tenant_past_its_rate_is_refused_and_the_keys_token_given_back() -> None:
    clock = [0.0]
    settings = ViewsSettings(key_requests_per_second=1, tenant_requests_per_second=1, request_burst_seconds=2)
    limits = Limits(settings, clock=lambda: clock[0])
    for key in ("k1", "k2"):
        limits.admit_key(principal(key))
        limits.admit_tenant(principal(key), "acme")
    limits.admit_key(principal("k3"))
    with pytest.raises(LimitError) as refused:
        limits.admit_tenant(principal("k3"), "acme")
    assert "tenant 'acme'" in refused.value.message and refused.value.retry_after == 1
    limits.admit_tenant(principal("k3"), "globex")  # another tenant's bucket
    limits.admit_key(principal("k3"))  # k3's token for the refused request came back: still 1 left


def test_slots_cap_per_tenant_and_release_once() -> None:
    slots = Slots("live streams", "live_streams_per_tenant", 2)
    first, second = slots.acquire("acme"), slots.acquire("acme")
    with pytest.raises(LimitError) as refused:
        slots.acquire("acme")
    assert refused.value.message.startswith("tenant 'acme' already has 2 live streams open")
    assert setting_name("live_streams_per_tenant") in refused.value.message
    slots.acquire("globex")
    first()
    first()  # a second release of the same slot counts nothing
    assert slots.open("acme") == 1
    slots.acquire("acme")
    second()
    assert slots.open("acme") == 1


@pytest.mark.parametrize(("field", "value"), [("key_requests_per_second", 0), ("live_min_interval_seconds", 0.1)])
def test_settings_refuse_values_that_disable_a_limit(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        ViewsSettings(**{field: value})


def test_live_readings_are_shared_within_the_interval() -> None:
    clock = [0.0]
    feeds: LiveFeeds[int] = LiveFeeds(1.0, clock=lambda: clock[0])
    reads: list[datetime] = []

    async def read(now: datetime) -> int:
        reads.append(now)
        await asyncio.sleep(0.01)
        return len(reads)

    async def scenario() -> list[int]:
        together = await asyncio.gather(*(feeds.latest("acme", NOW, read) for _ in range(5)))
        clock[0] = 0.5
        cached = await feeds.latest("acme", NOW, read)
        other = await feeds.latest("globex", NOW, read)
        clock[0] = 1.0
        renewed = await feeds.latest("acme", NOW, read)
        moved = await feeds.latest("acme", NOW + timedelta(seconds=2), read)  # the app clock moved
        return [*together, cached, other, renewed, moved]

    assert asyncio.run(scenario()) == [1, 1, 1, 1, 1, 1, 2, 3, 4]
    feeds.drop("acme")
    assert "acme" not in feeds and "globex" in feeds
