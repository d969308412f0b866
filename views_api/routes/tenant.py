"""Seed 000's store configuration: read it (`info`) and change it (`PUT settings`, admin keys)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from schemas.tenancy import StoreSettings, TenantRecord, tenant_record_key
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


@router.get("/info", response_model=TenantInfo)
async def info(tenant: TenantCtx) -> TenantInfo:
    """The tenant's name, time zone and store configuration."""
    return info_of(tenant.record)


@router.put("/settings", response_model=TenantInfo)
async def put_settings(tenant: TenantCtx, settings: StoreSettings, request: Request) -> TenantInfo:
    """Replace the store configuration (an admin key of the tenant, or an operator key).

    The change is written to the tenant directory topic; the answer comes once Kafka acknowledged it.
    """
    if tenant.principal.scope != "admin":
        raise AuthError(403, "changing settings needs an admin key (this key can only read)")
    writer: DirectoryWriter | None = request.app.state.directory_writer
    if writer is None:
        raise AuthError(503, "this views process cannot change settings (no tenant directory writer)")
    directory: Directory = request.app.state.directory
    record = tenant.record.model_copy(update={"store": settings})
    try:
        offset = await writer.put_tenant(record)
    except Exception as exc:  # a Kafka error: nothing is known to be saved
        raise AuthError(503, "tenant directory unavailable; retry later") from exc
    directory.apply(tenant_record_key(record.tenant_id), record.model_dump_json().encode(), offset)
    return info_of(record)
