"""The in-memory tenant directory: the latest record of every tenant and key (pure, no I/O)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from pydantic import TypeAdapter, ValidationError

from schemas.tenancy import (
    ApiKeyRecord,
    DirectoryRecord,
    Scope,
    TenantRecord,
    secret_matches,
    split_key,
)

log = logging.getLogger(__name__)

_RECORD: TypeAdapter[TenantRecord | ApiKeyRecord] = TypeAdapter(DirectoryRecord)


class Denied(Enum):
    """Why a presented key was refused (the text is safe to show: it never contains the key)."""

    MISSING = "missing API key: send `Authorization: Bearer <key>`"
    MALFORMED = "malformed API key"
    UNKNOWN = "unknown API key"
    REVOKED = "revoked API key"
    TENANT_DISABLED = "tenant is disabled"
    WRONG_SCOPE = "this key's scope does not allow this operation"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a key's id, its tenant (None for operator admin keys) and its scope."""

    key_id: str
    tenant_id: str | None
    scope: Scope

    def may_act_for(self, tenant_id: str) -> bool:
        """Whether this principal may touch `tenant_id`'s data."""
        return self.tenant_id is None or self.tenant_id == tenant_id


class Directory:
    """Tenants and keys by id; `apply` each directory record (in log order, or with its offset)."""

    def __init__(self) -> None:
        self.tenants: dict[str, TenantRecord] = {}
        self.keys: dict[str, ApiKeyRecord] = {}
        self._offsets: dict[bytes, int] = {}

    def apply(self, key: bytes | None, value: bytes | None, offset: int | None = None) -> None:
        """Apply one record of the directory topic; a tombstone (None value) deletes.

        With `offset`, a record older than one already applied for the same key is ignored (a
        writer applying its own write after the follower saw a newer one). A record whose key does
        not name its content is ignored and logged.
        """
        name = (key or b"").decode(errors="replace")
        kind, _, ident = name.partition(":")
        if kind not in ("tenant", "key") or not ident:
            log.error("ignoring a directory record with key %r", name[:80])
            return
        if offset is not None and key is not None:
            if offset < self._offsets.get(key, -1):
                return
            self._offsets[key] = offset
        if value is None:
            (self.tenants if kind == "tenant" else self.keys).pop(ident, None)
            return
        try:
            record = _RECORD.validate_json(value)
        except ValidationError as exc:
            log.error("ignoring an invalid directory record %r: %s", name[:80], exc.errors(include_url=False)[:1])
            return
        if isinstance(record, TenantRecord) and kind == "tenant" and record.tenant_id == ident:
            self.tenants[ident] = record
        elif isinstance(record, ApiKeyRecord) and kind == "key" and record.key_id == ident:
            self.keys[ident] = record
        else:
            log.error("ignoring a directory record whose key %r does not name its content", name[:80])

    def authenticate(self, token: str | None, scopes: tuple[Scope, ...]) -> Principal | Denied:
        """The principal of a presented key if it is valid, live and has one of `scopes`; else why not."""
        if not token:
            return Denied.MISSING
        parts = split_key(token)
        if parts is None:
            return Denied.MALFORMED
        key_id, secret = parts
        record = self.keys.get(key_id)
        if record is None or not secret_matches(secret, record.secret_sha256):
            return Denied.UNKNOWN
        if record.revoked_at is not None:
            return Denied.REVOKED
        if record.tenant_id is not None:
            tenant = self.tenants.get(record.tenant_id)
            if tenant is None or tenant.disabled:
                return Denied.TENANT_DISABLED
        if record.scope not in scopes:
            return Denied.WRONG_SCOPE
        return Principal(key_id=record.key_id, tenant_id=record.tenant_id, scope=record.scope)

    def tenant(self, tenant_id: str) -> TenantRecord | None:
        return self.tenants.get(tenant_id)
