"""The end-user views' SQL as text, their cursor, and how their rows become answers (pure)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from schemas.ddl import EVENTS_COLUMN_NAMES
from schemas.type_columns import TYPE_COLUMNS
from storage.sql_guard import check_query
from views_api.queries.users import (
    SORT_FIELDS,
    SORT_PATTERN,
    TYPE_FIELD_COLUMNS,
    USER_COLUMNS,
    Cursor,
    parse_sort,
    user_count,
    user_list,
    user_summary,
    user_timeline,
)
from views_api.routes.users import end_user, type_fields

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T1 = datetime(2026, 3, 8, tzinfo=UTC)
EVENT = "0b5c3f4e-1a2b-4c3d-8e9f-001122334455"
RANGE = {"tenant_id": "acme", "since": "2026-03-01 00:00:00.000", "until": "2026-03-08 00:00:00.000"}


def test_user_list_sql_and_parameters() -> None:
    q = user_list("tally", "acme", T0, T1, "-cost_usd", 50, 100, "Bob")
    assert q.sql == (
        "SELECT\n    end_user_id,\n    min(ts) AS first_seen,\n    max(ts) AS last_seen,\n"
        "    uniqExactIf(session_id, session_id != '') AS sessions,\n"
        "    countIf(type = 'message') AS messages,\n    countIf(type = 'llm_call') AS llm_calls,\n"
        "    sum(input_tokens + output_tokens) AS tokens,\n    sum(cost_usd) AS cost_usd,\n"
        "    countIf(type = 'conversion') AS conversions,\n"
        "    sumMapIf(map(currency, revenue), type = 'conversion') AS revenue_by_currency\n"
        "FROM tally.events FINAL\n"
        "WHERE tenant_id = {tenant_id:String} AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}"
        " AND end_user_id != '' AND positionCaseInsensitiveUTF8(end_user_id, {search:String}) > 0\n"
        "GROUP BY end_user_id\n"
        "ORDER BY cost_usd DESC, end_user_id\n"
        "LIMIT {limit:UInt32} OFFSET {offset:UInt32}"
    )
    assert q.params == {**RANGE, "search": "Bob", "limit": 50, "offset": 100}


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("last_seen", "ORDER BY last_seen ASC, end_user_id\n"),
        ("-sessions", "ORDER BY sessions DESC, end_user_id\n"),
        ("conversions", "ORDER BY conversions ASC, end_user_id\n"),
        ("end_user_id", "ORDER BY end_user_id\n"),
        ("-end_user_id", "ORDER BY end_user_id DESC\n"),
    ],
)
def test_every_sort_ends_in_end_user_id_order(sort: str, order: str) -> None:
    q = user_list("tally", "acme", T0, T1, sort, 10, 0)
    assert order in q.sql
    assert "search" not in q.params and "positionCaseInsensitive" not in q.sql


@pytest.mark.parametrize("sort", ["revenue", "-revenue", "cost", "--cost_usd", "cost_usd DESC", "1; DROP TABLE x", ""])
def test_unknown_sort_keys_are_refused_not_interpolated(sort: str) -> None:
    with pytest.raises(ValueError, match="cannot sort users by"):
        user_list("tally", "acme", T0, T1, sort, 10, 0)
    assert re.fullmatch(SORT_PATTERN, sort) is None


def test_the_sort_pattern_is_exactly_the_sort_fields_each_way() -> None:
    keys = [*SORT_FIELDS, *(f"-{f}" for f in SORT_FIELDS)]
    assert all(re.fullmatch(SORT_PATTERN, k) for k in keys)
    assert [parse_sort(k) for k in keys] == [(f, False) for f in SORT_FIELDS] + [(f, True) for f in SORT_FIELDS]
    aliases = {c.rsplit(" AS ", 1)[-1] for c in USER_COLUMNS}
    assert set(SORT_FIELDS) <= aliases  # every sort key is a column of the list


def test_user_count_reads_the_same_users_as_the_list() -> None:
    q = user_count("tally", "acme", T0, T1, "bob")
    page = user_list("tally", "acme", T0, T1, "end_user_id", 10, 0, "bob")
    assert q.sql == (
        "SELECT uniqExact(end_user_id) AS total\nFROM tally.events FINAL\n"
        "WHERE tenant_id = {tenant_id:String} AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}"
        " AND end_user_id != '' AND positionCaseInsensitiveUTF8(end_user_id, {search:String}) > 0"
    )
    where = q.sql.split("\n")[-1]
    assert where + "\n" in page.sql
    assert q.params == {**RANGE, "search": "bob"}
    assert user_count("tally", "acme", T0, T1, None).params == RANGE


def test_user_summary_reads_every_retained_event_of_one_user() -> None:
    q = user_summary("tally", "acme", "u'1")
    assert q.sql.endswith(
        "FROM tally.events FINAL\n"
        "WHERE tenant_id = {tenant_id:String} AND end_user_id = {end_user_id:String}\nGROUP BY end_user_id"
    )
    assert q.sql.startswith("SELECT\n    " + ",\n    ".join(USER_COLUMNS))
    assert q.params == {"tenant_id": "acme", "end_user_id": "u'1"}


def test_timeline_pages_either_way_from_a_cursor() -> None:
    at = Cursor(datetime(2026, 3, 5, 12, 0, 1, 234000, tzinfo=UTC), EVENT)
    forward = user_timeline("tally", "acme", "u1", at, "after", 101)
    assert forward.sql.endswith(
        "FROM tally.events FINAL\n"
        "WHERE tenant_id = {tenant_id:String} AND end_user_id = {end_user_id:String}\n"
        "    AND (ts, event_id) > ({cursor_ts:DateTime64(3)}, {cursor_id:UUID})\n"
        "ORDER BY ts, event_id\nLIMIT {limit:UInt32}"
    )
    assert forward.params == {
        "tenant_id": "acme",
        "end_user_id": "u1",
        "limit": 101,
        "cursor_ts": "2026-03-05 12:00:01.234",
        "cursor_id": EVENT,
    }
    backward = user_timeline("tally", "acme", "u1", at, "before", 11)
    assert "    AND (ts, event_id) < ({cursor_ts:DateTime64(3)}, {cursor_id:UUID})\n" in backward.sql
    assert backward.sql.endswith("ORDER BY ts DESC, event_id DESC\nLIMIT {limit:UInt32}")
    latest = user_timeline("tally", "acme", "u1", None, "before", 11)
    assert "cursor" not in latest.sql and "cursor_ts" not in latest.params
    assert latest.sql.endswith(
        "WHERE tenant_id = {tenant_id:String} AND end_user_id = {end_user_id:String}\n"
        "ORDER BY ts DESC, event_id DESC\nLIMIT {limit:UInt32}"
    )


def test_the_timeline_reads_every_column_an_event_type_fills() -> None:
    filled = {s.column for sources in TYPE_COLUMNS.values() for s in sources}
    sql = user_timeline("tally", "acme", "u1", None, "after", 5).sql
    for column in filled:
        assert re.search(rf"^    {column},?$", sql, re.M) or f" AS {column}" in sql, column
    assert set(TYPE_FIELD_COLUMNS) <= set(EVENTS_COLUMN_NAMES)
    assert len(TYPE_FIELD_COLUMNS) == len(set(TYPE_FIELD_COLUMNS))


def test_every_builder_is_a_statement_the_store_serves() -> None:
    at = Cursor(T0, EVENT)
    for q in (
        user_list("tally", "acme", T0, T1, "-tokens", 10, 0, "x"),
        user_count("tally", "acme", T0, T1, "x"),
        user_summary("tally", "acme", "x"),
        user_timeline("tally", "acme", "x", at, "after", 5),
        user_timeline("tally", "acme", "x", None, "before", 5),
    ):
        check_query(q.sql)
        assert "'x'" not in q.sql and "acme" not in q.sql  # values travel as parameters only


def test_a_cursor_is_epoch_milliseconds_and_the_event_id() -> None:
    at = Cursor(datetime(2026, 3, 5, 12, 0, 1, 234000, tzinfo=UTC), EVENT)
    assert at.text() == f"1772712001234_{EVENT}"
    assert Cursor.parse(at.text()) == at
    assert Cursor.parse(f"0_{EVENT.upper()}") == Cursor(datetime(1970, 1, 1, tzinfo=UTC), EVENT)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "123",
        f"-5_{EVENT}",
        f"1.5_{EVENT}",
        f"99999999999999_{EVENT}",  # year 5138
        f"1772712001234_{EVENT}'; DROP TABLE events --",
        f"1772712001234_{EVENT[:-1]}",
        f"1772712001234 {EVENT}",
        f"1772712001234_{EVENT}\n",
    ],
)
def test_anything_but_a_cursor_this_api_gave_out_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        Cursor.parse(text)


def row(kind: str, **values: Any) -> dict[str, Any]:
    empty = {c: "" for c in TYPE_FIELD_COLUMNS}
    return {**empty, "type": kind, **values}


def test_type_fields_name_each_types_columns_as_the_contract_does() -> None:
    ended = type_fields(row("session_ended", end_reason="completed", latency_ms=60000))
    assert ended == {"reason": "completed", "duration_ms": 60000}
    conversion = type_fields(
        row("conversion", order_id="o1", revenue=Decimal("12.5"), currency="EUR", attributed_session_id="s1",
            product_category="pumps")
    )  # fmt: skip
    assert conversion == {
        "order_id": "o1",
        "revenue": Decimal("12.5"),
        "currency": "EUR",
        "attributed_session_id": "s1",
        "feature": "",
        "category": "pumps",
    }
    custom = type_fields(row("custom", name="build.completed", dimensions={"status": "failed"}, measures={"s": 2.5}))
    assert custom == {"name": "build.completed", "dimensions": {"status": "failed"}, "measures": {"s": 2.5}}
    product = type_fields(row("product_event", product_action="clicked", product_category="pumps"))
    assert product["action"] == "clicked" and product["category"] == "pumps" and "product_action" not in product
    assert [type_fields(row("feedback", thumbs=t, rating=0))["thumbs"] for t in (1, -1, 0)] == ["up", "down", None]
    assert type_fields(row("not_a_type_yet")) == {}


def test_revenue_is_kept_per_currency_and_exact() -> None:
    user = end_user(
        {
            "end_user_id": "u1",
            "first_seen": T0,
            "last_seen": T1,
            "sessions": 2,
            "messages": 3,
            "llm_calls": 1,
            "tokens": 1200,
            "cost_usd": Decimal("0.000345000000"),
            "conversions": 3,
            "revenue_by_currency": {"USD": "10.100000000000", "EUR": "0.300000000000"},
        }
    )
    assert user.revenue == {"EUR": Decimal("0.3"), "USD": Decimal("10.1")}
    assert list(user.revenue) == ["EUR", "USD"]
    assert user.model_dump(mode="json")["revenue"] == {"EUR": "0.300000000000", "USD": "10.100000000000"}
