"""The generic rollup builder every dashboard view uses, and the funnel and cohort builders.

Each stored row is one key's aggregate over one offset range of one partition; FINAL keeps the
latest version of each and summing over ranges and partitions gives exact totals at any moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from schemas.ddl import check_identifier
from schemas.rollups import ROLLUPS_TABLE
from views_api.queries.base import Query, seconds

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
        "since": seconds(scope.since),
        "until": seconds(scope.until),
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
        "since": seconds(scope.since),
        "until": seconds(scope.until),
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
    params = {"tenant_id": tenant_id, "tz": tz, "since": seconds(since), "until": seconds(until)}
    return Query(sql, params)
