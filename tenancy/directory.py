"""The in-memory tenant directory: the latest record of every tenant and key (pure, no I/O).

Fail closed when stale: a directory that a follower keeps current knows how long ago the follower
last heard from the broker; beyond `TALLY_DIRECTORY_MAX_STALE_SECONDS` it may miss revocations, so
it refuses every key (`Denied.STALE`, a 503 over HTTP) until the follower hears from the broker
again. A directory without a follower (built in memory by tests or tools) has no such clock and is
always current.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from pydantic import TypeAdapter, ValidationError

from schemas.funnels import FunnelRecord
from schemas.tenancy import (
    ApiKeyRecord,
    DirectoryRecord,
    Scope,
    StoreSettings,
    TenantRecord,
    TenantSettingsRecord,
    secret_matches,
    split_key,
)
from tenancy.ordering import OffsetOrder
from tenancy.settings import tenancy_settings

log = logging.getLogger(__name__)

_RECORD: TypeAdapter[TenantRecord | ApiKeyRecord | TenantSettingsRecord | FunnelRecord] = TypeAdapter(DirectoryRecord)
_KINDS = ("tenant", "key", "settings", "funnel")


class Denied(Enum):
    """Why a presented key was refused (the text is safe to show: it never contains the key)."""

    MISSING = "missing API key: send `Authorization: Bearer <key>`"
    MALFORMED = "malformed API key"
    UNKNOWN = "unknown API key"
    REVOKED = "revoked API key"
    TENANT_DISABLED = "tenant is disabled"
    WRONG_SCOPE = "this key's scope does not allow this operation"
    STALE = "tenant directory stale: this service lost the event log and cannot check keys; retry later"


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
    """Tenants, their store settings, saved funnels and keys by id; `apply` each directory record (in log
    order, or with its offset). `tenants` holds each tenant with its effective store settings (its settings
    record's, else those of its tenant record: records written before settings had their own)."""

    def __init__(self, max_stale_seconds: float | None = None) -> None:
        self.tenants: dict[str, TenantRecord] = {}
        self.keys: dict[str, ApiKeyRecord] = {}
        self.settings: dict[str, TenantSettingsRecord] = {}
        self.funnels: dict[str, dict[str, FunnelRecord]] = {}
        """Per tenant, its saved funnels by id."""
        self.refused_records = 0
        """Records refused: by the follower (unsigned, badly signed, or replayed: not newer than the
        record held for their key), or here (a record bringing a revoked key back)."""
        self.max_stale_seconds = max_stale_seconds or tenancy_settings().directory_max_stale_seconds
        self._raw_tenants: dict[str, TenantRecord] = {}
        self._order = OffsetOrder()
        self._age: Callable[[], float] | None = None

    def follow_clock(self, seconds_since_heard: Callable[[], float]) -> None:
        """Attach the follower keeping this directory current: its seconds since it last heard from
        the broker make the directory stale beyond `max_stale_seconds`."""
        self._age = seconds_since_heard

    @property
    def age_seconds(self) -> float:
        """Seconds since the follower last heard from the broker (0 without a follower)."""
        return self._age() if self._age is not None else 0.0

    @property
    def stale(self) -> bool:
        return self.age_seconds > self.max_stale_seconds

    def apply(self, key: bytes | None, value: bytes | None, offset: int | None = None) -> None:
        """Apply one record of the directory topic; a tombstone (None value) deletes.

        With `offset`, a record older than one already applied for the same key is ignored (a
        writer applying its own write after the follower saw a newer one; `OffsetOrder`). A record
        whose key does not name its content is ignored and logged; one making a revoked key live
        again is refused, counted and logged (revocation is permanent).
        """
        name = (key or b"").decode(errors="replace")
        kind, _, ident = name.partition(":")
        if kind not in _KINDS or not ident:
            log.error("ignoring a directory record with key %r", name[:80])
            return
        if offset is not None and key is not None and not self._order.admits(key, offset, value is None):
            return
        if value is None:
            self._delete(kind, ident)
            return
        try:
            record = _RECORD.validate_json(value)
        except ValidationError as exc:
            log.error("ignoring an invalid directory record %r: %s", name[:80], exc.errors(include_url=False)[:1])
            return
        if isinstance(record, TenantRecord) and kind == "tenant" and record.tenant_id == ident:
            self._raw_tenants[ident] = record
            self._merge(ident)
        elif isinstance(record, TenantSettingsRecord) and kind == "settings" and record.tenant_id == ident:
            self.settings[ident] = record
            self._merge(ident)
        elif (
            isinstance(record, FunnelRecord) and kind == "funnel" and ident == f"{record.tenant_id}:{record.funnel_id}"
        ):
            self.funnels.setdefault(record.tenant_id, {})[record.funnel_id] = record
        elif isinstance(record, ApiKeyRecord) and kind == "key" and record.key_id == ident:
            held = self.keys.get(ident)
            if held is not None and held.revoked_at is not None and record.revoked_at is None:
                self.refused_records += 1
                log.warning("refused a directory record making revoked key %s live again", ident)
                return
            self.keys[ident] = record
        else:
            log.error("ignoring a directory record whose key %r does not name its content", name[:80])

    def followed(self, offset: int) -> None:
        """The follower consumed the topic up to `offset` (`OffsetOrder`)."""
        self._order.followed(offset)

    @property
    def offsets_held(self) -> int:
        return self._order.held

    def _delete(self, kind: str, ident: str) -> None:
        if kind == "key":
            self.keys.pop(ident, None)
            return
        if kind == "funnel":
            tenant_id, _, funnel_id = ident.partition(":")
            self.funnels.get(tenant_id, {}).pop(funnel_id, None)
            return
        (self._raw_tenants if kind == "tenant" else self.settings).pop(ident, None)
        self._merge(ident)

    def _merge(self, tenant_id: str) -> None:
        raw = self._raw_tenants.get(tenant_id)
        own = self.settings.get(tenant_id)
        if raw is None:
            self.tenants.pop(tenant_id, None)
        else:
            self.tenants[tenant_id] = raw if own is None else raw.model_copy(update={"store": own.store})

    def authenticate(self, token: str | None, scopes: tuple[Scope, ...]) -> Principal | Denied:
        """The principal of a presented key if it is valid, live and has one of `scopes`; else why not
        (`Denied.STALE` for any well-formed key while the directory is stale: fail closed)."""
        if not token:
            return Denied.MISSING
        parts = split_key(token)
        if parts is None:
            return Denied.MALFORMED
        if self.stale:
            return Denied.STALE
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
        """The tenant with its effective store settings."""
        return self.tenants.get(tenant_id)

    def tenant_record(self, tenant_id: str) -> TenantRecord | None:
        """The tenant's own record as written by the operator (store: only its legacy settings)."""
        return self._raw_tenants.get(tenant_id)

    def tenant_funnels(self, tenant_id: str) -> dict[str, FunnelRecord]:
        """The funnels the tenant saved, by id (a copy)."""
        return dict(self.funnels.get(tenant_id, {}))

    def store_settings(self, tenant_id: str) -> StoreSettings | None:
        """The tenant's effective store settings (None for an unknown tenant)."""
        tenant = self.tenants.get(tenant_id)
        return tenant.store if tenant is not None else None
