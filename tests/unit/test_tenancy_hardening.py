"""The directory fails closed when stale, keeps store settings apart, signs its records, bounds keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.tenancy import (
    ApiKeyRecord,
    StoreSettings,
    TenantRecord,
    TenantSettingsRecord,
    key_record_key,
    new_key,
    settings_record_key,
    tenant_record_key,
)
from tenancy.directory import Denied, Directory, Principal
from tenancy.quotas import over_quota, revoked_to_forget
from tenancy.settings import TenancySettings
from tenancy.signing import HEADER, load_signing_key, signature, verify

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SIGNING = b"k" * 32


def _tenant(directory: Directory, tenant_id: str = "acme", **fields: object) -> TenantRecord:
    record = TenantRecord(tenant_id=tenant_id, name=tenant_id, created_at=NOW, **fields)  # type: ignore[arg-type]
    directory.apply(tenant_record_key(tenant_id), record.model_dump_json().encode())
    return record


def _key(directory: Directory, tenant_id: str | None, revoked_days_ago: float | None = None) -> str:
    token, key_id, digest = new_key()
    revoked = NOW - timedelta(days=revoked_days_ago) if revoked_days_ago is not None else None
    record = ApiKeyRecord(
        key_id=key_id,
        tenant_id=tenant_id,
        scope="admin",
        secret_sha256=digest,
        created_at=NOW - timedelta(days=400),
        revoked_at=revoked,
    )
    directory.apply(key_record_key(key_id), record.model_dump_json().encode())
    return token if revoked is None else key_id


# --- fail closed when stale ---------------------------------------------------------------------------


def test_a_stale_directory_refuses_every_key_and_recovers() -> None:
    directory = Directory(max_stale_seconds=30)
    _tenant(directory)
    token = _key(directory, "acme")
    age = [0.0]
    directory.follow_clock(lambda: age[0])
    assert isinstance(directory.authenticate(token, ("admin",)), Principal)
    age[0] = 30.5
    assert directory.stale and directory.age_seconds == 30.5
    assert directory.authenticate(token, ("admin",)) is Denied.STALE
    assert directory.authenticate("tsk_" + "0" * 16 + "_" + "A" * 43, ("admin",)) is Denied.STALE
    assert directory.authenticate(None, ("admin",)) is Denied.MISSING  # answered without the directory
    age[0] = 0.1
    assert isinstance(directory.authenticate(token, ("admin",)), Principal)


def test_a_directory_without_a_follower_is_current() -> None:
    directory = Directory(max_stale_seconds=0.001)
    assert (directory.age_seconds, directory.stale) == (0.0, False)


def test_stale_answer_is_503_with_retry_after() -> None:
    from tenancy.http import AuthError, authenticate

    directory = Directory(max_stale_seconds=1)
    directory.follow_clock(lambda: 2.0)
    with pytest.raises(AuthError) as caught:
        authenticate(directory, "tsk_" + "0" * 16 + "_" + "A" * 43, "read")
    assert (caught.value.status, caught.value.headers) == (503, {"Retry-After": "5"})
    assert "directory stale" in caught.value.message


# --- store settings in their own record -----------------------------------------------------------------


def test_settings_record_wins_over_the_tenant_records_legacy_settings_both_ways() -> None:
    directory = Directory()
    legacy = StoreSettings(description="legacy")
    _tenant(directory, store=legacy)
    assert directory.store_settings("acme") == legacy  # migration: read from the tenant record
    own = TenantSettingsRecord(tenant_id="acme", store=StoreSettings(description="own"), updated_at=NOW)
    directory.apply(settings_record_key("acme"), own.model_dump_json().encode())
    assert directory.tenant("acme").store.description == "own"  # type: ignore[union-attr]
    _tenant(directory, store=legacy, disabled=True)  # an operator update after the settings write
    tenant = directory.tenant("acme")
    assert tenant is not None and (tenant.disabled, tenant.store.description) == (True, "own")
    assert directory.tenant_record("acme").store.description == "legacy"  # type: ignore[union-attr]
    directory.apply(settings_record_key("acme"), None)
    assert directory.store_settings("acme") == legacy
    directory.apply(tenant_record_key("acme"), None)
    assert directory.tenant("acme") is None and directory.store_settings("acme") is None


def test_a_settings_record_under_another_tenants_key_is_ignored() -> None:
    directory = Directory()
    _tenant(directory, "globex")
    own = TenantSettingsRecord(tenant_id="acme", store=StoreSettings(description="x"), updated_at=NOW)
    directory.apply(settings_record_key("globex"), own.model_dump_json().encode())
    assert directory.settings == {} and directory.store_settings("globex") == StoreSettings()


# --- signatures -------------------------------------------------------------------------------------------


def test_signature_covers_topic_key_and_value() -> None:
    sig = [(HEADER, signature(SIGNING, "tally.tenants", b"key:a", b"{}"))]
    assert verify(SIGNING, "tally.tenants", b"key:a", b"{}", sig)
    assert not verify(SIGNING, "tally.tenants", b"key:b", b"{}", sig)  # replayed under another key
    assert not verify(SIGNING, "other", b"key:a", b"{}", sig)  # or another topic
    assert not verify(SIGNING, "tally.tenants", b"key:a", b"{} ", sig)
    assert not verify(SIGNING, "tally.tenants", b"key:a", None, sig)  # a tombstone is not the record
    assert not verify(b"x" * 32, "tally.tenants", b"key:a", b"{}", sig)  # another signing key
    assert not verify(SIGNING, "tally.tenants", b"key:a", b"{}", [])  # unsigned
    assert not verify(SIGNING, "tally.tenants", b"key:a", b"{}", sig + sig)  # two signatures: ambiguous
    tomb = [(HEADER, signature(SIGNING, "t", b"key:a", None))]
    assert verify(SIGNING, "t", b"key:a", None, tomb) and not verify(SIGNING, "t", b"key:a", b"", tomb)
    # length-prefixed: moving bytes between the key and the value does not keep the signature
    assert signature(SIGNING, "t", b"ab", b"c") != signature(SIGNING, "t", b"a", b"bc")


def test_signing_key_from_env_file_or_generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    given = TenancySettings(directory_signing_key="s" * 40)  # type: ignore[arg-type]
    assert load_signing_key(given) == b"s" * 40
    path = tmp_path / "key"
    path.write_text("f" * 40 + "\n")
    assert load_signing_key(TenancySettings(directory_signing_key_file=path)) == b"f" * 40
    path.write_text("short")
    with pytest.raises(ValueError, match="at least 32 characters"):
        load_signing_key(TenancySettings(directory_signing_key_file=path))
    with pytest.raises(ValueError, match="directory_signing_key"):
        TenancySettings(directory_signing_key="short")  # type: ignore[arg-type]
    import tenancy.signing as signing

    generated = tmp_path / "var" / "directory-signing.key"
    monkeypatch.setattr(signing, "DEFAULT_KEY_FILE", generated)
    first = load_signing_key(TenancySettings())
    assert len(first) >= 32 and load_signing_key(TenancySettings()) == first  # made once, then reused
    assert generated.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in generated.parent.iterdir()] == ["directory-signing.key"]  # no temp file left


# --- key quotas --------------------------------------------------------------------------------------------


def test_quota_counts_live_keys_only_per_tenant_and_for_operators() -> None:
    settings = TenancySettings(max_keys_per_tenant=2, max_operator_keys=1)
    directory = Directory()
    _tenant(directory)
    _key(directory, "acme")
    _key(directory, "acme", revoked_days_ago=1)
    _key(directory, "globex")
    assert over_quota(directory, "acme", settings) is None
    _key(directory, "acme")
    refusal = over_quota(directory, "acme", settings)
    assert refusal == "tenant 'acme' already has 2 live keys, the limit (TALLY_MAX_KEYS_PER_TENANT=2); revoke one first"
    assert over_quota(directory, None, settings) is None
    _key(directory, None)
    assert "TALLY_MAX_OPERATOR_KEYS=1" in (over_quota(directory, None, settings) or "")


def test_revoked_keys_are_forgotten_after_the_retention_or_beyond_the_number_kept() -> None:
    settings = TenancySettings(revoked_key_retention_days=30, max_revoked_keys_per_tenant=2)
    directory = Directory()
    expired = _key(directory, "acme", revoked_days_ago=31)
    oldest_kept = _key(directory, "acme", revoked_days_ago=3)
    kept = [_key(directory, "acme", revoked_days_ago=d) for d in (2, 1)]
    live = _key(directory, "acme")
    other = _key(directory, "globex", revoked_days_ago=99)
    assert revoked_to_forget(directory, "acme", NOW, settings) == [expired, oldest_kept]
    assert revoked_to_forget(directory, "globex", NOW, settings) == [other]
    assert revoked_to_forget(directory, None, NOW, settings) == []
    assert live.startswith("tsk_") and set(kept).isdisjoint(revoked_to_forget(directory, "acme", NOW, settings))
