"""Settings of the tenant directory, shared by every role that follows or writes it (one declaration).

Read from the environment (`TALLY_...`); a wrong value stops the role at start with a message naming
the variable.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class TenancySettings(BaseSettings):
    """Freshness, integrity and quotas of the tenant directory."""

    model_config = SettingsConfigDict(env_prefix="TALLY_", extra="ignore", frozen=True)

    directory_max_stale_seconds: float = Field(default=30.0, gt=0, le=86_400)
    """Beyond this without hearing from the broker, a role's directory may miss revocations: it
    refuses every key (503, Retry-After) until its follower hears from the broker again."""
    directory_signing_key: SecretStr | None = Field(default=None, min_length=32, max_length=4096)
    """HMAC-SHA256 key that signs every directory record (at least 32 characters)."""
    directory_signing_key_file: Path | None = None
    """File holding the signing key (used when TALLY_DIRECTORY_SIGNING_KEY is not set). Without
    either, a key generated once (mode 0600) at var/directory-signing.key is used: local stack and
    tests only."""
    max_keys_per_tenant: int = Field(default=100, ge=1, le=100_000)
    """Most live (unrevoked) keys a tenant may have; creating one more answers 409."""
    max_operator_keys: int = Field(default=50, ge=1, le=100_000)
    """Most live operator (all-tenant admin) keys."""
    revoked_key_retention_days: float = Field(default=90.0, ge=0, le=3650)
    """Revoked keys stay listed (audit trail) this long; then their records are deleted (tombstoned)."""
    max_revoked_keys_per_tenant: int = Field(default=100, ge=0, le=100_000)
    """Most revoked key records kept per tenant (and for operators); older ones are deleted first."""
    directory_remembered_deletions: int = Field(default=10_000, ge=100, le=1_000_000)
    """Deleted records (tombstoned keys, rules ...) whose version each follower remembers, so that
    replaying an older signed record of them is refused; beyond it, the oldest are forgotten and any
    record of an unknown key older than them is refused."""


@cache
def tenancy_settings() -> TenancySettings:
    """The settings of this process (read once)."""
    return TenancySettings()
