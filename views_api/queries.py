"""Every SQL statement the views API runs, built in one place and unit-tested as text.

Two builders serve the dashboards:
- `rollup_totals` reads the stream rollups (schemas.rollups): any set of measures over any
  grouping of (tenant, type, d1, d2, d3, domain), optionally per time bucket in a time zone. Each
  stored row is one key's aggregate over one offset range of one partition; FINAL keeps the latest
  version of each and summing over ranges and partitions gives exact totals at any moment.
- the raw builders (`session_list`, `session_events`, `recent_events`, `export_page`,
  `conversation_tokens`, `live_sessions`) read the priced events table for drill-downs, feeds and export only.

Builders return a `Query`: SQL with ClickHouse server-side parameters plus their values. Values
never enter the SQL text; the database name is checked as an identifier, and measure and dimension
names come from the fixed tables below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from schemas.ddl import EVENTS_TABLE, ch_datetime64, check_identifier
from schemas.rollups import ROLLUPS_TABLE


@dataclass(frozen=True)
class Query:
    """A statement and the values of its parameters."""

    sql: str
    params: dict[str, Any]


MEASURES: Final[dict[str, str]] = {
    "events": "sum(r.events)",
    "errors": "sum(r.errors)",
    "input_tokens": "sum(r.input_tokens)",
    "output_tokens": "sum(r.output_tokens)",
    "cached_input_tokens": "sum(r.cached_input_tokens)",
    "reasoning_tokens": "sum(r.reasoning_tokens)",
    "audio_seconds": "sum(r.audio_seconds)",
    "cost_usd": "sum(r.cost_usd)",
    "unpriced": "sum(r.unpriced)",
    "latency_ms_sum": "sum(r.latency_ms_sum)",
    "latency_count": "sum(arraySum(r.latency_buckets))",
    "latency_buckets": "sumForEach(r.latency_buckets)",
    "content_chars": "sum(r.content_chars)",
    "revenue": "sum(r.revenue)",
    "rating_sum": "sum(r.rating_sum)",
    "rating_count": "sum(r.rating_count)",
    "thumbs_up": "sum(r.thumbs_up)",
    "thumbs_down": "sum(r.thumbs_down)",
    "zero_results": "sum(r.zero_results)",
    "sessions": "uniqExactArray(r.sessions)",
    "end_users": "uniqExactArray(r.end_users)",
    "measures": "sumMap(r.measures)",
    "max_d3": "max(r.d3)",
    "first_window": "min(r.window_start)",
    "last_window": "max(r.window_start)",
}
"""Rollup measures by name: what each sums (or counts distinct) over the selected rows `r`. Columns are
qualified so that a measure's alias (`latency_buckets`) never stands for the column inside another."""

DIMENSIONS: Final = ("tenant_id", "type", "d1", "d2", "d3", "domain")

_BUCKET_SQL: Final[dict[str, str]] = {
    "minute": "toUnixTimestamp(window_start)",
    "hour": "toUnixTimestamp(toStartOfHour(toTimeZone(window_start, {tz:String})))",
    "day": "toUnixTimestamp(toStartOfDay(toTimeZone(window_start, {tz:String})))",
    "week": "toUnixTimestamp(toDateTime(toMonday(toTimeZone(window_start, {tz:String})), {tz:String}))",
    "month": "toUnixTimestamp(toDateTime(toStartOfMonth(toTimeZone(window_start, {tz:String})), {tz:String}))",
}
"""Bucket start (Unix seconds) of a window, buckets aligned in the zone `tz`."""


