"""Tenant-defined funnels: save them (admin keys), list them, and report one over a period.

A funnel (`schemas.funnels.FunnelDefinition`) is saved as one record of the tenant directory (key
`funnel:<tenant>:<id>`), written to the directory topic and acknowledged by Kafka before the answer, like
the store settings; every views process follows it. At most `MAX_FUNNELS` per tenant (409 beyond); the
built-in `ecommerce` funnel is listed with them and cannot be changed. A report reads the raw events
(`views_api.queries.funnels`: windowFunnel per session or end user), so its period must start within
the raw retention (422 otherwise).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status
from fastapi.exceptions import RequestValidationError

from schemas.funnels import (
    BUILT_IN,
    FUNNEL_ID,
    MAX_FUNNELS,
    FunnelDefinition,
    FunnelError,
    FunnelRecord,
    ResolvedFunnel,
    funnel_record_key,
    resolve_funnel,
)
from storage import Warehouse
from tenancy.directory import Directory
from tenancy.http import AuthError
from tenancy.kafka_log import DirectoryWriter
from views_api import reading
from views_api.context import Tenant, TenantCtx, period_params, require_raw
from views_api.deps import DatabaseDep, NowDep, WarehouseDep, run
from views_api.models import PeriodOut
from views_api.models_funnels import FunnelDay, FunnelList, FunnelOut, FunnelReport, FunnelStepResult, StepFigures
from views_api.periods import Period
from views_api.queries.funnels import FunnelSpan, funnel_levels

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["funnels"])

FunnelIdPath = Annotated[str, Path(pattern=FUNNEL_ID, max_length=48, description="The funnel's id.")]


# -- counting (shared with GET .../funnel) ------------------------------------------------------------


@dataclass(frozen=True)
class FunnelCounts:
    totals: list[int]
    """Actors reaching each step over the period."""
    daily: list[tuple[datetime, list[int]]]
    """Per bucket of the period, the same over the actors whose first step falls in it."""


def reached(rows: list[dict[str, Any]], steps: int, buckets: list[datetime]) -> FunnelCounts:
    """Actors per (bucket, level) folded into actors reaching each step, overall and per bucket."""
    totals = [0] * steps
    by_bucket = {start: [0] * steps for start in buckets}
    for row in rows:
        level, actors = min(int(row["level"]), steps), int(row["actors"])
        day = by_bucket.setdefault(reading.utc(row["bucket"]), [0] * steps)
        for k in range(level):
            totals[k] += actors
            day[k] += actors
    return FunnelCounts(totals, sorted(by_bucket.items()))


async def funnel_counts(
    warehouse: Warehouse, database: str, tenant_id: str, funnel: ResolvedFunnel, period: Period
) -> FunnelCounts:
    span = FunnelSpan(tenant_id, period.since, period.until, period.tz.key, period.bucket)
    rows = await run(warehouse, funnel_levels(database, funnel, span))
    return reached(rows, len(funnel.steps), period.buckets)


def figures(counts: list[int]) -> list[StepFigures]:
    """Each step's actors, conversion from the first and the previous step, and drop-off."""
    out = []
    for i, actors in enumerate(counts):
        previous = counts[i - 1] if i else None
        drop = max(previous - actors, 0) if previous is not None else None
        out.append(
            StepFigures(
                actors=actors,
                from_first_pct=reading.rate(actors, counts[0]),
                from_previous_pct=reading.rate(actors, previous) if previous is not None else None,
                drop_off=drop,
                drop_off_pct=reading.rate(drop, previous) if previous is not None and drop is not None else None,
            )
        )
    return out


# -- definitions ----------------------------------------------------------------------------------------


def _directory(request: Request) -> Directory:
    directory: Directory = request.app.state.directory
    return directory


def _admin(tenant: Tenant) -> None:
    if tenant.principal.scope != "admin":
        raise AuthError(403, "changing funnels needs an admin key (this key can only read)")


def _resolved(definition: FunnelDefinition) -> ResolvedFunnel:
    """The definition checked against the vocabulary, or a 422 naming the filter (`body.steps.1.where.0`)."""
    try:
        return resolve_funnel(definition)
    except FunnelError as exc:
        raise RequestValidationError([{"loc": ("body", *exc.loc), "msg": exc.message, "type": "value_error"}]) from None


def _find(request: Request, tenant_id: str, funnel_id: str) -> tuple[FunnelDefinition, FunnelOut]:
    """A built-in funnel, or one the tenant saved (404 for any other id, another tenant's too)."""
    if funnel_id in BUILT_IN:
        return BUILT_IN[funnel_id], FunnelOut.of(funnel_id, BUILT_IN[funnel_id])
    record = _directory(request).tenant_funnels(tenant_id).get(funnel_id)
    if record is None:
        raise AuthError(404, f"no funnel {funnel_id!r}")
    return record.definition, FunnelOut.of(funnel_id, record.definition, (record.created_at, record.updated_at))


def _funnel_writes(request: Request) -> asyncio.Lock:
    """Serializes this process's funnel writes: the count of saved funnels and the write are one step."""
    lock: asyncio.Lock | None = getattr(request.app.state, "funnel_writes", None)
    if lock is None:
        lock = request.app.state.funnel_writes = asyncio.Lock()
    return lock


