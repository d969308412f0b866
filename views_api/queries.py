"""Every SQL statement the views API runs, built in one place and unit-tested as text.

Builders return a `Query`: SQL with ClickHouse server-side parameters plus their values. Only
the database name is interpolated, and it is checked as an identifier first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.ddl import EVENTS_TABLE, ch_datetime64, check_identifier
from schemas.rollups import ROLLUPS_TABLE


@dataclass(frozen=True)
class Query:
    """A statement and the values of its parameters."""

    sql: str
    params: dict[str, Any]


def overview(database: str, tenant_id: str, day_start: datetime, hour_ago: datetime) -> Query:
    """Seed 000's overview: sessions all time, today's messages and cost, sessions active in the last hour."""
    table = f"{check_identifier(database)}.{EVENTS_TABLE}"
    sql = (
        "SELECT\n"
        "    uniqExact(session_id) AS total_sessions,\n"
        "    countIf(type = 'message' AND ts >= {day_start:DateTime64(3)}) AS messages_today,\n"
        "    countIf(type = 'llm_call' AND ts >= {day_start:DateTime64(3)}) AS llm_calls_today,\n"
        "    sumIf(cost_usd, type = 'llm_call' AND ts >= {day_start:DateTime64(3)}) AS cost_today_usd,\n"
        "    countIf(price_status = 'unknown_model' AND ts >= {day_start:DateTime64(3)})"
        " AS unknown_model_calls_today,\n"
        "    uniqExactIf(session_id, ts >= {hour_ago:DateTime64(3)}) AS active_sessions\n"
        f"FROM {table} FINAL\n"
        "WHERE tenant_id = {tenant_id:String}"
    )
    return Query(
        sql,
        {"tenant_id": tenant_id, "day_start": ch_datetime64(day_start), "hour_ago": ch_datetime64(hour_ago)},
    )


def costs_by_model(database: str, tenant_id: str, since: datetime, until: datetime) -> Query:
    """LLM cost, tokens and requests per provider and model in [since, until)."""
    table = f"{check_identifier(database)}.{EVENTS_TABLE}"
    sql = (
        "SELECT\n"
        "    provider,\n"
        "    model,\n"
        "    count() AS requests,\n"
        "    countIf(status = 'error') AS errors,\n"
        "    sum(input_tokens) AS input_tokens,\n"
        "    sum(output_tokens) AS output_tokens,\n"
        "    sum(cached_input_tokens) AS cached_input_tokens,\n"
        "    sum(reasoning_tokens) AS reasoning_tokens,\n"
        "    sum(cost_usd) AS cost_usd,\n"
        "    countIf(price_status = 'unknown_model') AS unknown_model_requests\n"
        f"FROM {table} FINAL\n"
        "WHERE tenant_id = {tenant_id:String} AND type = 'llm_call'\n"
        "    AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}\n"
        "GROUP BY provider, model\n"
        "ORDER BY cost_usd DESC, requests DESC, provider, model"
    )
    return Query(sql, {"tenant_id": tenant_id, "since": ch_datetime64(since), "until": ch_datetime64(until)})


def rollup_series(
    database: str, tenant_id: str, granularity: str, since: datetime, until: datetime, type_: str | None
) -> Query:
    """Windowed totals per (window, type, d1, d2, d3) in [since, until), read from the rollups.

    Each stored row is one key's aggregate over one offset range of one partition; FINAL keeps the
    latest version of each, and summing over ranges and partitions gives the exact window totals.
    """
    table = f"{check_identifier(database)}.{ROLLUPS_TABLE}"
    type_filter = "    AND type = {type:String}\n" if type_ is not None else ""
    sql = (
        "SELECT\n"
        "    window_start, type, d1, d2, d3,\n"
        "    sum(events) AS events,\n"
        "    sum(errors) AS errors,\n"
        "    sum(input_tokens) AS input_tokens,\n"
        "    sum(output_tokens) AS output_tokens,\n"
        "    sum(cached_input_tokens) AS cached_input_tokens,\n"
        "    sum(reasoning_tokens) AS reasoning_tokens,\n"
        "    sum(cost_usd) AS cost_usd,\n"
        "    sum(unpriced) AS unpriced,\n"
        "    sum(latency_ms_sum) AS latency_ms_sum,\n"
        "    sumForEach(latency_buckets) AS latency_buckets,\n"
        "    sum(revenue) AS revenue,\n"
        "    sum(rating_sum) AS rating_sum,\n"
        "    sum(rating_count) AS rating_count,\n"
        "    sum(thumbs_up) AS thumbs_up,\n"
        "    sum(thumbs_down) AS thumbs_down,\n"
        "    sum(zero_results) AS zero_results,\n"
        "    length(groupUniqArrayArray(sessions)) AS sessions,\n"
        "    length(groupUniqArrayArray(end_users)) AS end_users\n"
        f"FROM {table} FINAL\n"
        "WHERE tenant_id = {tenant_id:String} AND granularity = {granularity:String}\n"
        "    AND window_start >= {since:DateTime} AND window_start < {until:DateTime}\n"
        f"{type_filter}"
        "GROUP BY window_start, type, d1, d2, d3\n"
        "ORDER BY window_start, type, d1, d2, d3"
    )
    params: dict[str, Any] = {
        "tenant_id": tenant_id,
        "granularity": granularity,
        "since": since.strftime("%Y-%m-%d %H:%M:%S"),
        "until": until.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if type_ is not None:
        params["type"] = type_
    return Query(sql, params)
