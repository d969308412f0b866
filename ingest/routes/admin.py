"""Tenants and keys: `/v1/admin/...` (admin scope).

Operator keys (admin scope, no tenant) manage every tenant; a tenant's admin key manages that
tenant's keys only. Secrets are returned once, at creation, and stored only hashed. Keys are bounded
per tenant (`tenancy.quotas`): a create beyond the limit is a 409 naming it; revoked keys are kept
for the audit trail for a while, then deleted. Writes are rate-limited per admin key
(`TALLY_INGEST_ADMIN_WRITES_PER_SECOND`, burst `TALLY_INGEST_ADMIN_WRITE_BURST`): 429 with Retry-After.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from guards.ratelimit import RateLimiter
from ingest.auth import require
from ingest.errors import ApiError
from ingest.settings import IngestSettings
from schemas.tenancy import (
    ApiKeyRecord,
    PriceOverride,
    Scope,
    StoreSettings,
    TenantRecord,
    TimeZoneName,
    key_record_key,
    tenant_record_key,
)
from schemas.types import ShortText, TenantId
from tenancy.directory import Directory, Principal
from tenancy.kafka_log import DirectoryWriter
from tenancy.quotas import forget_revoked, over_quota
from tenancy.settings import tenancy_settings

router = APIRouter(prefix="/v1/admin", tags=["admin"])
Admin = Annotated[Principal, Depends(require("admin"))]


class TenantIn(BaseModel):
    name: ShortText
    disabled: bool = False
    rate_limit_per_second: Annotated[float, Field(gt=0)] | None = None
    price_overrides: Annotated[dict[ShortText, PriceOverride], Field(max_length=1000)] = Field(default_factory=dict)
    """`provider/model` -> the tenant's price (at most 1000)."""
    timezone: TimeZoneName = "UTC"
    """IANA time zone of the tenant's hour and day windows."""
    monthly_budget_usd: Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=2)] | None = None
    """LLM budget per calendar month; seeds the 80 % and 100 % budget alerts."""


class KeyIn(BaseModel):
    tenant_id: TenantId | None
    """The tenant the key acts for (None: an operator admin key, operators only)."""
    scope: Scope
    label: ShortText = ""


class KeyOut(BaseModel):
    key_id: str
    tenant_id: str | None
    scope: Scope
    label: str
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, record: ApiKeyRecord) -> KeyOut:
        return cls(**record.model_dump(exclude={"kind", "secret_sha256"}))


class CreatedKey(KeyOut):
    key: str
    """The key itself. It is shown this once: store it now."""


def _operator(principal: Principal) -> None:
    if principal.tenant_id is not None:
        raise ApiError(403, "only operator admin keys manage tenants")


@asynccontextmanager
async def _durable() -> AsyncIterator[None]:
    """A directory write that Kafka did not acknowledge is a 503: nothing was changed for sure."""
    try:
        yield
    except KafkaError as exc:
        raise ApiError(503, "tenant directory unavailable; retry later", {"Retry-After": "1"}) from exc


def _state(request: Request) -> tuple[Directory, DirectoryWriter]:
    return request.app.state.directory, request.app.state.directory_writer


def _key_writes(request: Request) -> asyncio.Lock:
    """Serializes this process's key creations and revocations: a quota check and its write are one step."""
    lock: asyncio.Lock | None = getattr(request.app.state, "key_writes", None)
    if lock is None:
        lock = request.app.state.key_writes = asyncio.Lock()
    return lock


def _throttle(request: Request, principal: Principal) -> None:
    """429 (Retry-After) when the admin key is over its rate of writes: every write is a record each
    role holds and applies."""
    settings: IngestSettings = request.app.state.settings
    rate = settings.admin_writes_per_second
    limiter: RateLimiter | None = getattr(request.app.state, "admin_limiter", None)
    if limiter is None:
        limiter = request.app.state.admin_limiter = RateLimiter(settings.admin_write_burst / rate)
    wait = limiter.take(principal.key_id, 1, rate, time.monotonic())
    if wait is not None:
        raise ApiError(
            429,
            f"this admin key is over its rate of {rate:g} writes/s (TALLY_INGEST_ADMIN_WRITES_PER_SECOND); retry later",
            {"Retry-After": str(max(1, math.ceil(wait)))},
        )


