"""The store configuration: read it (`info`) and change it (`PUT settings`, admin keys).

The store settings are a record of their own in the tenant directory (`settings:<tenant>`), so an
operator's tenant update never overwrites them. Concurrent writers use optimistic concurrency: `info`
and `PUT settings` answer an `ETag` (a digest of the settings); a PUT with `If-Match` replaces the
settings only if they are still those (else 412), and a PUT without it changes only the fields it
sends (`ai` field by field), leaving the others as they are.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from schemas.tenancy import AiSettings, StoreSettings, TenantRecord, settings_record_key
from tenancy.directory import Directory
from tenancy.http import AuthError
from tenancy.kafka_log import DirectoryWriter
from views_api.context import TenantCtx
from views_api.models import TenantInfo

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["dashboard"])


def info_of(record: TenantRecord) -> TenantInfo:
    return TenantInfo(
        tenant_id=record.tenant_id,
        name=record.name,
        timezone=record.timezone,
        created_at=record.created_at,
        disabled=record.disabled,
        monthly_budget_usd=record.monthly_budget_usd,
        settings=record.store,
    )


def etag_of(store: StoreSettings) -> str:
    """The strong ETag of a version of the settings: a digest of their content."""
    return '"' + hashlib.sha256(store.model_dump_json().encode()).hexdigest()[:32] + '"'


def if_match_holds(if_match: str, current: str) -> bool:
    """Whether an If-Match header (`*` or a list of entity tags) names the current version."""
    tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    return "*" in tags or current in tags


def merged(current: StoreSettings, sent: StoreSettings) -> StoreSettings:
    """`current` with only the fields `sent` carries (the ones the client wrote) replaced."""
    update = {name: getattr(sent, name) for name in sent.model_fields_set if name != "ai"}
    if "ai" in sent.model_fields_set:
        ai = {name: getattr(sent.ai, name) for name in sent.ai.model_fields_set}
        update["ai"] = AiSettings.model_validate({**current.ai.model_dump(), **ai})
    return StoreSettings.model_validate({**current.model_dump(), **update})


def _settings_writes(request: Request) -> asyncio.Lock:
    """Serializes this process's settings writes: the If-Match check and the write are one step."""
    lock: asyncio.Lock | None = getattr(request.app.state, "settings_writes", None)
    if lock is None:
        lock = request.app.state.settings_writes = asyncio.Lock()
    return lock


@router.get("/info", response_model=TenantInfo)
async def info(tenant: TenantCtx, response: Response) -> TenantInfo:
    """The tenant's name, time zone and store configuration (ETag: the settings' version)."""
    response.headers["ETag"] = etag_of(tenant.record.store)
    return info_of(tenant.record)


@router.put("/settings", response_model=TenantInfo)
async def put_settings(
    tenant: TenantCtx,
    settings: StoreSettings,
    request: Request,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=1024)] = None,
) -> TenantInfo:
    """Change the store configuration (an admin key of the tenant, or an operator key): with `If-Match`,
    replace it if it is still that version (else 412); without, change only the fields sent.

    The change is written to the tenant directory topic; the answer comes once Kafka acknowledged it.
    """
    if tenant.principal.scope != "admin":
        raise AuthError(403, "changing settings needs an admin key (this key can only read)")
    writer: DirectoryWriter | None = request.app.state.directory_writer
    if writer is None:
        raise AuthError(503, "this views process cannot change settings (no tenant directory writer)")
    directory: Directory = request.app.state.directory
    async with _settings_writes(request):
        current = directory.store_settings(tenant.tenant_id) or tenant.record.store
        if if_match is not None and not if_match_holds(if_match, etag_of(current)):
            raise AuthError(412, "If-Match: the settings changed since that version; read them again (GET info)")
        store = settings if if_match is not None else merged(current, settings)
        try:
            record, offset = await writer.put_settings(tenant.tenant_id, store)
        except Exception as exc:  # a Kafka error: nothing is known to be saved
            raise AuthError(503, "tenant directory unavailable; retry later") from exc
        directory.apply(settings_record_key(tenant.tenant_id), record.model_dump_json().encode(), offset)
    response.headers["ETag"] = etag_of(store)
    return info_of(directory.tenant(tenant.tenant_id) or tenant.record.model_copy(update={"store": store}))
