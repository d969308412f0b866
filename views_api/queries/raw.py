"""Builders over the raw priced events (drill-downs, lists, feeds, export) and the alert tables."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from schemas.ddl import ch_datetime64, check_identifier
from views_api.queries.base import RAW_RANGE, Query, raw_range, raw_table

SESSION_COLUMNS: Final = (
    "session_id",
    "min(ts) AS started_at",
    "max(ts) AS last_event_at",
    "countIf(type = 'message') AS messages",
    "countIf(type = 'message' AND role = 'user') AS user_messages",
    "countIf(type = 'llm_call') AS llm_calls",
    "sum(input_tokens + output_tokens) AS tokens",
    "sum(cost_usd) AS cost_usd",
    "anyIf(channel, type = 'session_started') AS channel",
    "anyIf(end_user_id, end_user_id != '') AS end_user_id",
    "anyIf(end_reason, type = 'session_ended') AS end_reason",
    "maxIf(latency_ms, type = 'session_ended') AS reported_duration_ms",
)


def session_list(
    database: str, tenant_id: str, since: datetime, until: datetime, limit: int, search: str | None = None
) -> Query:
    """Sessions with events in [since, until), most recently active first (drill-down, raw events).

    `search` keeps sessions whose id or end-user id contains it (case-insensitive).
    """
    params = {**raw_range(tenant_id, since, until), "limit": limit}
    having = ""
    if search:
        having = (
            "\nHAVING positionCaseInsensitive(session_id, {search:String}) > 0"
            " OR positionCaseInsensitive(end_user_id, {search:String}) > 0"
        )
        params["search"] = search
    sql = (
        "SELECT\n    " + ",\n    ".join(SESSION_COLUMNS) + f"\nFROM {raw_table(database)} FINAL\n"
        f"WHERE {RAW_RANGE} AND session_id != ''\n"
        f"GROUP BY session_id{having}\n"
        "ORDER BY last_event_at DESC, session_id\n"
        "LIMIT {limit:UInt32}"
    )
    return Query(sql, params)


EVENT_COLUMNS: Final = (
    "toString(event_id) AS id",
    "type",
    "ts",
    "session_id",
    "end_user_id",
    "domain",
    "feature",
    "provider",
    "model",
    "operation",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "cost_usd",
    "price_status",
    "latency_ms",
    "status",
    "role",
    "content_chars",
    "channel",
    "end_reason",
    "tool_name",
    "product_action",
    "product_id",
    "product_name",
    "search_query",
    "results_count",
    "order_id",
    "revenue",
    "currency",
    "rating",
    "thumbs",
    "name",
)
"""Columns of one event in drill-downs and feeds (`id` is the event id); the export adds every other
contract field (`views_api.queries.export`)."""


def session_events(database: str, tenant_id: str, session_id: str, limit: int) -> Query:
    """Every event of one session in time order (the session drill-down)."""
    sql = (
        "SELECT\n    " + ",\n    ".join(EVENT_COLUMNS) + f"\nFROM {raw_table(database)} FINAL\n"
        "WHERE tenant_id = {tenant_id:String} AND session_id = {session_id:String}\n"
        "ORDER BY ts, event_id\nLIMIT {limit:UInt32}"
    )
    return Query(sql, {"tenant_id": tenant_id, "session_id": session_id, "limit": limit})


def recent_events(database: str, tenant_id: str, since: datetime, until: datetime, limit: int) -> Query:
    """The latest events of [since, until), newest first (the live activity feed)."""
    sql = (
        "SELECT\n    " + ",\n    ".join(EVENT_COLUMNS) + f"\nFROM {raw_table(database)} FINAL\n"
        f"WHERE {RAW_RANGE}\nORDER BY ts DESC, event_id DESC\nLIMIT {{limit:UInt32}}"
    )
    return Query(sql, {**raw_range(tenant_id, since, until), "limit": limit})


def live_sessions(
    database: str,
    tenant_id: str,
    active_since: datetime,
    until: datetime,
    lookback_since: datetime,
    limit: int,
    domain: str | None = None,
) -> Query:
    """Sessions with an event in [active_since, until), most recently active first (the telemetry view's live list).

    Each session's figures cover its events since `lookback_since`: first event, last event, LLM
    cost and the model of its latest LLM call ('' without one). `domain` keeps one domain's events.
    """
    params = {
        **raw_range(tenant_id, lookback_since, until),
        "active_since": ch_datetime64(active_since),
        "limit": limit,
    }
    where = f"{RAW_RANGE} AND session_id != ''"
    if domain is not None:
        where += " AND domain = {domain:String}"
        params["domain"] = domain
    sql = (
        "SELECT\n    session_id,\n    min(ts) AS started_at,\n    max(ts) AS last_event_at,\n"
        "    sum(cost_usd) AS cost_usd,\n    argMaxIf(model, ts, type = 'llm_call') AS model\n"
        f"FROM {raw_table(database)} FINAL\n"
        f"WHERE {where}\n"
        "GROUP BY session_id\nHAVING last_event_at >= {active_since:DateTime64(3)}\n"
        "ORDER BY last_event_at DESC, session_id\nLIMIT {limit:UInt32}"
    )
    return Query(sql, params)


def conversation_tokens(database: str, tenant_id: str, since: datetime, until: datetime, limit: int) -> Query:
    """Sessions of [since, until) with the most LLM tokens (the usage view's conversation table; raw events).

    Output names do not shadow columns: ClickHouse would substitute an alias
    `input_tokens` (= sum(input_tokens)) into its `sum(input_tokens + output_tokens)`, which fails
    as an aggregate inside an aggregate.
    """
    sql = (
        "SELECT\n    session_id,\n    count() AS requests,\n    sum(input_tokens) AS prompt_tokens,\n"
        "    sum(output_tokens) AS completion_tokens,\n    sum(input_tokens + output_tokens) AS tokens,\n"
        "    sum(cost_usd) AS cost_usd,\n    min(ts) AS first_call_at,\n    max(ts) AS last_call_at\n"
        f"FROM {raw_table(database)} FINAL\n"
        f"WHERE {RAW_RANGE} AND type = 'llm_call' AND session_id != ''\n"
        "GROUP BY session_id\nORDER BY tokens DESC, session_id\nLIMIT {limit:UInt32}"
    )
    return Query(sql, {**raw_range(tenant_id, since, until), "limit": limit})


def alert_latest(database: str, tenant_id: str) -> Query:
    """The latest transition of each of the tenant's rules (its current alert state)."""
    table = f"{check_identifier(database)}.alert_events"
    sql = (
        "SELECT e.rule_id AS rule_id, argMax(e.kind, (e.at, e.kind)) AS kind, max(e.at) AS at,\n"
        "    argMax(e.name, e.at) AS name, argMax(e.metric, e.at) AS metric, argMax(e.severity, e.at) AS severity,\n"
        "    argMax(e.value, e.at) AS value, argMax(e.threshold, e.at) AS threshold,\n"
        "    argMax(e.incident, e.at) AS incident\n"
        f"FROM {table} AS e FINAL\n"
        "WHERE e.tenant_id = {tenant_id:String}\n"
        "GROUP BY e.rule_id\nORDER BY rule_id"
    )
    return Query(sql, {"tenant_id": tenant_id})


def alert_history(database: str, tenant_id: str, since: datetime, until: datetime, limit: int) -> Query:
    """The tenant's alert transitions in [since, until), newest first."""
    table = f"{check_identifier(database)}.alert_events"
    sql = (
        "SELECT rule_id, kind, at, name, metric, severity, value, threshold, incident, notifications, silenced\n"
        f"FROM {table} FINAL\n"
        "WHERE tenant_id = {tenant_id:String} AND at >= {since:DateTime64(3)} AND at < {until:DateTime64(3)}\n"
        "ORDER BY at DESC, rule_id\nLIMIT {limit:UInt32}"
    )
    return Query(sql, {**raw_range(tenant_id, since, until), "limit": limit})


def alert_deliveries(database: str, tenant_id: str, notification_ids: list[str]) -> Query:
    """Delivery outcomes of the given notifications."""
    table = f"{check_identifier(database)}.alert_deliveries"
    sql = (
        "SELECT notification_id, channel, status, attempts, error, at\n"
        f"FROM {table}\n"
        "WHERE tenant_id = {tenant_id:String} AND notification_id IN {ids:Array(String)}\n"
        "ORDER BY at"
    )
    return Query(sql, {"tenant_id": tenant_id, "ids": notification_ids})
