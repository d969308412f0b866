from __future__ import annotations

from datetime import UTC, datetime

import pytest

from views_api import queries

T0 = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
T1 = datetime(2026, 11, 21, 13, 45, 7, 250000, tzinfo=UTC)


def test_overview_sql_and_parameters() -> None:
    q = queries.overview("tally", "acme", T0, T1)
    assert q.sql == (
        "SELECT\n"
        "    uniqExact(session_id) AS total_sessions,\n"
        "    countIf(type = 'message' AND ts >= {day_start:DateTime64(3)}) AS messages_today,\n"
        "    countIf(type = 'llm_call' AND ts >= {day_start:DateTime64(3)}) AS llm_calls_today,\n"
        "    sumIf(cost_usd, type = 'llm_call' AND ts >= {day_start:DateTime64(3)}) AS cost_today_usd,\n"
        "    countIf(price_status = 'unknown_model' AND ts >= {day_start:DateTime64(3)}) AS unknown_model_calls_today,\n"
        "    uniqExactIf(session_id, ts >= {hour_ago:DateTime64(3)}) AS active_sessions\n"
        "FROM tally.events FINAL\n"
        "WHERE tenant_id = {tenant_id:String}"
    )
    assert q.params == {
        "tenant_id": "acme",
        "day_start": "2026-11-21 00:00:00.000",
        "hour_ago": "2026-11-21 13:45:07.250",
    }


def test_costs_by_model_sql_and_parameters() -> None:
    q = queries.costs_by_model("tally", "acme", T0, T1)
    assert q.sql.startswith("SELECT\n    provider,\n    model,\n    count() AS requests,\n")
    assert "    sum(cost_usd) AS cost_usd,\n" in q.sql
    assert q.sql.endswith(
        "FROM tally.events FINAL\n"
        "WHERE tenant_id = {tenant_id:String} AND type = 'llm_call'\n"
        "    AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}\n"
        "GROUP BY provider, model\n"
        "ORDER BY cost_usd DESC, requests DESC, provider, model"
    )
    assert q.params == {
        "tenant_id": "acme",
        "since": "2026-11-21 00:00:00.000",
        "until": "2026-11-21 13:45:07.250",
    }


def test_tenant_values_are_parameters_never_sql_text() -> None:
    q = queries.overview("tally", "x' OR 1=1 --", T0, T1)
    assert "OR 1=1" not in q.sql
    assert q.params["tenant_id"] == "x' OR 1=1 --"


def test_database_name_is_checked() -> None:
    with pytest.raises(ValueError, match="not a valid database identifier"):
        queries.costs_by_model("tally; DROP", "acme", T0, T1)
