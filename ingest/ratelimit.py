"""Per-tenant token buckets: events per second with a burst allowance (pure, clock injected)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """One bucket per tenant, refilled at the tenant's rate up to `rate * burst_seconds` tokens.

    A bucket holds at least one maximal batch, so any batch the service accepts can pass. Limits
    are per ingest instance: N instances admit up to N times the rate.
    """

    def __init__(self, burst_seconds: float, min_capacity: int) -> None:
        self._burst = burst_seconds
        self._min_capacity = min_capacity
        self._buckets: dict[str, _Bucket] = {}

    def take(self, tenant_id: str, events: int, rate: float, now: float) -> float | None:
        """Take `events` tokens; None if allowed, else the seconds to wait before retrying."""
        capacity = max(rate * self._burst, float(self._min_capacity))
        bucket = self._buckets.get(tenant_id)
        if bucket is None:
            bucket = self._buckets[tenant_id] = _Bucket(capacity, now)
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= events:
            bucket.tokens -= events
            return None
        return (events - bucket.tokens) / rate
