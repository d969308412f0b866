"""tenancy.ordering: offsets held only while they order anything, versions that refuse replays."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from alerting.rulebook import RuleBook
from schemas.alerts import AlertRule
from schemas.tenancy import ApiKeyRecord, TenantRecord, key_record_key, new_key, tenant_record_key
from tenancy.directory import Denied, Directory
from tenancy.ordering import LogClock, OffsetOrder, RecordVersions
from tenancy.signing import VERSION_HEADER, signed_version, version_header

NOW = datetime(2026, 11, 1, tzinfo=UTC)
SIGNING = b"k" * 32
CYCLES = 20_000


def _key_record(key_id: str, digest: str, revoked: bool = False) -> bytes:
    record = ApiKeyRecord(
        key_id=key_id,
        tenant_id="acme",
        scope="ingest",
        secret_sha256=digest,
        created_at=NOW,
        revoked_at=NOW if revoked else None,
    )
    return record.model_dump_json().encode()


def _tenant(disabled: bool = False) -> bytes:
    return TenantRecord(tenant_id="acme", name="Acme", created_at=NOW, disabled=disabled).model_dump_json().encode()


def test_the_directorys_offsets_stay_bounded_over_create_revoke_delete_cycles() -> None:
    followed, local = Directory(max_stale_seconds=60), Directory(max_stale_seconds=60)
    offset = 0
    for _ in range(CYCLES):
        _, key_id, digest = new_key()
        name = key_record_key(key_id)
        for value in (_key_record(key_id, digest), _key_record(key_id, digest, revoked=True), None):
            local.apply(name, value, offset)  # a writer's own apply (no follower: a tool's directory)
            followed.apply(name, value, offset)  # the follower's apply, then its position
            followed.followed(offset)
            offset += 1
    assert not followed.keys and not local.keys
    assert followed.offsets_held == 0 and local.offsets_held == 0  # before: 20,000 offsets each


def test_the_rulebooks_offsets_stay_bounded_over_create_delete_cycles() -> None:
    book = RuleBook()
    rule = AlertRule(
        rule_id="r", tenant_id="acme", name="r", metric="cost", window="day", threshold=Decimal(1),
        created_at=NOW, updated_at=NOW,
    ).model_dump_json().encode()  # fmt: skip
    for i in range(CYCLES):
        key = f"rule:acme:r{i}".encode()
        book.apply(key, rule, 2 * i)
        book.followed(2 * i)
        book.apply(key, None, 2 * i + 1)
        book.followed(2 * i + 1)
    assert book.own_rules("acme") == [] and book.offsets_held == 0  # before: 20,000 offsets


def test_offsets_still_order_a_writers_own_apply_against_its_follower() -> None:
    order = OffsetOrder()
    order.followed(9)
    assert order.admits(b"k", 12, False)  # written here, applied before the follower fetched it
    assert not order.admits(b"k", 11, False)  # the follower then brings an older record of the key
    assert order.admits(b"other", 10, False)
    order.followed(12)
    assert order.held == 0  # the follower passed every offset held
    assert not order.admits(b"k", 12, False)  # a late own apply: the follower applied it and more
    assert order.admits(b"k", 13, True) and order.held == 1  # a tombstone ahead of the follower is held ...
    assert not order.admits(b"k", 12, False)  # ... so the record it deleted cannot come back
    order.followed(13)
    assert order.held == 0


def test_record_versions_stay_bounded_and_refuse_what_is_not_newer() -> None:
    versions = RecordVersions(remember=100)
    version = 1
    for i in range(CYCLES):
        key = f"key:{i}".encode()
        assert versions.admits(key, version, False)
        assert versions.admits(key, version + 1, False)  # revoked
        assert not versions.admits(key, version, False)  # the record from before the revocation, replayed
        assert versions.admits(key, version + 2, True)  # deleted
        assert not versions.admits(key, version, False)  # replayed after the deletion
        version += 3
    assert versions.held() == (0, 100)
    assert versions.floor == version - 1 - 100 * 3  # the 101st newest deletion: the newest forgotten
    assert not versions.admits(b"key:0", 1, False)  # forgotten, and older than the floor
    assert versions.admits(b"new", version, False)  # a new key, written now


def test_unversioned_records_keep_log_order_until_their_key_has_a_version() -> None:
    versions = RecordVersions(remember=100)
    assert versions.admits(b"t", 0, False) and versions.admits(b"t", 0, False)  # before the upgrade
    assert versions.admits(b"t", 50, False)  # rewritten with a version (adopt-unsigned, or an update)
    assert not versions.admits(b"t", 0, False)  # an old unversioned record replayed
    assert versions.admits(b"gone", 0, False) and versions.admits(b"gone", 0, True)
    assert not versions.admits(b"gone", 0, False)  # an unversioned record after its deletion


def test_a_revoked_key_stays_revoked_whatever_record_follows() -> None:
    directory = Directory(max_stale_seconds=60)
    token, key_id, digest = new_key()
    name = key_record_key(key_id)
    directory.apply(tenant_record_key("acme"), _tenant())
    directory.apply(name, _key_record(key_id, digest), 1)
    directory.apply(name, _key_record(key_id, digest, revoked=True), 2)
    directory.apply(name, _key_record(key_id, digest), 3)  # its live record again, at a later offset
    assert directory.authenticate(token, ("ingest",)) is Denied.REVOKED
    assert directory.refused_records == 1


def test_the_version_header_is_signed_with_the_record() -> None:
    header = version_header(SIGNING, "t", b"key:a", b"{}", 123)
    assert signed_version(SIGNING, "t", b"key:a", b"{}", [(VERSION_HEADER, header)]) == 123
    assert signed_version(SIGNING, "t", b"key:a", b"{}", []) == 0  # written before versions
    forged = b"999" + header[3:]
    assert signed_version(SIGNING, "t", b"key:a", b"{}", [(VERSION_HEADER, forged)]) is None
    assert signed_version(SIGNING, "t", b"key:a", b"{ }", [(VERSION_HEADER, header)]) is None  # another value
    assert signed_version(SIGNING, "t", b"key:b", b"{}", [(VERSION_HEADER, header)]) is None  # another key
    assert signed_version(b"x" * 32, "t", b"key:a", b"{}", [(VERSION_HEADER, header)]) is None
    assert signed_version(SIGNING, "t", b"key:a", b"{}", [(VERSION_HEADER, header)] * 2) is None


def test_the_clock_ticks_above_every_version_seen() -> None:
    clock = LogClock(now_ns=lambda: 1000)
    assert clock.tick() == 1000 and clock.tick() == 1001  # the same nanosecond twice: still increasing
    clock.observe(5000)  # written by a process whose clock is ahead
    assert clock.tick() == 5001


def test_a_record_its_target_cannot_apply_is_refused_and_the_next_one_still_applies() -> None:
    """One record that raises in its target (a bug, a contract change) costs only itself, counted."""
    from tenancy.kafka_log import KeyedLogFollower
    from tenancy.signing import HEADER, signature

    applied: list[bytes | None] = []

    class Target:
        def apply(self, key: bytes | None, value: bytes | None, offset: int | None = None) -> None:
            if value == b"boom":
                raise ValueError("cannot apply")
            applied.append(value)

    follower = KeyedLogFollower("127.0.0.1:1", "t", Target(), key=SIGNING)  # never started: applied by hand
    for offset, (key, value) in enumerate([(b"a", b"boom"), (b"b", b"ok")]):
        headers = [
            (HEADER, signature(SIGNING, "t", key, value)),
            (VERSION_HEADER, version_header(SIGNING, "t", key, value, offset + 1)),
        ]
        follower._apply(key, value, offset, headers)
    assert (follower.refused, applied) == (1, [b"ok"])
