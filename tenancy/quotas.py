"""Key quotas: how many keys a tenant (or the operators) may hold, and which revoked keys to forget.

Every role holds every key record in memory, so the number of records is bounded per tenant: at most
`TALLY_MAX_KEYS_PER_TENANT` live keys (`TALLY_MAX_OPERATOR_KEYS` for operator keys), and revoked
keys are kept for the audit trail only `TALLY_REVOKED_KEY_RETENTION_DAYS` and at most
`TALLY_MAX_REVOKED_KEYS_PER_TENANT` of them (the oldest revocations go first). A forgotten key is
deleted with a tombstone: it stays refused (401 unknown key instead of 401 revoked key).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from schemas.tenancy import ApiKeyRecord, key_record_key
from tenancy.directory import Directory
from tenancy.kafka_log import DirectoryWriter
from tenancy.settings import TenancySettings


def _owner(tenant_id: str | None) -> str:
    return f"tenant {tenant_id!r}" if tenant_id is not None else "the operators"


def keys_of(directory: Directory, tenant_id: str | None) -> list[ApiKeyRecord]:
    """The key records of a tenant (None: the operator keys)."""
    return [k for k in directory.keys.values() if k.tenant_id == tenant_id]


def over_quota(directory: Directory, tenant_id: str | None, settings: TenancySettings) -> str | None:
    """Why one more key for `tenant_id` is refused (the limit reached), or None if it may be created."""
    live = sum(1 for k in keys_of(directory, tenant_id) if k.revoked_at is None)
    if tenant_id is None:
        limit, name = settings.max_operator_keys, "TALLY_MAX_OPERATOR_KEYS"
    else:
        limit, name = settings.max_keys_per_tenant, "TALLY_MAX_KEYS_PER_TENANT"
    if live < limit:
        return None
    return f"{_owner(tenant_id)} already has {live} live keys, the limit ({name}={limit}); revoke one first"


def revoked_to_forget(
    directory: Directory, tenant_id: str | None, now: datetime, settings: TenancySettings
) -> list[str]:
    """Ids of the revoked keys of `tenant_id` to delete: revoked longer ago than the retention, and
    the oldest revocations beyond the number kept."""
    revoked = sorted(
        (k for k in keys_of(directory, tenant_id) if k.revoked_at is not None),
        key=lambda k: (k.revoked_at, k.key_id),
    )
    cutoff = now - timedelta(days=settings.revoked_key_retention_days)
    expired = [k.key_id for k in revoked if k.revoked_at is not None and k.revoked_at < cutoff]
    kept = revoked[len(expired) :]  # sorted by revocation: the expired ones come first
    excess = kept[: max(0, len(kept) - settings.max_revoked_keys_per_tenant)]
    return expired + [k.key_id for k in excess]


async def forget_revoked(
    writer: DirectoryWriter, directory: Directory, tenant_id: str | None, now: datetime, settings: TenancySettings
) -> int:
    """Delete (tombstone) the revoked keys `revoked_to_forget` names; returns how many."""
    doomed = revoked_to_forget(directory, tenant_id, now, settings)
    for key_id in doomed:
        offset = await writer.delete_key(key_id)
        directory.apply(key_record_key(key_id), None, offset)
    return len(doomed)
