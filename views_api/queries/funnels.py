"""A funnel's SQL over the raw events table (pure): `windowFunnel` per actor, actors per level reached.

One statement answers a report. Every event of the funnel's types in [since, until + window) is tested
against each step's condition (its type, a custom event's name, and the explore filters' own SQL,
`views_api.queries.explore.filter_sql`, every value a server-side parameter). Per actor — a session (a
conversion sent with only `attributed_session_id` counts for that session) or an end user —
`windowFunnel(window, 'strict_once')` gives how many steps it went through in order, every step no later
than `window` after the first, one event counting for one step at most. An actor enters the funnel with a
first-step event in the period [since, until); the steps after it may come after `until`, within the
window. The rows: per bucket (aligned in `tz`) of the actor's first first-step event in the period, and
per level reached (1 = the first step only), how many actors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from schemas.ddl import ch_datetime64
from schemas.funnels import ResolvedFunnel, ResolvedStep
from views_api.queries.base import Query, raw_table
from views_api.queries.explore import _SESSION, BUCKET_SQL, _Params, filter_sql

ACTORS: Final = {"session": _SESSION, "end_user": "end_user_id"}
"""Who goes through a funnel, by `FunnelDefinition.by`."""


@dataclass(frozen=True)
class FunnelSpan:
    tenant_id: str
    since: datetime
    until: datetime
    tz: str
    bucket: str
    """Bucket of the by-day rows (day, or the period's granularity)."""


def first_step_bucket(bucket: str) -> str:
    """Explore's bucket expression, over the actor's first step (`first_at`) instead of an event's `ts`."""
    return re.sub(r"\bts\b", "first_at", BUCKET_SQL[bucket])


def step_sql(step: ResolvedStep, params: _Params) -> str:
    """The condition an event meets to be this step."""
    parts = [f"type = {params.add(step.event, 'String')}"]
    if step.name is not None:
        parts.append(f"name = {params.add(step.name, 'String')}")
    parts += [filter_sql(f, params) for f in step.where]
    return "(" + " AND ".join(parts) + ")"


def funnel_levels(database: str, funnel: ResolvedFunnel, span: FunnelSpan) -> Query:
    """Actors per (bucket of their first step, level reached), levels 1..len(steps)."""
    params = _Params()
    params.values.update(
        tenant_id=span.tenant_id,
        types=sorted({s.event for s in funnel.steps}),
        since=ch_datetime64(span.since),
        until=ch_datetime64(span.until),
        read_until=ch_datetime64(span.until + timedelta(seconds=funnel.window_seconds)),
        window_ms=funnel.window_seconds * 1000,
    )
    bucket = first_step_bucket(span.bucket)
    if "{tz:" in bucket:
        params.values["tz"] = span.tz
    flags = ",\n            ".join(f"{step_sql(s, params)} AS s{i}" for i, s in enumerate(funnel.steps))
    first = "s0 AND ts < {until:DateTime64(3)}"
    conditions = ", ".join([first, *(f"s{i}" for i in range(1, len(funnel.steps)))])
    any_step = " OR ".join(f"s{i}" for i in range(len(funnel.steps)))
    sql = (
        f"SELECT {bucket} AS bucket, level, count() AS actors\n"
        "FROM (\n"
        "    SELECT\n"
        "        actor,\n"
        "        windowFunnel({window_ms:UInt64}, 'strict_once')"
        f"(toUInt64(toUnixTimestamp64Milli(ts)), {conditions}) AS level,\n"
        f"        minIf(ts, {first}) AS first_at\n"
        "    FROM (\n"
        f"        SELECT {ACTORS[funnel.by]} AS actor, ts,\n            {flags}\n"
        f"        FROM {raw_table(database)} FINAL\n"
        "        WHERE tenant_id = {tenant_id:String} AND type IN {types:Array(String)}\n"
        "            AND ts >= {since:DateTime64(3)} AND ts < {read_until:DateTime64(3)}\n"
        "    )\n"
        f"    WHERE actor != '' AND ({any_step})\n"
        "    GROUP BY actor\n"
        ")\n"
        "WHERE level > 0\n"
        "GROUP BY bucket, level\n"
        "ORDER BY bucket, level"
    )
    return Query(sql, params.values)
