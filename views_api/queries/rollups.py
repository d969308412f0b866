"""The generic rollup builder every dashboard view uses, and the funnel and cohort builders.

Each stored row is one key's aggregate over one offset range of one partition; FINAL keeps the
latest version of each and summing over ranges and partitions gives exact totals at any moment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from schemas.ddl import check_identifier
from schemas.registry import REGISTRY
from schemas.rollups import ROLLUPS_TABLE
from views_api.queries.base import Query, seconds

DERIVED: Final[dict[str, str]] = {
    "latency_count": "sum(arraySum(r.latency_buckets))",
    "first_window": "min(r.window_start)",
    "last_window": "max(r.window_start)",
}
"""Read-only figures computed from the stored columns (not measures of the registry)."""

MEASURES: Final[dict[str, str]] = {m.name: m.sql(f"r.{m.name}") for m in REGISTRY.measures} | DERIVED
"""Rollup measures by name: the registry's SQL aggregate of each over the selected rows `r`, plus `DERIVED`.
Columns are qualified so that a measure's alias (`latency_buckets`) never stands for the column inside
another. `max_<dimension>` (e.g. `max_product_name`) reads the largest value of a named dimension."""

KEYS: Final = ("tenant_id", "type", "domain")
"""Key columns a query may group by, besides the named dimensions of the registry."""
DIMENSIONS: Final = (*KEYS, *REGISTRY.dimension_names)
"""Every column a query may group by: the keys and the registry's named dimensions (`provider` ...)."""


def _measure_sql(name: str, types: Sequence[str]) -> str | None:
    if name in MEASURES:
        return MEASURES[name]
    dim = name.removeprefix("max_")
    if dim != name and dim in REGISTRY.dimension_names and REGISTRY.slots_of(dim, types):
        return f"max({REGISTRY.dimension_sql(dim, types)})"
    return None


def _dimension_sql(name: str, types: Sequence[str]) -> str | None:
    if name in KEYS:
        return name
    if name in REGISTRY.dimension_names and REGISTRY.slots_of(name, types):
        return REGISTRY.dimension_sql(name, types)
    return None


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
    domain: str | None = None
    match: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Only rows whose named dimension (`provider`, `action` ...) is one of these values."""


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
    measure_sql = {m: _measure_sql(m, scope.types) for m in measures}
    dimension_sql = {d: _dimension_sql(d, scope.types) for d in (*group_by, *scope.match)}
    unknown = [name for name, sql in (*measure_sql.items(), *dimension_sql.items()) if sql is None]
    if unknown:
        raise ValueError(f"unknown measure or dimension: {', '.join(unknown)}")
    table = f"{check_identifier(database)}.{ROLLUPS_TABLE}"
    params: dict[str, Any] = {
        "granularity": scope.granularity,
        "since": seconds(scope.since),
        "until": seconds(scope.until),
    }
    select = [d if dimension_sql[d] == d else f"{dimension_sql[d]} AS {d}" for d in group_by]
    keys = list(group_by)
    if bucket is not None:
        size, tz = bucket
        select.insert(0, f"{_BUCKET_SQL[size]} AS bucket")
        keys.insert(0, "bucket")
        if "{tz:" in _BUCKET_SQL[size]:
            params["tz"] = tz
    select += [f"{measure_sql[m]} AS {m}" for m in measures]
    where = ["granularity = {granularity:String}"]
    if scope.tenant_id is not None:
        where.insert(0, "tenant_id = {tenant_id:String}")
        params["tenant_id"] = scope.tenant_id
    where.append("window_start >= {since:DateTime} AND window_start < {until:DateTime}")
    if scope.types:
        where.append("type IN {types:Array(String)}")
        params["types"] = list(scope.types)
    for name, values in scope.match.items():
        where.append(f"{dimension_sql[name]} IN {{match_{name}:Array(String)}}")
        params[f"match_{name}"] = list(values)
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


_ACTION: Final = REGISTRY.dimension_sql("action", ("product_event",))
FUNNEL_STAGES: Final[dict[str, str]] = {
    "started": "type = 'session_started'",
    "viewed": f"type = 'product_event' AND {_ACTION} IN ('recommended', 'inquired')",
    "clicked": f"type = 'product_event' AND {_ACTION} = 'clicked'",
    "added_to_cart": f"type = 'product_event' AND {_ACTION} = 'added_to_cart'",
    "converted": "type = 'conversion'",
}
"""The e-commerce funnel's stages: the rollup rows whose sessions reached each one."""


def funnel_sessions(database: str, scope: Scope, bucket: tuple[str, str] | None = None) -> Query:
    """Distinct sessions at each funnel stage (`FUNNEL_STAGES`) in `scope`, per `bucket` = (size, zone) if given.

    One column per stage: uniqExactArray over the `sessions` arrays of that stage's rows. The scope's
    types and matches are ignored (the stages fix them); its domain applies.
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
