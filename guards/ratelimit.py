"""Token buckets per key (a tenant, an API key): units per second with a burst allowance (pure, clock injected)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """One bucket per tenant, refilled at the tenant's rate up to `capacity(rate)` tokens.

    A request larger than the capacity can never pass: the caller answers 413 so the client splits
    it. Limits are per ingest instance: N instances admit up to N times the rate.
    """

    def __init__(self, burst_seconds: float) -> None:
        self._burst = burst_seconds
        self._buckets: dict[str, _Bucket] = {}

    def capacity(self, rate: float) -> float:
        """The most events a tenant at `rate` may send at once."""
        return max(1.0, rate * self._burst)

    def _refilled(self, key: str, rate: float, now: float) -> _Bucket:
        capacity = self.capacity(rate)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(capacity, now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        return bucket

    def take(self, tenant_id: str, events: int, rate: float, now: float) -> float | None:
        """Take `events` tokens; None if allowed, else the seconds to wait before retrying."""
        bucket = self._refilled(tenant_id, rate, now)
        if bucket.tokens >= events:
            bucket.tokens -= events
            return None
        return (events - bucket.tokens) / rate

    def wait(self, key: str, units: float, rate: float, now: float) -> float | None:
        """Like `take`, taking nothing: None when `units` tokens are there, else the seconds until they are."""
        bucket = self._refilled(key, rate, now)
        return None if bucket.tokens >= units else (units - bucket.tokens) / rate

    def charge(self, key: str, units: float, rate: float, now: float, debt: float = 0.0) -> None:
        """Take `units` tokens, or all that are left and at most `debt` more: the cost of work done
        whatever its answer (a bucket never goes below `-debt`, so the wait it implies stays bounded)."""
        bucket = self._refilled(key, rate, now)
        bucket.tokens = max(-debt, bucket.tokens - units)

    def refund(self, tenant_id: str, events: int) -> None:
        """Give back tokens taken for events that were not accepted after all (Kafka said no)."""
        bucket = self._buckets.get(tenant_id)
        if bucket is not None:
            bucket.tokens += events
