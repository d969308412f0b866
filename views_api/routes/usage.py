"""Usage analytics and model comparison under /api/dashboard/{tenant_id}/ (LLM calls only).

Everything reads the rollups' `llm_call` rows (named `provider`, `model` by the registry) except the conversation
table, a drill-down over the raw events (`queries.conversation_tokens`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from views_api import queries, reading
from views_api.context import Tenant, TenantCtx, period_params, scope
from views_api.deps import DatabaseDep, NowDep, WarehouseDep, run
from views_api.models import PeriodOut
from views_api.models_insights import (
    ConversationUsage,
    ModelComparison,
    ModelStats,
    ProviderUsage,
    Usage,
    UsageDay,
    UsageMonth,
    UsageSummary,
    UsageWeek,
)
from views_api.periods import Period, last, resolve
from views_api.reading import rate, series

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["usage"])

UsageType = Literal["all", "daily", "weekly", "monthly", "conversation"]
TOKENS = ("events", "input_tokens", "output_tokens", "cost_usd", "audio_seconds")
"""The rollup measures of a usage figure (`events` = requests; `audio_seconds` gives Whisper minutes)."""
WEEKS = 12
MONTHS = 12
TOP_CONVERSATIONS = 20


def audio_minutes(seconds: float) -> float:
    """Minutes of audio (Whisper and other models priced by duration) from summed `audio_seconds`, to 4 places."""
    return round(seconds / 60, 4)


def _figures(row: Mapping[str, Any]) -> dict[str, Any]:
    """Token, cost, request and audio fields of a summed row of `TOKENS`."""
    return {
        "input_tokens": row["input_tokens"],
        "output_tokens": row["output_tokens"],
        "total_tokens": row["input_tokens"] + row["output_tokens"],
        "cost_usd": row["cost_usd"],
        "requests": row["events"],
        "audio_minutes": audio_minutes(row["audio_seconds"]),
    }


def _sum(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    picked = list(rows)
    return {m: sum((r[m] for r in picked), Decimal(0) if m == "cost_usd" else 0) for m in TOKENS}


def by_provider(rows: Iterable[Mapping[str, Any]]) -> list[ProviderUsage]:
    """Rows with a `provider` column, summed per provider, most expensive first."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["provider"], []).append(row)
    totals = {provider: _sum(picked) for provider, picked in grouped.items()}
    cost = sum((t["cost_usd"] for t in totals.values()), Decimal(0))
    requests = sum(t["events"] for t in totals.values())
    out = [
        ProviderUsage(
            provider=provider,
            share_pct=rate(t["cost_usd"], cost) if cost else rate(t["events"], requests),
            **_figures(t),
        )
        for provider, t in totals.items()
    ]
    return sorted(out, key=lambda p: (-p.cost_usd, -p.requests, p.provider))


async def _llm_rows(
    warehouse: WarehouseDep, database: str, tenant: Tenant, period: Period, group_by: tuple[str, ...] = ("provider",)
) -> list[dict[str, Any]]:
    q = queries.rollup_totals(
        database, scope(tenant, period, "llm_call"), TOKENS, group_by, (period.bucket, period.tz.key)
    )
    return await run(warehouse, q)


