"""Per-request context of tenant views: who asks, for which tenant, over which period.

`TenantCtx` authenticates the key (401), checks it may read the tenant (403), counts the request
against the key's rate (429, `views_api.limits`), checks that the tenant exists (404) and counts the
request against the tenant's rate (429). `period_params(default)` builds the dependency that resolves
a view's period parameters (`period`, `days`, `from`/`to`, `tz`, `granularity`) in the
tenant's zone; a wrong value is a 422 naming the parameter.
"""

# Annotations stay evaluated at definition time: `period_params` builds its parameters from its arguments.

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Final, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse

from schemas.tenancy import TenantRecord
from schemas.types import TenantId
from tenancy.directory import Directory, Principal
from tenancy.http import AuthError, authenticate, authorize_tenant, bearer_token
from views_api import limits
from views_api.deps import NowDep
from views_api.periods import Period, PeriodError, resolve, source_granularity, zone
from views_api.queries import Scope
from views_api.settings import ViewsSettings


@dataclass(frozen=True)
class Tenant:
    """The tenant a request reads, and the principal reading it."""

    tenant_id: str
    record: TenantRecord
    principal: Principal

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.record.timezone)


async def tenant_context(
    tenant_id: Annotated[TenantId, Path(description="The tenant's id.")], request: Request
) -> Tenant:
    """401 without a valid read/admin key, 403 for another tenant's key, 429 past the key's or the tenant's
    request rate, 404 for an unknown tenant (checked before its rate: no bucket for names that are no tenant)."""
    directory: Directory = request.app.state.directory
    principal = authenticate(directory, bearer_token(request), "read", "admin")
    authorize_tenant(principal, tenant_id)
    guard: limits.Limits = request.app.state.limits
    guard.admit_key(principal)
    record = directory.tenant(tenant_id)
    if record is None:
        raise AuthError(404, f"unknown tenant {tenant_id!r}")
    guard.admit_tenant(principal, tenant_id)
    return Tenant(tenant_id, record, principal)


TenantCtx = Annotated[Tenant, Depends(tenant_context)]

PeriodName = Literal["1h", "24h", "7d", "30d", "90d", "1y"]
Granularity = Literal["minute", "hour", "day", "week", "month"]


def period_params(default: str = "7d") -> Callable[..., Awaitable[Period]]:
    """A dependency resolving the period parameters; `default` applies when none is given."""

    async def period_of(
        tenant: TenantCtx,
        now: NowDep,
        period: Annotated[PeriodName | None, Query(description=f"Period ending now (default {default}).")] = None,
        days: Annotated[int | None, Query(ge=1, le=1830, description="Last N days, today included.")] = None,
        from_: Annotated[
            str | None, Query(alias="from", max_length=40, description="Start: ISO date or date-time.")
        ] = None,
        to: Annotated[
            str | None, Query(max_length=40, description="End: ISO date (inclusive) or date-time (exclusive).")
        ] = None,
        tz: Annotated[str | None, Query(max_length=64, description="IANA time zone (default: the tenant's).")] = None,
        granularity: Annotated[Granularity | None, Query(description="Bucket size (default: by span).")] = None,
    ) -> Period:
        return resolve(
            now,
            period=period,
            days=days,
            from_=from_,
            to=to,
            tz=zone(tz, tenant.record.timezone),
            granularity=granularity,
            default=default,
        )

    return period_of


def scope(tenant: Tenant, period: Period, *types: str, previous: bool = False, **filters: object) -> Scope:
    """The rollup rows of `types` in `period` (or the previous period), read at the coarsest aligned size."""
    granularity = source_granularity(period.bucket, period.tz, tenant.tz, period.since)
    since, until = (period.prev_since, period.since) if previous else (period.since, period.until)
    return Scope(tenant.tenant_id, granularity, since, until, types, **filters)  # type: ignore[arg-type]


DEFAULT_RAW_RETENTION_DAYS: Final = 30


def raw_oldest(request: Request, now: datetime) -> datetime:
    """The oldest instant whose raw events are still stored (`raw_retention_days` of the app)."""
    days: int = getattr(request.app.state, "raw_retention_days", DEFAULT_RAW_RETENTION_DAYS)
    return now - timedelta(days=days)


def raw_kept(request: Request, now: datetime, period: Period) -> bool:
    """Whether the raw events of `period` are still stored."""
    return period.since >= raw_oldest(request, now)


def require_raw(request: Request, now: datetime, period: Period, what: str) -> None:
    """A PeriodError naming the period parameter used, when `period` starts before the raw retention."""
    oldest = raw_oldest(request, now)
    if not raw_kept(request, now, period):
        param = "from" if period.label == "from/to" else "days" if period.label.startswith("days=") else "period"
        days = round((now - oldest).total_seconds() / 86400)
        raise PeriodError(param, f"{what} read stored events, kept {days} days: start on or after {oldest:%Y-%m-%d}")


async def period_error_response(request: Request, exc: Exception) -> JSONResponse:
    """A PeriodError as FastAPI's own 422 shape, naming the parameter."""
    assert isinstance(exc, PeriodError)
    detail = [{"loc": ["query", exc.param], "msg": exc.message, "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


def install(app: FastAPI, settings: ViewsSettings | None = None) -> None:
    """The 422 of period parameters, and the limits of `settings` (default: from the environment)."""
    app.add_exception_handler(PeriodError, period_error_response)
    limits.install(app, settings or ViewsSettings())
