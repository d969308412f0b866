from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from schemas.tenancy import (
    KEY_PREFIX,
    ApiKeyRecord,
    PriceOverride,
    Scope,
    TenantRecord,
    hash_secret,
    key_record_key,
    new_key,
    secret_matches,
    split_key,
    tenant_record_key,
)
from tenancy.directory import Denied, Directory, Principal

CREATED = datetime(2026, 11, 1, tzinfo=UTC)
KEY_FORMAT = re.compile(r"^tsk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")
KEY_ID = "0123456789abcdef"
SECRET = "A" * 20 + "_-" + "b" * 21  # 43 base64url characters


# --- key format -------------------------------------------------------------------------------------


def test_new_key_format_and_parts() -> None:
    token, key_id, secret_sha256 = new_key()
    assert KEY_FORMAT.match(token), token
    assert token.startswith(KEY_PREFIX) and KEY_PREFIX == "tsk_"
    assert token[4:20] == key_id
    assert re.fullmatch(r"[0-9a-f]{16}", key_id)
    secret = token[21:]
    assert len(secret) == 43
    assert secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", secret_sha256)


def test_new_key_hash_never_equals_the_secret_and_keys_are_unique() -> None:
    keys = [new_key() for _ in range(50)]
    for token, key_id, secret_sha256 in keys:
        _, secret = split_key(token) or ("", "")
        assert secret and secret_sha256 != secret
        assert secret not in secret_sha256
        assert key_id not in secret_sha256
    assert len({k[0] for k in keys}) == len({k[1] for k in keys}) == len({k[2] for k in keys}) == 50


def test_split_key_of_a_new_key_returns_its_id_and_secret() -> None:
    token, key_id, secret_sha256 = new_key()
    parts = split_key(token)
    assert parts is not None
    assert parts[0] == key_id
    assert secret_matches(parts[1], secret_sha256)


def test_split_key_of_a_known_key() -> None:
    assert split_key(f"tsk_{KEY_ID}_{SECRET}") == (KEY_ID, SECRET)


def test_split_key_keeps_underscores_of_the_secret() -> None:
    secret = "_" * 43
    assert split_key(f"tsk_{KEY_ID}_{secret}") == (KEY_ID, secret)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "tsk_",
        KEY_ID,
        f"{KEY_ID}_{SECRET}",
        f"tsx_{KEY_ID}_{SECRET}",
        f"TSK_{KEY_ID}_{SECRET}",
        f"tsk_{KEY_ID.upper()}_{SECRET}",  # upper-case hex
        f"tsk_{KEY_ID[:-1]}_{SECRET}",  # 15 hex digits
        f"tsk_{KEY_ID}0_{SECRET}",  # 17 hex digits
        f"tsk_0123456789abcdeg_{SECRET}",  # not hex
        f"tsk_{KEY_ID}_{SECRET[:-1]}",  # 42-character secret
        f"tsk_{KEY_ID}_{SECRET}x",  # 44-character secret
        f"tsk_{KEY_ID}_{SECRET[:-1]}=",  # padding
        f"tsk_{KEY_ID}_{SECRET[:-1]}+",  # standard base64, not url-safe
        f"tsk_{KEY_ID}-{SECRET}",
        f" tsk_{KEY_ID}_{SECRET}",
        f"tsk_{KEY_ID}_{SECRET} ",
        f"Bearer tsk_{KEY_ID}_{SECRET}",
    ],
)
def test_split_key_rejects_malformed_keys(token: str) -> None:
    assert split_key(token) is None


def test_split_key_rejects_a_trailing_newline() -> None:
    assert split_key(f"tsk_{KEY_ID}_{SECRET}\n") is None


def test_secret_matches() -> None:
    stored = hash_secret(SECRET)
    assert secret_matches(SECRET, stored)
    assert not secret_matches(SECRET[:-1] + "c", stored)
    assert not secret_matches("", stored)
    assert not secret_matches(stored, stored)  # presenting the hash is not presenting the secret


