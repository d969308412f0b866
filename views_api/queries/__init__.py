"""Every SQL statement the views API runs, built in one place and unit-tested as text.

Two builders serve the dashboards:
- `rollup_totals` reads the stream rollups (schemas.rollups): any set of measures over any
  grouping of (tenant, type, d1, d2, d3, domain), optionally per time bucket in a time zone. Each
  stored row is one key's aggregate over one offset range of one partition; FINAL keeps the latest
  version of each and summing over ranges and partitions gives exact totals at any moment.
- the raw builders (`session_list`, `session_events`, `recent_events`,
  `conversation_tokens`, `live_sessions`) read the priced events table for drill-downs, feeds and
  export only (`export`: every contract field); the alert builders read the alert history tables.

One package: `rollups` (the generic builder, funnel, cohorts), `raw` (events and alert tables),
`export` (every contract field, keyset pages), `revenue` (conversions per currency), `base` (the
`Query` they return and shared helpers).

Builders return a `Query`: SQL with ClickHouse server-side parameters plus their values. Values
never enter the SQL text; the database name is checked as an identifier, and measure and dimension
names come from the fixed tables of `rollups`.
"""

from __future__ import annotations

from views_api.queries.base import Query
from views_api.queries.export import export_page
from views_api.queries.raw import (
    EVENT_COLUMNS,
    SESSION_COLUMNS,
    alert_deliveries,
    alert_history,
    alert_latest,
    conversation_tokens,
    live_sessions,
    recent_events,
    session_events,
    session_list,
)
from views_api.queries.rollups import (
    DIMENSIONS,
    FUNNEL_STAGES,
    MEASURES,
    Scope,
    cohort_weeks,
    funnel_sessions,
    rollup_totals,
)

__all__ = [
    "DIMENSIONS", "EVENT_COLUMNS", "FUNNEL_STAGES", "MEASURES", "SESSION_COLUMNS", "Query", "Scope", "alert_deliveries",
    "alert_history", "alert_latest", "cohort_weeks", "conversation_tokens", "export_page", "funnel_sessions",
    "live_sessions", "recent_events", "rollup_totals", "session_events", "session_list",
]  # fmt: skip
