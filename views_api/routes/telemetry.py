"""The telemetry views under /api/dashboard/{tenant_id}/: telemetry, analytics, conversations, missing products.

Every figure reads the rollups except the two session lists (the live sessions of telemetry and the
recent conversations), which are raw drill-downs. The models (views_api.models_telemetry) define
each derived figure.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Query

from views_api import missing, queries, reading
from views_api.context import Tenant, TenantCtx, period_params, scope
from views_api.deps import DatabaseDep, NowDep, WarehouseDep, one, run
from views_api.models_telemetry import (
    Analytics,
    Conversations,
    DomainUsage,
    HourPoint,
    LanguageShare,
    Live,
    LiveSession,
    MessageMetrics,
    MissingCategories,
    MissingProduct,
    MissingProducts,
    MissingStatistics,
    ModelUsage,
    QueryCount,
    RecentConversation,
    Telemetry,
    TelemetryCost,
    TelemetryOverview,
    TelemetryPerformance,
    TelemetryTokens,
)
from views_api.periods import Bucket, Period, bucket_starts, floor, shift, source_granularity
from views_api.queries import Scope
from views_api.reading import change, mean, money, rate

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["telemetry"])

Week = Annotated[Period, Depends(period_params("7d"))]
Month = Annotated[Period, Depends(period_params("30d"))]

MAX_TREND_HOURS: Final = 744
LIVE_WINDOW: Final = timedelta(minutes=60)
LIVE_LOOKBACK: Final = timedelta(hours=24)
LIVE_LIMIT: Final = 20
RECENT_LIMIT: Final = 10
TOP_QUERIES: Final = 10
QUERY_CHARS: Final = 50
WINDOW: Final = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
LANGUAGES: Final = {"en": "English", "es": "Spanish", "fr": "French", "de": "German"}
COLORS: Final = {
    "English": "bg-blue-500",
    "Spanish": "bg-yellow-500",
    "French": "bg-purple-500",
    "German": "bg-red-500",
    "Other": "bg-gray-500",
}
_WORDS: Final = {
    "1h": "Last hour",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "1y": "Last year",
}
_CENT: Final = Decimal("0.01")
FEEDBACK: Final = ("rating_sum", "rating_count", "thumbs_up", "thumbs_down")


def time_range(period: Period) -> str:
    """The period in words, (`time_range`)."""
    if period.label in _WORDS:
        return _WORDS[period.label]
    if period.label.startswith("days="):
        n = int(period.label.removeprefix("days="))
        return "Last day" if n == 1 else f"Last {n} days"
    return f"from {period.since:%Y-%m-%d %H:%M} to {period.until:%Y-%m-%d %H:%M} UTC"


def unit_of(period: Period) -> Bucket:
    """The finest bucket the telemetry views need: minutes for minute-bucketed periods, else hours."""
    return "minute" if period.bucket == "minute" else "hour"


def fine_scope(tenant: Tenant, period: Period, *types: str, **filters: Any) -> Scope:
    """The period's rows of `types` in stored windows that tile its hours (minutes)."""
    unit = unit_of(period)
    granularity = "minute" if unit == "minute" else source_granularity("hour", period.tz, tenant.tz, period.since)
    return Scope(tenant.tenant_id, granularity, period.since, period.until, types, **filters)


def elapsed_end(period: Period, now: datetime) -> datetime:
    """End of the current hour (minute) or of the period, whichever comes first (never before its start)."""
    unit = unit_of(period)
    return max(period.since, min(period.until, shift(floor(now, unit, period.tz), unit, 1, period.tz)))


def ratio(part: int, whole: int) -> Decimal:
    """part / whole as a 2-decimal Decimal (0 when whole is 0)."""
    return (Decimal(part) / Decimal(whole)).quantize(_CENT, ROUND_HALF_EVEN) if whole else Decimal("0.00")