@router.put("/tenants/{tenant_id}", response_model=TenantRecord)
async def put_tenant(tenant_id: TenantId, body: TenantIn, principal: Admin, request: Request) -> TenantRecord:
    """Create or update a tenant."""
    _operator(principal)
    _throttle(request, principal)
    directory, writer = _state(request)
    existing = directory.tenant_record(tenant_id)
    created_at = existing.created_at if existing else datetime.now(UTC)
    # the store settings live in their own record, written by the tenant: only a legacy copy is kept here
    store = existing.store if existing else StoreSettings()
    record = TenantRecord(tenant_id=tenant_id, created_at=created_at, store=store, **body.model_dump())
    async with _durable():
        offset = await writer.put_tenant(record)
    directory.apply(tenant_record_key(tenant_id), record.model_dump_json().encode(), offset)
    return directory.tenant(tenant_id) or record


@router.get("/tenants", response_model=list[TenantRecord])
async def list_tenants(principal: Admin, request: Request) -> list[TenantRecord]:
    _operator(principal)
    return sorted(_state(request)[0].tenants.values(), key=lambda t: t.tenant_id)


@router.post("/keys", response_model=CreatedKey, status_code=status.HTTP_201_CREATED)
async def create_key(body: KeyIn, principal: Admin, request: Request) -> CreatedKey:
    """Create a key; the response carries the key once."""
    directory, writer = _state(request)
    if body.tenant_id is None:
        _operator(principal)
        if body.scope != "admin":
            raise ApiError(422, "a key without tenant_id can only have the admin scope")
    else:
        if not principal.may_act_for(body.tenant_id):
            raise ApiError(403, "this key cannot manage another tenant's keys")
        if directory.tenant(body.tenant_id) is None:
            raise ApiError(404, f"no tenant {body.tenant_id!r}; create it first")
    _throttle(request, principal)
    settings = tenancy_settings()
    async with _key_writes(request), _durable():
        await forget_revoked(writer, directory, body.tenant_id, datetime.now(UTC), settings)
        if (refusal := over_quota(directory, body.tenant_id, settings)) is not None:
            raise ApiError(409, refusal)
        plaintext, record, offset = await writer.create_key(body.tenant_id, body.scope, body.label)
        directory.apply(key_record_key(record.key_id), record.model_dump_json().encode(), offset)
    return CreatedKey(key=plaintext, **KeyOut.of(record).model_dump())


@router.get("/keys", response_model=list[KeyOut])
async def list_keys(principal: Admin, request: Request, tenant_id: TenantId | None = None) -> list[KeyOut]:
    """Keys (never their secrets) of one tenant, or of all tenants for operators."""
    if tenant_id is None:
        _operator(principal)
    elif not principal.may_act_for(tenant_id):
        raise ApiError(403, "this key cannot list another tenant's keys")
    keys = _state(request)[0].keys.values()
    return [KeyOut.of(k) for k in sorted(keys, key=lambda k: k.created_at) if tenant_id in (None, k.tenant_id)]


@router.delete("/keys/{key_id}", response_model=KeyOut)
async def revoke_key(key_id: str, principal: Admin, request: Request) -> KeyOut:
    """Revoke a key: every service refuses it within a second."""
    directory, writer = _state(request)
    record = directory.keys.get(key_id)
    if record is None or (record.tenant_id is None and principal.tenant_id is not None):
        raise ApiError(404, f"no key {key_id!r}")
    if record.tenant_id is not None and not principal.may_act_for(record.tenant_id):
        raise ApiError(404, f"no key {key_id!r}")
    if record.revoked_at is not None:
        return KeyOut.of(record)
    _throttle(request, principal)
    async with _key_writes(request), _durable():
        revoked, offset = await writer.revoke_key(record)
        directory.apply(key_record_key(key_id), revoked.model_dump_json().encode(), offset)
        await forget_revoked(writer, directory, record.tenant_id, datetime.now(UTC), tenancy_settings())
    return KeyOut.of(revoked)