@router.get("/usage", response_model=Usage)
async def usage(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    days: Annotated[int, Query(ge=1, le=1830, description="Last N days, today included (tenant zone).")] = 30,
    type_: Annotated[UsageType, Query(alias="type", description="Which sections to answer.")] = "all",
) -> Usage:
    """LLM tokens, cost, requests and audio minutes per day, week (`type=weekly`: the last 12 Monday weeks)
    and month, the top conversations and the period's totals."""
    period = resolve(now, days=days, tz=tenant.tz, granularity="day")
    daily: list[UsageDay] | None = None
    weekly: list[UsageWeek] | None = None
    monthly: list[UsageMonth] | None = None
    conversations: list[ConversationUsage] | None = None
    summary: UsageSummary | None = None
    if type_ in ("all", "daily"):
        rows = await _llm_rows(warehouse, database, tenant, period)
        daily = [UsageDay(start=p["start"], **_figures(p)) for p in series(period, rows, TOKENS)]
        if type_ == "all":
            totals = _sum(rows)
            summary = UsageSummary(
                total_tokens=totals["input_tokens"] + totals["output_tokens"],
                prompt_tokens=totals["input_tokens"],
                completion_tokens=totals["output_tokens"],
                cost_usd=totals["cost_usd"],
                requests=totals["events"],
                audio_minutes=audio_minutes(totals["audio_seconds"]),
                by_provider=by_provider(rows),
            )
    if type_ in ("all", "weekly"):
        weeks = last(now, "week", WEEKS, tenant.tz)
        rows = await _llm_rows(warehouse, database, tenant, weeks, ())
        weekly = [UsageWeek(start=p["start"], **_figures(p)) for p in series(weeks, rows, TOKENS)]
    if type_ in ("all", "monthly"):
        months = last(now, "month", MONTHS, tenant.tz)
        grouped = reading.by_bucket(await _llm_rows(warehouse, database, tenant, months))
        monthly = [
            UsageMonth(
                start=start, by_provider=by_provider(grouped.get(start, ())), **_figures(_sum(grouped.get(start, ())))
            )
            for start in months.buckets
        ]
    if type_ in ("all", "conversation"):
        q = queries.conversation_tokens(database, tenant.tenant_id, period.since, period.until, TOP_CONVERSATIONS)
        conversations = [
            ConversationUsage(
                session_id=r["session_id"],
                requests=r["requests"],
                input_tokens=r["prompt_tokens"],
                output_tokens=r["completion_tokens"],
                total_tokens=r["tokens"],
                cost_usd=r["cost_usd"],
                first_call_at=r["first_call_at"],
                last_call_at=r["last_call_at"],
            )
            for r in await run(warehouse, q)
        ]
    return Usage(
        tenant_id=tenant.tenant_id,
        type=type_,
        period=PeriodOut.of(period),
        daily=daily,
        weekly=weekly,
        monthly=monthly,
        by_conversation=conversations,
        summary=summary,
    )


MODEL_MEASURES = (
    "events",
    "errors",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms_sum",
    "latency_buckets",
    "audio_seconds",
)
"""(Not `latency_count` too: its alias-shadowed `latency_buckets` makes ClickHouse nest the aggregates.)"""


@router.get("/models", response_model=ModelComparison)
async def models(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    period: Annotated[Period, Depends(period_params("30d"))],
) -> ModelComparison:
    """Providers' models side by side: requests, error rate, tokens, audio minutes, cost, cost per 1k tokens,
    latency, cost share."""
    q = queries.rollup_totals(
        database,
        scope(tenant, period, "llm_call"),
        MODEL_MEASURES,
        ("provider", "model"),
        order_by=("cost_usd DESC", "events DESC", "provider", "model"),
    )
    rows = await run(warehouse, q)
    total_cost = sum((r["cost_usd"] for r in rows), Decimal(0))
    total_requests = sum(r["events"] for r in rows)
    out = []
    for r in rows:
        tokens = r["input_tokens"] + r["output_tokens"]
        latency = [int(n) for n in r["latency_buckets"]]  # Array(UInt64) elements arrive as strings
        out.append(
            ModelStats(
                provider=r["provider"],
                model=r["model"],
                requests=r["events"],
                errors=r["errors"],
                error_rate_pct=rate(r["errors"], r["events"]),
                input_tokens=r["input_tokens"],
                output_tokens=r["output_tokens"],
                audio_minutes=audio_minutes(r["audio_seconds"]),
                cost_usd=r["cost_usd"],
                cost_per_1k_tokens_usd=reading.money(r["cost_usd"] * 1000 / tokens) if tokens else Decimal(0),
                avg_latency_ms=reading.mean(r["latency_ms_sum"], sum(latency)) if sum(latency) else None,
                p50_latency_ms=reading.percentile(latency, 0.5),
                p95_latency_ms=reading.percentile(latency, 0.95),
                cost_share_pct=rate(r["cost_usd"], total_cost) if total_cost else rate(r["events"], total_requests),
            )
        )
    return ModelComparison(
        tenant_id=tenant.tenant_id,
        period=PeriodOut.of(period),
        total_requests=total_requests,
        total_cost_usd=total_cost,
        models=out,
    )
