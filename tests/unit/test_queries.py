"""The views API's SQL, as text: parameters never interpolated, measures and groupings from fixed tables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from views_api import queries
from views_api.queries import Scope, rollup_totals

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T1 = datetime(2026, 3, 8, tzinfo=UTC)


def test_rollup_totals_sql_and_parameters() -> None:
    scope = Scope("acme", "day", T0, T1, ("llm_call",), domain="shop.test", match={"provider": ("openai",)})
    q = rollup_totals("tally", scope, ("events", "cost_usd"), ("provider", "model"), ("week", "Europe/Paris"), limit=5)
    assert q.sql == (
        "SELECT\n"
        "    toUnixTimestamp(toDateTime(toMonday(toTimeZone(window_start, {tz:String})), {tz:String})) AS bucket,\n"
        "    r.d1 AS provider,\n    r.d2 AS model,\n    sum(r.events) AS events,\n    sum(r.cost_usd) AS cost_usd\n"
        "FROM tally.rollups AS r FINAL\n"
        "WHERE tenant_id = {tenant_id:String}\n"
        "    AND granularity = {granularity:String}\n"
        "    AND window_start >= {since:DateTime} AND window_start < {until:DateTime}\n"
        "    AND type IN {types:Array(String)}\n"
        "    AND r.d1 IN {match_provider:Array(String)}\n"
        "    AND domain = {domain:String}\n"
        "GROUP BY bucket, provider, model\n"
        "ORDER BY bucket, provider, model\n"
        "LIMIT 5"
    )
    assert q.params == {
        "tenant_id": "acme",
        "granularity": "day",
        "since": "2026-03-01 00:00:00",
        "until": "2026-03-08 00:00:00",
        "tz": "Europe/Paris",
        "types": ["llm_call"],
        "match_provider": ["openai"],
        "domain": "shop.test",
    }


def test_platform_scope_reads_every_tenant_and_ungrouped_totals_have_no_group_by() -> None:
    q = rollup_totals("tally", Scope(None, "hour", T0, T1), ("sessions",))
    assert "tenant_id" not in q.sql and "tenant_id" not in q.params
    assert "GROUP BY" not in q.sql and "ORDER BY" not in q.sql
    assert "uniqExactArray(r.sessions) AS sessions" in q.sql


def test_unknown_names_are_refused_not_interpolated() -> None:
    with pytest.raises(ValueError, match="unknown measure or dimension: cost; DROP"):
        rollup_totals("tally", Scope("a", "day", T0, T1), ("cost; DROP",))
    with pytest.raises(ValueError, match="unknown measure or dimension: session_id"):
        rollup_totals("tally", Scope("a", "day", T0, T1), ("events",), ("session_id",))
    with pytest.raises(ValueError, match="cannot order by 'cost_usd DESC'"):
        rollup_totals("tally", Scope("a", "day", T0, T1), ("events",), ("provider",), order_by=("cost_usd DESC",))
    with pytest.raises(ValueError, match="not a valid database identifier"):
        rollup_totals("tally; DROP", Scope("a", "day", T0, T1), ("events",))


def test_tenant_values_are_parameters_never_sql_text() -> None:
    evil = "x' OR 1=1 --"
    for q in (
        rollup_totals(
            "tally", Scope(evil, "day", T0, T1, ("llm_call", evil), domain=evil, match={"model": (evil,)}), ("events",)
        ),
        queries.session_list("tally", evil, T0, T1, 10, search=evil),
        queries.session_events("tally", evil, evil, 10),
        queries.export_page("tally", evil, T0, T1, (T0, evil), 10),
        queries.recent_events("tally", evil, T0, T1, 10),
        queries.conversation_tokens("tally", evil, T0, T1, 10),
    ):
        assert evil not in q.sql
        assert evil in str(q.params.values())


def test_export_pages_continue_after_the_cursor_in_key_order() -> None:
    first = queries.export_page("tally", "acme", T0, T1, None, 1000)
    assert "after_ts" not in first.sql and first.params["limit"] == 1000
    q = queries.export_page("tally", "acme", T0, T1, (T0, "9b2e4c1e-0000-4000-8000-000000000000"), 1000)
    assert "AND (ts, event_id) > ({after_ts:DateTime64(3)}, toUUID({after_id:String}))" in q.sql
    assert q.sql.endswith("ORDER BY ts, event_id\nLIMIT {limit:UInt32}")
    assert q.params["after_ts"] == "2026-03-01 00:00:00.000"
    assert "FROM tally.events FINAL" in q.sql


def test_series_types_are_the_rollup_types() -> None:
    from typing import get_args

    from schemas.rollups import ROLLUP_DIMENSIONS
    from views_api.routes.series import EventType

    assert set(get_args(EventType)) == set(ROLLUP_DIMENSIONS)


def test_a_series_with_its_total_is_one_grouping_sets_query() -> None:
    q = rollup_totals("tally", Scope("acme", "day", T0, T1), ("sessions",), (), ("day", "UTC"), with_total=True)
    assert q.sql.endswith("GROUP BY GROUPING SETS ((bucket), ())\nORDER BY bucket")
    with pytest.raises(ValueError, match="with_total needs a bucket"):
        rollup_totals("tally", Scope("acme", "day", T0, T1), ("sessions",), with_total=True)


def test_named_dimensions_read_the_slot_of_each_type() -> None:
    one = rollup_totals("tally", Scope("a", "day", T0, T1, ("product_event",)), ("max_product_name",), ("product_id",))
    assert "    r.d2 AS product_id,\n    max(r.d3) AS max_product_name\n" in one.sql
    # a dimension only some of the scope's types have: their slot, '' for the others
    mixed = rollup_totals("tally", Scope("a", "day", T0, T1, ("session_ended", "search")), ("events",), ("end_reason",))
    assert "multiIf(r.type IN ('session_ended'), r.d1, '') AS end_reason" in mixed.sql
    # `feature` is d3 of an llm_call but d2 of a conversion
    both = rollup_totals("tally", Scope("a", "day", T0, T1), ("events",), ("feature",))
    assert "multiIf(r.type IN ('llm_call'), r.d3, r.type IN ('conversion'), r.d2, '') AS feature" in both.sql
    with pytest.raises(ValueError, match="unknown measure or dimension: provider"):
        rollup_totals("tally", Scope("a", "day", T0, T1, ("message",)), ("events",), ("provider",))
    with pytest.raises(ValueError, match="unknown measure or dimension: d1"):
        rollup_totals("tally", Scope("a", "day", T0, T1), ("events",), ("d1",))
