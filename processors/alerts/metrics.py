"""The figures alert rules compare: one query over the LLM-call rollups per evaluation, then pure sums.

`tick_query` reads the minute windows of the last hour and the day windows of the last 40 days for
the tenants with rules; `rule_value` picks the windows of a rule (rolling 5m/15m/1h of minute
windows, the tenant's current day, or its current month of day windows) and its filters, and
computes the metric. Pipeline metrics (consumer lag, DLQ rate) come from `PipelineProbe`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from schemas.alerts import PIPELINE_METRICS, AlertRule
from schemas.ddl import check_identifier
from schemas.registry import REGISTRY
from schemas.rollups import LATENCY_BOUNDS_MS, ROLLUPS_TABLE, latency_percentile

ROLLING = {"5m": 5, "15m": 15, "1h": 60}
ALERT_MEASURES = ("events", "errors", "input_tokens", "output_tokens", "cost_usd", "unpriced")
"""The registry measures every evaluation reads (`latency_buckets` too when a latency rule exists)."""
_DIMENSIONS = (
    *((d, REGISTRY.dimension_sql(d, ("llm_call",))) for d in ("provider", "model", "feature")),
    ("domain", "r.domain"),
)
"""The columns filtered rules split by: the llm_call dimensions the registry names, and the domain."""
MONTH_WINDOW_METRICS = ("budget_used_pct", "projected_budget_pct")


@dataclass(frozen=True)
class Query:
    sql: str
    params: dict[str, Any]


def tick_query(
    database: str, tenants: Sequence[str], now: datetime, detailed: Sequence[str] = (), latency: bool = False
) -> Query:
    """The LLM-call totals an evaluation needs, summed in the store: per tenant, one row per rolling
    window (`m5`, `m15`, `m60`: the last 5, 15, 60 minute windows, the current one included) and one per
    day window of the last 40 days (`day`, `window` = its start). Only the tenants in `detailed` (those
    with filtered rules) are split by provider, model, feature and domain; latency buckets only with
    `latency` (a latency rule exists). Everything else is summed, so the answer stays small."""
    table = f"{check_identifier(database)}.{ROLLUPS_TABLE}"
    dims = ",\n    ".join(
        f"if(has({{detailed:Array(String)}}, r.tenant_id), {sql}, '') AS {d}" for d, sql in _DIMENSIONS
    )
    measures = (*ALERT_MEASURES, *(("latency_buckets",) if latency else ()))
    sums = ",\n    ".join(f"{REGISTRY.measure(m).sql(f'r.{m}')} AS {m}" for m in measures)
    sql = (
        "SELECT r.tenant_id AS tenant_id,\n"
        "    if(r.granularity = 'day', 'day', concat('m', toString(span))) AS granularity,\n"
        "    if(r.granularity = 'day', toUnixTimestamp(r.window_start), 0) AS window,\n"
        f"    {dims},\n"
        f"    {sums}\n"
        f"FROM {table} AS r FINAL\n"
        "ARRAY JOIN if(r.granularity = 'day', [0], [5, 15, 60]) AS span\n"
        "WHERE r.type = 'llm_call' AND r.tenant_id IN {tenants:Array(String)}\n"
        "    AND ((r.granularity = 'minute' AND r.window_start > {minute:DateTime} - toIntervalMinute(span))\n"
        "      OR (r.granularity = 'day' AND r.window_start >= {day_since:DateTime}))\n"
        f"GROUP BY tenant_id, granularity, window, {', '.join(d for d, _ in _DIMENSIONS)}"
    )
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    return Query(
        sql,
        {
            "tenants": list(tenants),
            "detailed": list(detailed),
            "minute": minute.strftime("%Y-%m-%d %H:%M:%S"),
            "day_since": (now - timedelta(days=40)).strftime("%Y-%m-%d %H:%M:%S"),
        },
    )


def needs_detail(rule: AlertRule) -> bool:
    """Whether a rule filters by provider, model, feature or domain (its tenant's rows must be split)."""
    f = rule.filters
    return any(v is not None for v in (f.model, f.provider, f.feature, f.domain))


def _matches(row: Mapping[str, Any], rule: AlertRule) -> bool:
    f = rule.filters
    return (
        (f.provider is None or row["provider"] == f.provider)
        and (f.model is None or row["model"] == f.model)
        and (f.feature is None or row["feature"] == f.feature)
        and (f.domain is None or row["domain"] == f.domain)
    )


def _local_midnight(now: datetime, tz: ZoneInfo, days_back: int = 0, month: bool = False) -> datetime:
    local = now.astimezone(tz).date()
    day = local.replace(day=1) if month else local - timedelta(days=days_back)
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def _month_end(now: datetime, tz: ZoneInfo) -> datetime:
    local = now.astimezone(tz).date()
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


def window_rows(
    rows: Sequence[Mapping[str, Any]], rule: AlertRule, now: datetime, tz: ZoneInfo
) -> list[Mapping[str, Any]]:
    """The rows of the rule's window (and filters)."""
    window = "month" if rule.metric in MONTH_WINDOW_METRICS else rule.window
    if window in ROLLING:
        picked = [r for r in rows if r["granularity"] == f"m{ROLLING[window]}"]
    else:
        start = _local_midnight(now, tz, month=window == "month").timestamp()
        picked = [r for r in rows if r["granularity"] == "day" and r["window"] >= start]
    return [r for r in picked if _matches(r, rule)]


def rule_value(
    rule: AlertRule,
    rows: Sequence[Mapping[str, Any]],
    now: datetime,
    tz: ZoneInfo,
    budget: Decimal | None,
    pipeline: Mapping[str, float],
) -> float | None:
    """The rule's metric now, or None (no data, too few samples, no budget)."""
    if rule.metric in PIPELINE_METRICS:
        return pipeline.get(rule.metric)
    mine = window_rows(rows, rule, now, tz)
    events = sum(int(r["events"]) for r in mine)
    if events < rule.min_samples:
        return None
    cost = sum((Decimal(r["cost_usd"]) for r in mine), Decimal(0))
    metric = rule.metric
    if metric == "cost":
        return float(cost)
    if metric == "requests":
        return float(events)
    if metric == "tokens":
        return float(sum(int(r["input_tokens"]) + int(r["output_tokens"]) for r in mine))
    if metric == "unknown_model":
        return float(sum(int(r["unpriced"]) for r in mine))
    if metric == "error_rate":
        return sum(int(r["errors"]) for r in mine) * 100 / events if events else None
    if metric == "latency_p95":
        buckets = [0] * (len(LATENCY_BOUNDS_MS) + 1)
        for r in mine:
            buckets = [a + int(b) for a, b in zip(buckets, r["latency_buckets"], strict=True)]
        p95 = latency_percentile(buckets, 0.95)
        return float(p95) if p95 is not None else None
    if budget is None or budget <= 0:
        return None
    if metric == "budget_used_pct":
        return float(cost * 100 / budget)
    # projected_budget_pct: this month so far + the last 7 complete days' daily rate for the rest
    today = _local_midnight(now, tz).timestamp()
    week_ago = _local_midnight(now, tz, days_back=7).timestamp()
    recent = [r for r in rows if r["granularity"] == "day" and week_ago <= r["window"] < today and _matches(r, rule)]
    rate = sum((Decimal(r["cost_usd"]) for r in recent), Decimal(0)) / 7
    remaining = Decimal((_month_end(now, tz) - now).total_seconds()) / 86_400
    return float((cost + rate * remaining) * 100 / budget)