async def _write(request: Request, tenant_id: str, funnel_id: str, record: FunnelRecord | None) -> None:
    """Write the funnel's record (None: delete it); applied here once Kafka acknowledged it."""
    writer: DirectoryWriter | None = request.app.state.directory_writer
    if writer is None:
        raise AuthError(503, "this views process cannot change funnels (no tenant directory writer)")
    key = funnel_record_key(tenant_id, funnel_id)
    value = record.model_dump_json().encode() if record is not None else None
    try:
        offset = await writer.write(key, value)
    except Exception as exc:  # a Kafka error: nothing is known to be saved
        raise AuthError(503, "tenant directory unavailable; retry later") from exc
    _directory(request).apply(key, value, offset)


def _unchangeable(funnel_id: str) -> None:
    if funnel_id in BUILT_IN:
        raise AuthError(409, f"{funnel_id!r} is built in and cannot be changed; save your own with POST .../funnels")


@router.get("/funnels", response_model=FunnelList)
async def list_funnels(tenant: TenantCtx, request: Request) -> FunnelList:
    """The built-in funnels, then the tenant's saved ones by name."""
    saved = sorted(
        _directory(request).tenant_funnels(tenant.tenant_id).values(),
        key=lambda r: (r.definition.name, r.funnel_id),
    )
    funnels = [FunnelOut.of(i, d) for i, d in BUILT_IN.items()]
    funnels += [FunnelOut.of(r.funnel_id, r.definition, (r.created_at, r.updated_at)) for r in saved]
    return FunnelList(tenant_id=tenant.tenant_id, max_saved=MAX_FUNNELS, funnels=funnels)


@router.post("/funnels", response_model=FunnelOut, status_code=status.HTTP_201_CREATED)
async def create_funnel(tenant: TenantCtx, definition: FunnelDefinition, request: Request, now: NowDep) -> FunnelOut:
    """Save a new funnel (admin key); its id is derived from its name. 409 past `max_saved` funnels."""
    _admin(tenant)
    _resolved(definition)
    slug = re.sub(r"[^a-z0-9]+", "-", definition.name.lower()).strip("-")[:40] or "funnel"
    async with _funnel_writes(request):
        saved = _directory(request).tenant_funnels(tenant.tenant_id)
        if len(saved) >= MAX_FUNNELS:
            raise AuthError(409, f"funnel quota reached: at most {MAX_FUNNELS} saved funnels per tenant")
        funnel_id = f"{slug}-{secrets.token_hex(3)}"
        while funnel_id in saved:  # never overwrite one
            funnel_id = f"{slug}-{secrets.token_hex(3)}"
        record = FunnelRecord(
            tenant_id=tenant.tenant_id, funnel_id=funnel_id, definition=definition, created_at=now, updated_at=now
        )
        await _write(request, tenant.tenant_id, funnel_id, record)
    return FunnelOut.of(funnel_id, definition, (now, now))


@router.get("/funnels/{funnel_id}", response_model=FunnelOut)
async def get_funnel(tenant: TenantCtx, funnel_id: FunnelIdPath, request: Request) -> FunnelOut:
    """One funnel's definition."""
    return _find(request, tenant.tenant_id, funnel_id)[1]


@router.put("/funnels/{funnel_id}", response_model=FunnelOut)
async def replace_funnel(
    tenant: TenantCtx, funnel_id: FunnelIdPath, definition: FunnelDefinition, request: Request, now: NowDep
) -> FunnelOut:
    """Replace a saved funnel (admin key); its id stays. The built-in one cannot be changed (409)."""
    _admin(tenant)
    _unchangeable(funnel_id)
    _resolved(definition)
    async with _funnel_writes(request):
        existing = _directory(request).tenant_funnels(tenant.tenant_id).get(funnel_id)
        if existing is None:
            raise AuthError(404, f"no funnel {funnel_id!r}")
        record = existing.model_copy(update={"definition": definition, "updated_at": now})
        await _write(request, tenant.tenant_id, funnel_id, record)
    return FunnelOut.of(funnel_id, definition, (record.created_at, now))


@router.delete("/funnels/{funnel_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_funnel(tenant: TenantCtx, funnel_id: FunnelIdPath, request: Request) -> Response:
    """Delete a saved funnel (admin key)."""
    _admin(tenant)
    _unchangeable(funnel_id)
    async with _funnel_writes(request):
        if funnel_id not in _directory(request).tenant_funnels(tenant.tenant_id):
            raise AuthError(404, f"no funnel {funnel_id!r}")
        await _write(request, tenant.tenant_id, funnel_id, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/funnels/{funnel_id}/report", response_model=FunnelReport)
async def funnel_report(
    tenant: TenantCtx,
    funnel_id: FunnelIdPath,
    request: Request,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    period: Annotated[Period, Depends(period_params("7d"))],
) -> FunnelReport:
    """Per step: actors that reached it in order within the window, conversion from the first and the
    previous step, drop-off; and the same per day of the actors' first step (the period's zone)."""
    definition, funnel = _find(request, tenant.tenant_id, funnel_id)
    try:
        resolved = resolve_funnel(definition)
    except FunnelError as exc:  # saved before the vocabulary changed
        raise AuthError(409, f"funnel {funnel_id!r} no longer fits the events: {exc.message}; save it again") from None
    require_raw(request, now, period, "funnels")
    counts = await funnel_counts(warehouse, database, tenant.tenant_id, resolved, period)
    steps = [
        FunnelStepResult(step=s.title, event=s.event, name=s.name, **f.model_dump())
        for s, f in zip(resolved.steps, figures(counts.totals), strict=True)
    ]
    daily = [FunnelDay(start=start, steps=figures(day)) for start, day in counts.daily]
    return FunnelReport(
        tenant_id=tenant.tenant_id, funnel=funnel, period=PeriodOut.of(period), steps=steps, daily=daily
    )