def test_hash_secret_is_sha256_hex() -> None:
    assert hash_secret("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert hash_secret(SECRET) != SECRET


def test_record_keys() -> None:
    assert tenant_record_key("acme") == b"tenant:acme"
    assert key_record_key(KEY_ID) == b"key:0123456789abcdef"


def test_records_forbid_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        TenantRecord.model_validate({"tenant_id": "acme", "name": "Acme", "created_at": CREATED, "plan": "gold"})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        PriceOverride.model_validate({"input_per_mtok": "1", "per_token": "2"})


def test_price_override_defaults() -> None:
    override = PriceOverride()
    assert (override.input_per_mtok, override.cached_input_per_mtok, override.output_per_mtok) == (
        Decimal(0),
        None,
        Decimal(0),
    )
    assert override.per_audio_minute == Decimal(0)


# --- the directory ----------------------------------------------------------------------------------


def tenant_record(tenant_id: str = "acme", **fields: object) -> tuple[bytes, bytes]:
    record = TenantRecord(tenant_id=tenant_id, name=tenant_id.title(), created_at=CREATED, **fields)  # type: ignore[arg-type]
    return tenant_record_key(tenant_id), record.model_dump_json().encode()


def key_record(
    tenant_id: str | None = "acme", scope: Scope = "ingest", **fields: object
) -> tuple[str, tuple[bytes, bytes]]:
    """A fresh key's token and its directory record."""
    token, key_id, secret_sha256 = new_key()
    record = ApiKeyRecord(
        key_id=key_id,
        tenant_id=tenant_id,
        scope=scope,
        secret_sha256=secret_sha256,
        created_at=CREATED,
        **fields,  # type: ignore[arg-type]
    )
    return token, (key_record_key(key_id), record.model_dump_json().encode())


@pytest.fixture
def directory() -> Directory:
    d = Directory()
    d.apply(*tenant_record("acme"))
    d.apply(*tenant_record("globex"))
    return d


def test_valid_key_authenticates_as_its_principal(directory: Directory) -> None:
    token, record = key_record("acme", "ingest")
    directory.apply(*record)
    principal = directory.authenticate(token, ("ingest",))
    key_id = token[4:20]
    assert principal == Principal(key_id=key_id, tenant_id="acme", scope="ingest")


def test_principal_may_act_only_for_its_tenant(directory: Directory) -> None:
    token, record = key_record("acme", "read")
    directory.apply(*record)
    principal = directory.authenticate(token, ("read",))
    assert isinstance(principal, Principal)
    assert principal.may_act_for("acme")
    assert not principal.may_act_for("globex")


def test_operator_key_may_act_for_any_tenant(directory: Directory) -> None:
    token, record = key_record(None, "admin")
    directory.apply(*record)
    principal = directory.authenticate(token, ("admin",))
    assert isinstance(principal, Principal)
    assert (principal.tenant_id, principal.scope) == (None, "admin")
    assert principal.may_act_for("acme") and principal.may_act_for("globex") and principal.may_act_for("nobody")


def test_operator_key_needs_no_tenant_record() -> None:
    directory = Directory()
    token, record = key_record(None, "admin")
    directory.apply(*record)
    assert isinstance(directory.authenticate(token, ("admin",)), Principal)


@pytest.mark.parametrize("token", [None, ""])
def test_missing_key(directory: Directory, token: str | None) -> None:
    assert directory.authenticate(token, ("ingest",)) is Denied.MISSING


@pytest.mark.parametrize("token", ["hello", "tsk_abc", f"Bearer tsk_{KEY_ID}_{SECRET}"])
def test_malformed_key(directory: Directory, token: str) -> None:
    assert directory.authenticate(token, ("ingest",)) is Denied.MALFORMED


def test_unknown_key(directory: Directory) -> None:
    token, _ = key_record("acme")  # never applied
    assert directory.authenticate(token, ("ingest",)) is Denied.UNKNOWN


def test_wrong_secret_is_unknown(directory: Directory) -> None:
    token, record = key_record("acme")
    directory.apply(*record)
    forged = token[:21] + ("A" if token[21] != "A" else "B") + token[22:]
    assert directory.authenticate(forged, ("ingest",)) is Denied.UNKNOWN


def test_another_keys_secret_is_unknown(directory: Directory) -> None:
    token_a, record_a = key_record("acme")
    token_b, record_b = key_record("acme")
    directory.apply(*record_a)
    directory.apply(*record_b)
    mixed = token_a[:21] + token_b[21:]
    assert directory.authenticate(mixed, ("ingest",)) is Denied.UNKNOWN


def test_revoked_key(directory: Directory) -> None:
    token, record = key_record("acme", revoked_at=datetime(2026, 11, 2, tzinfo=UTC))
    directory.apply(*record)
    assert directory.authenticate(token, ("ingest",)) is Denied.REVOKED


def test_revoked_key_with_the_wrong_secret_does_not_reveal_revocation(directory: Directory) -> None:
    token, record = key_record("acme", revoked_at=datetime(2026, 11, 2, tzinfo=UTC))
    directory.apply(*record)
    forged = token[:21] + ("A" if token[21] != "A" else "B") + token[22:]
    assert directory.authenticate(forged, ("ingest",)) is Denied.UNKNOWN


def test_revoking_a_key_later_in_the_log(directory: Directory) -> None:
    token, (key, value) = key_record("acme")
    directory.apply(key, value)
    assert isinstance(directory.authenticate(token, ("ingest",)), Principal)
    revoked = ApiKeyRecord.model_validate_json(value).model_copy(update={"revoked_at": datetime.now(UTC)})
    directory.apply(key, revoked.model_dump_json().encode())
    assert directory.authenticate(token, ("ingest",)) is Denied.REVOKED


def test_disabled_tenant(directory: Directory) -> None:
    token, record = key_record("acme")
    directory.apply(*record)
    directory.apply(*tenant_record("acme", disabled=True))
    assert directory.authenticate(token, ("ingest",)) is Denied.TENANT_DISABLED
    directory.apply(*tenant_record("acme", disabled=False))
    assert isinstance(directory.authenticate(token, ("ingest",)), Principal)


def test_missing_tenant(directory: Directory) -> None:
    token, record = key_record("initech")
    directory.apply(*record)
    assert directory.authenticate(token, ("ingest",)) is Denied.TENANT_DISABLED


def test_wrong_scope(directory: Directory) -> None:
    token, record = key_record("acme", "read")
    directory.apply(*record)
    assert directory.authenticate(token, ("ingest",)) is Denied.WRONG_SCOPE
    assert directory.authenticate(token, ("admin",)) is Denied.WRONG_SCOPE
    assert directory.authenticate(token, ()) is Denied.WRONG_SCOPE


def test_any_of_several_scopes_is_enough(directory: Directory) -> None:
    token, record = key_record("acme", "admin")
    directory.apply(*record)
    principal = directory.authenticate(token, ("read", "admin"))
    assert isinstance(principal, Principal) and principal.scope == "admin"


def test_tombstone_deletes_a_key(directory: Directory) -> None:
    token, (key, value) = key_record("acme")
    directory.apply(key, value)
    directory.apply(key, None)
    assert directory.keys == {}
    assert directory.authenticate(token, ("ingest",)) is Denied.UNKNOWN


def test_tombstone_deletes_a_tenant(directory: Directory) -> None:
    token, record = key_record("acme")
    directory.apply(*record)
    directory.apply(tenant_record_key("acme"), None)
    assert directory.tenant("acme") is None
    assert directory.tenant("globex") is not None
    assert directory.authenticate(token, ("ingest",)) is Denied.TENANT_DISABLED


def test_tombstone_of_something_unknown_is_harmless(directory: Directory) -> None:
    directory.apply(b"tenant:nobody", None)
    directory.apply(b"key:ffffffffffffffff", None)
    directory.apply(None, None)
    assert set(directory.tenants) == {"acme", "globex"}


def test_latest_tenant_record_wins(directory: Directory) -> None:
    directory.apply(*tenant_record("acme", rate_limit_per_second=5.0))
    tenant = directory.tenant("acme")
    assert tenant is not None and tenant.rate_limit_per_second == 5.0


def test_tenant_record_keeps_price_overrides(directory: Directory) -> None:
    overrides = {"openai/gpt-4o": PriceOverride(input_per_mtok=Decimal("1.5"), output_per_mtok=Decimal("6"))}
    directory.apply(*tenant_record("acme", price_overrides=overrides))
    tenant = directory.tenant("acme")
    assert tenant is not None
    assert tenant.price_overrides["openai/gpt-4o"].input_per_mtok == Decimal("1.5")
    assert tenant.price_overrides["openai/gpt-4o"].cached_input_per_mtok is None


@pytest.mark.parametrize(
    "value",
    [
        b"{not json",
        b'{"kind": "tenant"}',
        b'{"kind": "planet", "tenant_id": "acme"}',
        b'{"kind": "tenant", "tenant_id": "acme", "name": "Acme", "created_at": "2026-11-01T00:00:00Z", "x": 1}',
        b'{"kind": "key", "key_id": "XYZ", "tenant_id": "acme", "scope": "ingest", "secret_sha256": "00", "created_at": "2026-11-01T00:00:00Z"}',
    ],
)
def test_invalid_record_is_logged_and_ignored(
    directory: Directory, value: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    before_tenants, before_keys = dict(directory.tenants), dict(directory.keys)
    with caplog.at_level(logging.ERROR, logger="tenancy.directory"):
        directory.apply(b"tenant:acme", value)
    assert (directory.tenants, directory.keys) == (before_tenants, before_keys)
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert "ignoring an invalid directory record 'tenant:acme'" in caplog.records[0].getMessage()


def test_denied_messages_never_contain_a_key() -> None:
    assert Denied.MISSING.value == "missing API key: send `Authorization: Bearer <key>`"
    assert {d.name for d in Denied} == {
        "MISSING",
        "MALFORMED",
        "UNKNOWN",
        "REVOKED",
        "TENANT_DISABLED",
        "WRONG_SCOPE",
        "STALE",
    }
    assert all("tsk_" not in d.value for d in Denied)


def test_an_older_offset_never_undoes_a_newer_record() -> None:
    from schemas.tenancy import TenantRecord, tenant_record_key

    directory = Directory()
    old = TenantRecord(tenant_id="acme", name="Acme", created_at=datetime(2026, 1, 1, tzinfo=UTC))
    new = old.model_copy(update={"disabled": True})
    directory.apply(tenant_record_key("acme"), new.model_dump_json().encode(), offset=7)
    directory.apply(tenant_record_key("acme"), old.model_dump_json().encode(), offset=5)  # a late local apply
    assert directory.tenants["acme"].disabled is True


def test_a_record_whose_key_does_not_name_its_content_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    from schemas.tenancy import TenantRecord

    directory = Directory()
    record = TenantRecord(tenant_id="acme", name="Acme", created_at=datetime(2026, 1, 1, tzinfo=UTC))
    directory.apply(b"tenant:globex", record.model_dump_json().encode())
    directory.apply(b"bogus:acme", None)
    assert directory.tenants == {}
    assert "does not name its content" in caplog.text
    assert "ignoring a directory record with key 'bogus:acme'" in caplog.text
