"""Per-tenant limits of alerting, from `TALLY_ALERT_*` (operator settings, read once per process)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlertLimits(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TALLY_ALERT_", extra="ignore")

    max_rules: int = Field(200, ge=1, le=100_000)
    """Rules a tenant may create (`TALLY_ALERT_MAX_RULES`; seeded defaults it replaces do not count)."""
    max_recipients: int = Field(10, ge=1, le=20)
    """Recipients per email channel (`TALLY_ALERT_MAX_RECIPIENTS`; 20 at most)."""
    tests_per_minute: float = Field(6.0, gt=0, le=600)
    """Test sends (`POST rules/{id}/test`) per tenant and minute (`TALLY_ALERT_TESTS_PER_MINUTE`), per process."""
    notifications_per_minute: float = Field(60.0, gt=0, le=100_000)
    """Notifications a tenant's alerts may send per minute (`TALLY_ALERT_NOTIFICATIONS_PER_MINUTE`), per
    delivering process, in bursts of as many; past it a notification is recorded as failed
    ("tenant notification budget exceeded") and counted, not sent. A PagerDuty notification costs one
    per event it posts (one per transition)."""
    concurrent_sends: int = Field(4, ge=1, le=64)
    """Sends of one tenant in flight at once (`TALLY_ALERT_CONCURRENT_SENDS`), per delivering process."""


@lru_cache(maxsize=1)
def alert_limits() -> AlertLimits:
    return AlertLimits()