def _seconds(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Scope:
    """Which rollup rows a query reads."""

    tenant_id: str | None
    """One tenant, or None for all of them (platform admin views)."""
    granularity: str
    """Stored window size read: `minute`, `hour` or `day`."""
    since: datetime
    until: datetime
    types: tuple[str, ...] = ()
    """Event types (rollup `type`), all when empty."""
    d1: tuple[str, ...] = ()
    """Only these d1 values, all when empty."""
    domain: str | None = None


def rollup_totals(
    database: str,
    scope: Scope,
    measures: Sequence[str],
    group_by: Sequence[str] = (),
    bucket: tuple[str, str] | None = None,
    order_by: Sequence[str] = (),
    limit: int | None = None,
    with_total: bool = False,
) -> Query:
    """`measures` over the rollup rows in `scope`, per `group_by` (and per `bucket` = (size, zone)).

    `order_by` items are output columns, optionally followed by ` DESC`; the default order is the
    grouping. A `bucket` adds the column `bucket`: the bucket's start in Unix seconds. `with_total`
    (with a bucket) adds the grand total over the whole scope as one more row, whose `bucket` is 0:
    one scan for a series and its total, distinct counts included (GROUPING SETS).
    """
    if with_total and bucket is None:
        raise ValueError("with_total needs a bucket (the total row is told apart by bucket = 0)")
    unknown = [m for m in measures if m not in MEASURES] + [d for d in group_by if d not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown measure or dimension: {', '.join(unknown)}")
    table = f"{check_identifier(database)}.{ROLLUPS_TABLE}"
    params: dict[str, Any] = {
        "granularity": scope.granularity,
        "since": _seconds(scope.since),
        "until": _seconds(scope.until),
    }
    select = list(group_by)
    keys = list(group_by)
    if bucket is not None:
        size, tz = bucket
        select.insert(0, f"{_BUCKET_SQL[size]} AS bucket")
        keys.insert(0, "bucket")
        if "{tz:" in _BUCKET_SQL[size]:
            params["tz"] = tz
    select += [f"{MEASURES[m]} AS {m}" for m in measures]
    where = ["granularity = {granularity:String}"]
    if scope.tenant_id is not None:
        where.insert(0, "tenant_id = {tenant_id:String}")
        params["tenant_id"] = scope.tenant_id
    where.append("window_start >= {since:DateTime} AND window_start < {until:DateTime}")
    if scope.types:
        where.append("type IN {types:Array(String)}")
        params["types"] = list(scope.types)
    if scope.d1:
        where.append("d1 IN {d1:Array(String)}")
        params["d1"] = list(scope.d1)
    if scope.domain is not None:
        where.append("domain = {domain:String}")
        params["domain"] = scope.domain
    columns = set(keys) | set(measures)
    order = list(order_by) or keys
    for item in order:
        if item.removesuffix(" DESC") not in columns:
            raise ValueError(f"cannot order by {item!r}: not an output column")
    sql = "SELECT\n    " + ",\n    ".join(select) + f"\nFROM {table} AS r FINAL\nWHERE " + "\n    AND ".join(where)
    if keys and with_total:
        sql += "\nGROUP BY GROUPING SETS ((" + ", ".join(keys) + "), ())"
    elif keys:
        sql += "\nGROUP BY " + ", ".join(keys)
    if order:
        sql += "\nORDER BY " + ", ".join(order)
    if limit is not None:
        sql += f"\nLIMIT {int(limit)}"
    return Query(sql, params)


def _raw(database: str) -> str:
    return f"{check_identifier(database)}.{EVENTS_TABLE}"


def _range(tenant_id: str, since: datetime, until: datetime) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "since": ch_datetime64(since), "until": ch_datetime64(until)}


_RAW_RANGE: Final = "tenant_id = {tenant_id:String} AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}"

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
    params = {**_range(tenant_id, since, until), "limit": limit}
    having = ""
    if search:
        having = (
            "\nHAVING positionCaseInsensitive(session_id, {search:String}) > 0"
            " OR positionCaseInsensitive(end_user_id, {search:String}) > 0"
        )
        params["search"] = search
    sql = (
        "SELECT\n    " + ",\n    ".join(SESSION_COLUMNS) + f"\nFROM {_raw(database)} FINAL\n"
        f"WHERE {_RAW_RANGE} AND session_id != ''\n"
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
"""Columns of one event in drill-downs, feeds and the CSV export (`id` is the event id)."""


def session_events(database: str, tenant_id: str, session_id: str, limit: int) -> Query:
    """Every event of one session in time order (the session drill-down)."""
    sql = (
        "SELECT\n    " + ",\n    ".join(EVENT_COLUMNS) + f"\nFROM {_raw(database)} FINAL\n"
        "WHERE tenant_id = {tenant_id:String} AND session_id = {session_id:String}\n"
        "ORDER BY ts, event_id\nLIMIT {limit:UInt32}"
    )
    return Query(sql, {"tenant_id": tenant_id, "session_id": session_id, "limit": limit})


def recent_events(database: str, tenant_id: str, since: datetime, until: datetime, limit: int) -> Query:
    """The latest events of [since, until), newest first (the live activity feed)."""
    sql = (
        "SELECT\n    " + ",\n    ".join(EVENT_COLUMNS) + f"\nFROM {_raw(database)} FINAL\n"
        f"WHERE {_RAW_RANGE}\nORDER BY ts DESC, event_id DESC\nLIMIT {{limit:UInt32}}"
    )
    return Query(sql, {**_range(tenant_id, since, until), "limit": limit})


def export_page(
    database: str, tenant_id: str, since: datetime, until: datetime, after: tuple[datetime, str] | None, limit: int
) -> Query:
    """One page of the CSV export: events of [since, until) after the cursor (ts, event id), in order.

    Keyset pages keep the export's memory flat whatever the range: each page is one bounded query.
    """
    params = {**_range(tenant_id, since, until), "limit": limit}
    cursor = ""
    if after is not None:
        cursor = "\n    AND (ts, event_id) > ({after_ts:DateTime64(3)}, toUUID({after_id:String}))"
        params["after_ts"], params["after_id"] = ch_datetime64(after[0]), after[1]
    sql = (
        "SELECT\n    " + ",\n    ".join(EVENT_COLUMNS) + f"\nFROM {_raw(database)} FINAL\n"
        f"WHERE {_RAW_RANGE}{cursor}\nORDER BY ts, event_id\nLIMIT {{limit:UInt32}}"
    )
    return Query(sql, params)


FUNNEL_STAGES: Final[dict[str, str]] = {
    "started": "type = 'session_started'",
    "viewed": "type = 'product_event' AND d1 IN ('recommended', 'inquired')",
    "clicked": "type = 'product_event' AND d1 = 'clicked'",
    "added_to_cart": "type = 'product_event' AND d1 = 'added_to_cart'",
    "converted": "type = 'conversion'",
}
"""Seed 003's funnel stages: the rollup rows whose sessions reached each one."""


def funnel_sessions(database: str, scope: Scope, bucket: tuple[str, str] | None = None) -> Query:
    """Distinct sessions at each funnel stage (`FUNNEL_STAGES`) in `scope`, per `bucket` = (size, zone) if given.

    One column per stage: uniqExactArray over the `sessions` arrays of that stage's rows. The scope's
    types and d1 are ignored (the stages fix them); its domain applies.
    """
    table = f"{check_identifier(database)}.{ROLLUPS_TABLE}"
    params: dict[str, Any] = {
        "tenant_id": scope.tenant_id,
        "granularity": scope.granularity,
        "since": _seconds(scope.since),
        "until": _seconds(scope.until),
        "types": ["session_started", "product_event", "conversion"],
    }
    select = [f"uniqExactArrayIf(sessions, {cond}) AS {name}" for name, cond in FUNNEL_STAGES.items()]
    if bucket is not None:
        select.insert(0, f"{_BUCKET_SQL[bucket[0]]} AS bucket")
        if "{tz:" in _BUCKET_SQL[bucket[0]]:
            params["tz"] = bucket[1]
    where = [
        "tenant_id = {tenant_id:String}",
        "granularity = {granularity:String}",
        "window_start >= {since:DateTime} AND window_start < {until:DateTime}",
        "type IN {types:Array(String)}",
    ]
    if scope.domain is not None:
        where.append("domain = {domain:String}")
        params["domain"] = scope.domain
    sql = "SELECT\n    " + ",\n    ".join(select) + f"\nFROM {table} AS r FINAL\nWHERE " + "\n    AND ".join(where)
    if bucket is not None:
        sql += "\nGROUP BY bucket\nORDER BY bucket"
    return Query(sql, params)


def cohort_weeks(database: str, tenant_id: str, tz: str, since: datetime, until: datetime) -> Query:
    """End users by first-seen week and active week (weeks start on Monday in `tz`, the tenant's zone).

    Reads every stored day window of the tenant before `until` (day windows are aligned in the
    tenant's zone, so each falls in one week): a user's first week is the week of the first day
    window whose `end_users` holds them. Keeps users first seen at or after `since`; answers one
    row per (first_week, week) with the users active that week and how many of them ever converted.
    Weeks are Unix seconds of their local-midnight Monday.
    """
    table = f"{check_identifier(database)}.{ROLLUPS_TABLE}"
    week = _BUCKET_SQL["week"]
    sql = (
        "SELECT\n    first_week,\n    week,\n    count() AS users,\n    countIf(converted) AS converted_users\n"
        "FROM (\n"
        "    SELECT\n        user, min(week) AS first_week, groupUniqArray(week) AS weeks,\n"
        "        max(type = 'conversion') AS converted\n"
        "    FROM (\n"
        f"        SELECT arrayJoin(end_users) AS user, type, {week} AS week\n"
        f"        FROM {table} FINAL\n"
        "        WHERE tenant_id = {tenant_id:String} AND granularity = 'day' AND window_start < {until:DateTime}\n"
        "    )\n"
        "    GROUP BY user\n"
        ")\n"
        "ARRAY JOIN weeks AS week\n"
        "WHERE first_week >= toUnixTimestamp({since:DateTime})\n"
        "GROUP BY first_week, week\n"
        "ORDER BY first_week, week"
    )
    params = {"tenant_id": tenant_id, "tz": tz, "since": _seconds(since), "until": _seconds(until)}
    return Query(sql, params)


def live_sessions(
    database: str,
    tenant_id: str,
    active_since: datetime,
    until: datetime,
    lookback_since: datetime,
    limit: int,
    domain: str | None = None,
) -> Query:
    """Sessions with an event in [active_since, until), most recently active first (seed 004's live list).

    Each session's figures cover its events since `lookback_since`: first event, last event, LLM
    cost and the model of its latest LLM call ('' without one). `domain` keeps one domain's events.
    """
    params = {**_range(tenant_id, lookback_since, until), "active_since": ch_datetime64(active_since), "limit": limit}
    where = f"{_RAW_RANGE} AND session_id != ''"
    if domain is not None:
        where += " AND domain = {domain:String}"
        params["domain"] = domain
    sql = (
        "SELECT\n    session_id,\n    min(ts) AS started_at,\n    max(ts) AS last_event_at,\n"
        "    sum(cost_usd) AS cost_usd,\n    argMaxIf(model, ts, type = 'llm_call') AS model\n"
        f"FROM {_raw(database)} FINAL\n"
        f"WHERE {where}\n"
        "GROUP BY session_id\nHAVING last_event_at >= {active_since:DateTime64(3)}\n"
        "ORDER BY last_event_at DESC, session_id\nLIMIT {limit:UInt32}"
    )
    return Query(sql, params)


def conversation_tokens(database: str, tenant_id: str, since: datetime, until: datetime, limit: int) -> Query:
    """Sessions of [since, until) with the most LLM tokens (seed 002's conversation table; raw events).

    Output names do not shadow columns: ClickHouse would substitute an alias
    `input_tokens` (= sum(input_tokens)) into its `sum(input_tokens + output_tokens)`, which fails
    as an aggregate inside an aggregate.
    """
    sql = (
        "SELECT\n    session_id,\n    count() AS requests,\n    sum(input_tokens) AS prompt_tokens,\n"
        "    sum(output_tokens) AS completion_tokens,\n    sum(input_tokens + output_tokens) AS tokens,\n"
        "    sum(cost_usd) AS cost_usd,\n    min(ts) AS first_call_at,\n    max(ts) AS last_call_at\n"
        f"FROM {_raw(database)} FINAL\n"
        f"WHERE {_RAW_RANGE} AND type = 'llm_call' AND session_id != ''\n"
        "GROUP BY session_id\nORDER BY tokens DESC, session_id\nLIMIT {limit:UInt32}"
    )
    return Query(sql, {**_range(tenant_id, since, until), "limit": limit})


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
    return Query(sql, {**_range(tenant_id, since, until), "limit": limit})


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