def trend(rows: list[dict[str, Any]], starts: list[datetime]) -> Literal["increasing", "decreasing", "stable"]:
    """Second half vs first half of `starts` (bucket starts) by cost per bucket, with a 10% band."""
    if len(starts) < 2:
        return "stable"
    mid, end = starts[len(starts) // 2], starts[-1]
    first = sum((r["cost_usd"] for r in rows if reading.utc(r["bucket"]) < mid), Decimal(0))
    second = sum((r["cost_usd"] for r in rows if mid <= reading.utc(r["bucket"]) <= end), Decimal(0))
    n1, n2 = len(starts) // 2, len(starts) - len(starts) // 2
    # second / n2 against first / n1, without dividing
    if second * n1 * 10 > first * n2 * 11:
        return "increasing"
    if second * n1 * 10 < first * n2 * 9:
        return "decreasing"
    return "stable"


def hourly(period: Period, rows: list[dict[str, Any]], end: datetime) -> list[HourPoint]:
    """Cost and requests per hour of [since, end), zero-filled, the last MAX_TREND_HOURS hours."""
    if end <= period.since:
        return []
    first = floor(period.since, "hour", period.tz)
    last = floor(end - timedelta(microseconds=1), "hour", period.tz)
    hours = bucket_starts(first, shift(last, "hour", 1, period.tz), "hour", period.tz)[-MAX_TREND_HOURS:]
    cost = dict.fromkeys(hours, Decimal(0))
    requests = dict.fromkeys(hours, 0)
    for row in rows:
        hour = floor(reading.utc(row["bucket"]), "hour", period.tz)
        if hour in cost:
            cost[hour] += row["cost_usd"]
            requests[hour] += row["events"]
    return [HourPoint(hour=h, cost=cost[h], requests=requests[h]) for h in hours]


@router.get("/telemetry", response_model=Telemetry)
async def telemetry(
    tenant: TenantCtx,
    period: Week,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    now: NowDep,
    domain: Annotated[str | None, Query(max_length=253, description="Only this domain's events.")] = None,
) -> Telemetry:
    """LLM requests, cost, tokens and performance of the period, by model, domain and hour, and live sessions."""
    llm = scope(tenant, period, "llm_call", domain=domain)
    measures = ("events", "errors", "input_tokens", "output_tokens", "cost_usd", "latency_ms_sum", "latency_count")
    totals = await one(warehouse, queries.rollup_totals(database, llm, (*measures, "sessions")))
    models = await run(
        warehouse,
        queries.rollup_totals(
            database,
            llm,
            ("events", "input_tokens", "output_tokens", "cost_usd"),
            ("provider", "model"),
            order_by=("events DESC", "cost_usd DESC", "model", "provider"),
        ),
    )
    domains = await run(
        warehouse,
        queries.rollup_totals(database, llm, ("events", "cost_usd"), ("domain",), order_by=("events DESC", "domain")),
    )
    unit = unit_of(period)
    fine = await run(
        warehouse,
        queries.rollup_totals(
            database,
            fine_scope(tenant, period, "llm_call", domain=domain),
            ("events", "cost_usd"),
            bucket=(unit, period.tz.key),
        ),
    )
    searches = await one(
        warehouse, queries.rollup_totals(database, scope(tenant, period, "search", domain=domain), ("events",))
    )
    minute = floor(now, "minute", period.tz)
    last_hour = Scope(
        tenant.tenant_id, "minute", minute - LIVE_WINDOW + WINDOW["minute"], minute + WINDOW["minute"], domain=domain
    )
    live = await one(warehouse, queries.rollup_totals(database, last_hour, ("sessions", "cost_usd")))
    sessions = await run(
        warehouse,
        queries.live_sessions(
            database, tenant.tenant_id, last_hour.since, last_hour.until, now - LIVE_LOOKBACK, LIVE_LIMIT, domain
        ),
    )

    requests, failed = totals["events"], totals["errors"]
    cost: Decimal = totals["cost_usd"]
    end = elapsed_end(period, now)
    seconds = int((end - period.since).total_seconds())
    per_second = cost / seconds if seconds else Decimal(0)
    tokens = totals["input_tokens"] + totals["output_tokens"]
    return Telemetry(
        overview=TelemetryOverview(
            total_requests=requests,
            successful_requests=requests - failed,
            failed_requests=failed,
            success_rate=rate(requests - failed, requests),
            error_rate=rate(failed, requests),
            active_sessions=live["sessions"],
            time_range=time_range(period),
        ),
        cost=TelemetryCost(
            total=cost,
            average=money(cost / requests) if requests else money(Decimal(0)),
            per_hour=money(per_second * 3600),
            projected_daily=money(per_second * 3600 * 24),
            projected_monthly=money(per_second * 3600 * 24 * 30),
            trend=trend(fine, bucket_starts(period.since, end, unit, period.tz)),
        ),
        tokens=TelemetryTokens(
            total_input=totals["input_tokens"],
            total_output=totals["output_tokens"],
            total=tokens,
            avg_per_request=mean(tokens, requests),
        ),
        performance=TelemetryPerformance(
            avg_response_time=mean(totals["latency_ms_sum"], totals["latency_count"]),
            total_searches=searches["events"],
            avg_searches_per_request=ratio(searches["events"], requests),
            avg_iterations=ratio(requests, totals["sessions"]),
        ),
        model_usage=[
            ModelUsage(
                model=m["model"],
                provider=m["provider"],
                count=m["events"],
                cost=m["cost_usd"],
                tokens=m["input_tokens"] + m["output_tokens"],
                percentage=rate(m["events"], requests),
            )
            for m in models
        ],
        domain_breakdown=[DomainUsage(domain=d["domain"], requests=d["events"], cost=d["cost_usd"]) for d in domains],
        hourly_trend=hourly(period, fine, end),
        live=Live(
            active_sessions=live["sessions"],
            current_cost=live["cost_usd"],
            sessions_data=[
                LiveSession(
                    id=s["session_id"],
                    uptime=max(0, int((now - s["started_at"]).total_seconds())),
                    cost=s["cost_usd"],
                    model=s["model"],
                )
                for s in sessions
            ],
        ),
    )


def language_name(code: str) -> str:
    """English, Spanish, French or German by the code's primary subtag ('es-MX' is Spanish), else Other."""
    return LANGUAGES.get(code.lower().replace("_", "-").split("-")[0], "Other")


@router.get("/analytics", response_model=Analytics)
async def analytics(tenant: TenantCtx, period: Week, warehouse: WarehouseDep, database: DatabaseDep) -> Analytics:
    """Response time, satisfaction, resolution, search queries, languages and message volume of the period."""
    measures = ("events", "latency_ms_sum", "latency_count", *FEEDBACK)
    kinds = scope(tenant, period, "llm_call", "feedback", "session_ended", "search")
    rows = await run(warehouse, queries.rollup_totals(database, kinds, measures, ("type", "end_reason")))
    search = scope(tenant, period, "search")
    top = await run(
        warehouse,
        queries.rollup_totals(
            database, search, ("events",), ("query",), order_by=("events DESC", "query"), limit=TOP_QUERIES
        ),
    )
    zero = scope(tenant, period, "search", match={"outcome": ("zero",)})
    failed = await run(
        warehouse,
        queries.rollup_totals(
            database, zero, ("events",), ("query",), order_by=("events DESC", "query"), limit=TOP_QUERIES
        ),
    )
    messages = await run(
        warehouse, queries.rollup_totals(database, scope(tenant, period, "message"), ("events",), ("role", "language"))
    )

    def sum_of(measure: str, kind: str, **where: str) -> int:
        return int(reading.total(rows, measure, type=kind, **where))

    votes = sum_of("rating_count", "feedback") + sum_of("thumbs_up", "feedback") + sum_of("thumbs_down", "feedback")
    score = sum_of("rating_sum", "feedback") + 5 * sum_of("thumbs_up", "feedback") + sum_of("thumbs_down", "feedback")
    ended = sum_of("events", "session_ended")
    latency, calls = sum_of("latency_ms_sum", "llm_call"), sum_of("latency_count", "llm_call")
    searches = sum_of("events", "search")
    languages: dict[str, int] = {}
    for m in messages:
        if m["language"]:
            name = language_name(m["language"])
            languages[name] = languages.get(name, 0) + m["events"]
    with_language = sum(languages.values())
    total_messages = sum(m["events"] for m in messages)
    days = (period.until - period.since).total_seconds() / 86400
    return Analytics(
        response_time=round(latency / calls / 1000, 3) if calls else 0.0,
        satisfaction_score=round(score / votes, 2) if votes else None,
        resolution_rate=rate(sum_of("events", "session_ended", end_reason="completed"), ended) if ended else None,
        top_queries=[
            QueryCount(query=t["query"][:QUERY_CHARS], count=t["events"], percentage=rate(t["events"], searches))
            for t in top
        ],
        failed_searches=[f["query"] for f in failed],
        language_distribution=[
            LanguageShare(language=name, percentage=rate(n, with_language), color=COLORS[name])
            for name, n in sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        metrics=MessageMetrics(
            total_messages=total_messages,
            user_messages=sum(m["events"] for m in messages if m["role"] == "user"),
            avg_messages_per_day=round(total_messages / days, 2),
        ),
    )


@router.get("/conversations", response_model=Conversations)
async def conversations(
    tenant: TenantCtx, period: Week, warehouse: WarehouseDep, database: DatabaseDep
) -> Conversations:
    """Sessions started in the period vs the previous one, and the latest sessions."""
    started = await one(
        warehouse, queries.rollup_totals(database, scope(tenant, period, "session_started"), ("events",))
    )
    before = await one(
        warehouse,
        queries.rollup_totals(database, scope(tenant, period, "session_started", previous=True), ("events",)),
    )
    recent = await run(
        warehouse, queries.session_list(database, tenant.tenant_id, period.since, period.until, RECENT_LIMIT)
    )
    return Conversations(
        total=started["events"],
        change=change(started["events"], before["events"]),
        recent=[
            RecentConversation(
                id=r["session_id"], timestamp=r["started_at"], messages=r["messages"], channel=r["channel"]
            )
            for r in recent
        ],
    )


@router.get("/missing-products", response_model=MissingProducts)
async def missing_products(
    tenant: TenantCtx, period: Month, warehouse: WarehouseDep, database: DatabaseDep
) -> MissingProducts:
    """Products people searched for and did not find (zero-result searches), by demand."""
    searches = fine_scope(tenant, period, "search")
    by_outcome = await run(warehouse, queries.rollup_totals(database, searches, ("events",), ("outcome",)))
    zero = replace(searches, match={"outcome": ("zero",)})
    rows = await run(warehouse, queries.rollup_totals(database, zero, ("events", "last_window"), ("query",)))
    window = WINDOW[searches.granularity]
    products = missing.group((r["query"], r["events"], r["last_window"] + window) for r in rows)
    total_requests = sum(p.count for p in products)
    categories = missing.categorize(products)
    return MissingProducts(
        missing_products=[
            MissingProduct(
                name=p.name,
                count=p.count,
                last_requested=p.last_requested or period.until,
                examples=p.examples,
            )
            for p in products
        ],
        statistics=MissingStatistics(
            total_missing_products=len(products),
            total_requests=total_requests,
            avg_requests_per_product=mean(total_requests, len(products)),
            time_range=time_range(period),
        ),
        categories=MissingCategories(**categories),
        recommendations=missing.recommend(
            products, int(reading.total(by_outcome, "events", outcome="zero")), int(reading.total(by_outcome, "events"))
        ),
    )
