"""Signed records of the directory's keyed logs: only holders of the signing key can write them.

Every record a `KeyedLogWriter` produces carries an HMAC-SHA256 in its `tally-sig` header, over the
topic name, the record key and the value (or the tombstone marker), each length-prefixed: a record
cannot be moved to another key or topic, and a tombstone cannot be made from a record. A follower
refuses a record without a valid signature (counted and logged without its content).

Every record also carries its version in a `tally-ver` header, signed with the record (topic, key,
value and version): a follower refuses a record whose version is not above the one it holds for the
key (`tenancy.ordering`), so replaying an earlier signed record of the same key (a key's record from
before its revocation, a tenant's from before it was disabled) is refused too. The `tally-sig`
signature alone is unchanged: followers of the previous release still accept the records. Restrict
who may produce to these topics with Kafka ACLs (and SASL/TLS) all the same: a follower started after
compaction dropped a deleted record's tombstone does not know the record was deleted.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from tenancy.settings import TenancySettings, tenancy_settings

log = logging.getLogger(__name__)

HEADER = "tally-sig"
VERSION_HEADER = "tally-ver"
_VERSION = b"v1:"
_DOMAIN = b"tallystream keyed log v1\0"
_VERSION_DOMAIN = b"tallystream keyed log version v1\0"
DEFAULT_KEY_FILE = Path(__file__).resolve().parent.parent / "var" / "directory-signing.key"
"""The development key of a source checkout (`make run`, tests, chaos): shared by every process of it."""

Headers = Sequence[tuple[str, bytes]]


def _frame(part: bytes | None) -> bytes:
    if part is None:
        return b"\xff" * 8  # a tombstone: no length prefix of real data can equal it
    return len(part).to_bytes(8, "big") + part


def signature(key: bytes, topic: str, record_key: bytes | None, value: bytes | None) -> bytes:
    """The header value signing (`topic`, `record_key`, `value`) under `key`."""
    mac = hmac.new(key, _DOMAIN + _frame(topic.encode()) + _frame(record_key) + _frame(value), hashlib.sha256)
    return _VERSION + mac.hexdigest().encode()


def verify(key: bytes, topic: str, record_key: bytes | None, value: bytes | None, headers: Headers) -> bool:
    """Whether the record carries exactly one valid signature by `key`."""
    found = [v for name, v in headers if name == HEADER]
    if len(found) != 1 or not isinstance(found[0], bytes):
        return False
    return hmac.compare_digest(found[0], signature(key, topic, record_key, value))


def version_header(key: bytes, topic: str, record_key: bytes | None, value: bytes | None, version: int) -> bytes:
    """The `tally-ver` header value: `version`, signed with the record under `key`."""
    number = str(version).encode()
    mac = hmac.new(
        key,
        _VERSION_DOMAIN + _frame(topic.encode()) + _frame(record_key) + _frame(value) + _frame(number),
        hashlib.sha256,
    )
    return number + b":" + mac.hexdigest().encode()


def signed_version(
    key: bytes, topic: str, record_key: bytes | None, value: bytes | None, headers: Headers
) -> int | None:
    """The record's version (0 when it carries none: written before versions), None when its
    `tally-ver` header is not one valid signed version."""
    found = [v for name, v in headers if name == VERSION_HEADER]
    if not found:
        return 0
    if len(found) != 1 or not isinstance(found[0], bytes):
        return None
    number, _, _ = found[0].partition(b":")
    if not number.isdigit() or len(number) > 20 or int(number) == 0:
        return None
    expected = version_header(key, topic, record_key, value, int(number))
    return int(number) if hmac.compare_digest(found[0], expected) else None


def _generated(path: Path) -> bytes:
    """The key in `path`, created once (0600, atomically: concurrent first starts agree on one key)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-")  # mode 0600
        try:
            os.write(fd, secrets.token_urlsafe(48).encode())
            os.close(fd)
            try:
                os.link(tmp, path)  # fails if another process won the race: use its key
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
        log.warning("generated a development directory signing key at %s", path)
    return _read(path)


def _read(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if len(key) < 32:
        raise ValueError(f"TALLY_DIRECTORY_SIGNING_KEY_FILE {path}: the key must have at least 32 characters")
    return key


def load_signing_key(settings: TenancySettings) -> bytes:
    """TALLY_DIRECTORY_SIGNING_KEY, else the file TALLY_DIRECTORY_SIGNING_KEY_FILE, else the development
    key of this checkout (generated on first use)."""
    if settings.directory_signing_key is not None:
        return settings.directory_signing_key.get_secret_value().encode()
    if settings.directory_signing_key_file is not None:
        return _read(settings.directory_signing_key_file)
    return _generated(DEFAULT_KEY_FILE)


@cache
def signing_key() -> bytes:
    """This process's signing key (loaded once)."""
    return load_signing_key(tenancy_settings())
