"""Explore's vocabulary: fields derived from the contract, the URL forms, and what is refused (and named)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from schemas.explore import (
    FIELDS,
    ExploreError,
    ExploreQuery,
    Filter,
    MeasureSpec,
    combine,
    parse_filter,
    parse_measure,
    resolve,
)
from views_api.queries.explore import ExploreSql, Span


def test_fields_are_the_contracts_names_mapped_to_stored_columns() -> None:
    session_ended = FIELDS["session_ended"]
    assert (session_ended["reason"].column, session_ended["reason"].kind) == ("end_reason", "dimension")
    assert (session_ended["duration_ms"].column, session_ended["duration_ms"].kind) == ("latency_ms", "measure")
    assert FIELDS["product_event"]["category"].column == "product_category"
    assert FIELDS["llm_call"]["cost_usd"].decimal and FIELDS["conversion"]["revenue"].money == "currency"
    for fields in FIELDS.values():  # the common dimensions everywhere
        assert {"domain", "model", "provider", "feature", "session_id", "end_user_id"} <= set(fields)


def test_custom_events_fields_are_their_own_dimensions_and_measures_by_key() -> None:
    q = resolve(
        ExploreQuery(
            event="custom", name="build.finished", where=[parse_filter("status=failed")], group_by=["site_type"],
            measures=[parse_measure("p95(duration_s)"), parse_measure("last(measures.model)")],
        )
    )  # fmt: skip
    assert (q.where[0].field.column, q.where[0].field.key) == ("dimensions", "status")
    assert (q.group_by[0].column, q.group_by[0].key) == ("dimensions", "site_type")
    assert [(m.field.column, m.field.key) for m in q.measures if m.field] == [
        ("measures", "duration_s"),
        ("measures", "model"),
    ]


@pytest.mark.parametrize(
    ("text", "field", "op", "value"),
    [
        ("status=failed", "status", "eq", "failed"),
        ("status!=ok", "status", "ne", "ok"),
        ("query~pump", "query", "contains", "pump"),
        ("duration_ms>=1000", "duration_ms", "ge", "1000"),
        ("duration_ms<5", "duration_ms", "lt", "5"),
        ("url=https://x.test/?a=b", "url", "eq", "https://x.test/?a=b"),  # the first operator splits
        ("note=", "note", "eq", ""),
    ],
)
def test_url_filters(text: str, field: str, op: str, value: str) -> None:
    f = parse_filter(text)
    assert (f.field, f.op, f.values) == (field, op, [value])


def test_repeated_filters_of_one_field_mean_any_of_the_values() -> None:
    joined = combine([parse_filter("status=failed"), parse_filter("site=a"), parse_filter("status=error")])
    assert [(f.field, f.op, f.values) for f in joined] == [("status", "eq", ["failed", "error"]), ("site", "eq", ["a"])]


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("count", "count"),
        ("users", "users"),
        ("p95(duration_ms)", "p95(duration_ms)"),
        ("rate(status=ok)", "rate(status=ok)"),
    ],
)
def test_measure_labels_are_what_was_written(text: str, label: str) -> None:
    assert parse_measure(text).label == label


@pytest.mark.parametrize(
    ("query", "param", "words"),
    [
        (dict(event="llm_call", group_by=["colour"]), "group_by", "unknown dimension 'colour'"),
        (dict(event="llm_call", measures=[MeasureSpec(agg="sum", field="model")]), "measure", "is a dimension"),
        (dict(event="llm_call", measures=[MeasureSpec(agg="p95")]), "measure", "needs a measure"),
        (dict(event="llm_call", measures=[MeasureSpec(agg="count", field="x")]), "measure", "takes no field"),
        (dict(event="message", name="x"), "name", "custom events"),
        (dict(event="message", group_by=["dimensions.x"]), "group_by", "only custom events have dimensions"),
        (dict(event="llm_call", where=[Filter(field="model", op="gt", values=["1"])]), "where", "is a dimension"),
        (dict(event="llm_call", where=[Filter(field="latency_ms", op="gt", values=["fast"])]), "where", "not a number"),
        (dict(event="llm_call", where=[Filter(field="latency_ms", op="gt", values=["nan"])]), "where", "finite"),
        (dict(event="llm_call", where=[Filter(field="latency_ms", op="contains", values=["1"])]), "where", "number"),
        (dict(event="conversion", measures=[MeasureSpec(agg="sum", field="revenue")]), "measure", "currencies"),
        (dict(event="llm_call", order_by="-p95(latency_ms)"), "order_by", "order by a measure asked"),
        (dict(event="custom", group_by=["x" * 140]), "group_by", "1 to 128 characters"),
    ],
)
def test_refusals_name_the_parameter(query: dict, param: str, words: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(ExploreError) as caught:
        resolve(ExploreQuery(**query))
    assert caught.value.param == param and words in caught.value.message


def test_revenue_is_summed_per_currency_only() -> None:
    by_currency = resolve(
        ExploreQuery(event="conversion", group_by=["currency"], measures=[parse_measure("sum(revenue)")])
    )
    one = resolve(ExploreQuery(event="conversion", where=[parse_filter("currency=EUR")], measures=[parse_measure("sum(revenue)")]))  # fmt: skip
    assert by_currency.measures[0].field is not None and one.measures[0].field is not None


@pytest.mark.parametrize(
    "body",
    [
        {"event": "purchase"},
        {"event": "llm_call", "limit": 0},
        {"event": "llm_call", "limit": 101},
        {"event": "llm_call", "group_by": ["a", "b", "c"]},
        {"event": "llm_call", "group_by": ["model", "model"]},
        {"event": "llm_call", "measures": []},
        {"event": "llm_call", "where": [{"field": "model", "values": []}]},
        {"event": "llm_call", "where": [{"field": "model", "values": ["x" * 257]}]},
        {"event": "llm_call", "where": [{"field": "model", "values": ["a"] * 101}]},
        {"event": "llm_call", "surprise": 1},
    ],
)
def test_the_json_form_refuses_bad_shapes(body: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError):
        ExploreQuery(**body)


@pytest.mark.parametrize("text", ["", "noop", "=x", "avg(", "p95(x", "median(x)", "rate()", "DROP TABLE"])
def test_bad_url_forms_are_refused(text: str) -> None:
    with pytest.raises(ExploreError):
        parse_measure(text) if text != "=x" and text != "noop" else parse_filter(text)


def test_tenant_values_travel_as_parameters_never_in_the_sql() -> None:
    hostile = "x'); SELECT * FROM system.users --"
    q = resolve(
        ExploreQuery(
            event="custom", name=hostile, where=[Filter(field=hostile, values=[hostile])], group_by=[hostile],
            measures=[MeasureSpec(agg="sum", field=hostile), MeasureSpec(agg="rate", where=Filter(field=hostile, values=[hostile]))],
        )
    )  # fmt: skip
    from datetime import UTC, datetime

    t = datetime(2026, 1, 1, tzinfo=UTC)
    sql = ExploreSql("db", q, Span("acme", t, t, t, "UTC", "day"))
    for built in (sql.groups(), sql.other([(hostile,)]), sql.totals(), sql.series([(hostile,)], True)):
        assert hostile not in built.sql and "system" not in built.sql
        assert hostile in [v for v in built.params.values() if isinstance(v, str)] or any(
            hostile in v for v in built.params.values() if isinstance(v, list)
        )


def test_numbers_in_filters_are_exact_decimals() -> None:
    q = resolve(ExploreQuery(event="llm_call", where=[parse_filter("cost_usd>=0.000001")]))
    assert q.where[0].values == (Decimal("0.000001"),)


def test_only_eq_and_ne_take_several_values() -> None:
    with pytest.raises(ValidationError, match="takes one value"):
        Filter(field="query", op="contains", values=["a", "b"])
    assert Filter(field="status", op="ne", values=["a", "b"]).values == ["a", "b"]


@pytest.mark.parametrize("text", ["1e26", "-1e27", "0.0000000000001"])
def test_amounts_beyond_the_money_columns_are_refused(text: str) -> None:
    with pytest.raises(ExploreError, match="26 digits"):
        resolve(ExploreQuery(event="llm_call", where=[parse_filter(f"cost_usd>{text}")]))


def test_a_funnel_step_names_one_event_type() -> None:
    from schemas.funnels import FunnelStep

    with pytest.raises(ValidationError, match="step event type"):
        FunnelStep(event="any")
