"""The revenue view's pure parts: its rollup reads (named dimensions, one currency per row) and the report."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from schemas.registry import REGISTRY
from schemas.rollups import ROLLUP_DIMENSIONS
from views_api.queries import Scope
from views_api.queries.revenue import revenue_by
from views_api.routes.revenue import currency_report

SCOPE = Scope("acme", "day", datetime(2026, 3, 12, tzinfo=UTC), datetime(2026, 3, 19, tzinfo=UTC), ("llm_call",))


def row(currency: str, revenue: str, events: int, **dimension: str) -> dict[str, Any]:
    return {"currency": currency, "revenue": Decimal(revenue), "events": events, **dimension}


def test_the_conversion_rollup_names_category_in_the_third_slot() -> None:
    assert ROLLUP_DIMENSIONS["conversion"][:2] == ("currency", "feature")
    assert ROLLUP_DIMENSIONS["conversion"][2].startswith("product category")
    assert [REGISTRY.types["conversion"].slot(n) for n in ("currency", "feature", "category")] == ["d1", "d2", "d3"]


@pytest.mark.parametrize(("breakdown", "slot"), [("feature", "r.d2"), ("category", "r.d3")])
def test_revenue_reads_name_their_dimensions_and_always_group_by_currency(breakdown: Any, slot: str) -> None:
    q = revenue_by("db", SCOPE, breakdown)
    assert q.sql.startswith(f"SELECT\n    r.d1 AS currency,\n    {slot} AS {breakdown},\n    sum(r.events) AS events,")
    assert "sum(r.revenue) AS revenue\nFROM db.rollups AS r FINAL" in q.sql
    assert q.sql.endswith(f"GROUP BY currency, {breakdown}\nORDER BY currency, revenue DESC, {breakdown}")
    assert q.params["types"] == ["conversion"]  # the scope's types are replaced: conversions only
    assert q.params["tenant_id"] == "acme" and q.params["since"] == "2026-03-12 00:00:00"


def test_the_total_read_groups_by_currency_alone() -> None:
    q = revenue_by("db", SCOPE)
    assert q.sql.startswith("SELECT\n    r.d1 AS currency,\n    sum(r.events) AS events,")
    assert q.sql.endswith("GROUP BY currency\nORDER BY currency")
    with pytest.raises(ValueError, match="breakdown"):
        revenue_by("db", SCOPE, "d3")  # type: ignore[arg-type]


FEATURES = [
    row("USD", "150.00", 2, feature="chat"),
    row("USD", "50.00", 1, feature="search"),
    row("USD", "9.99", 1, feature=""),
    row("EUR", "100.00", 1, feature="chat"),
    row("EUR", "0.01", 1, feature="search"),
]
CATEGORIES = [
    row("USD", "179.90", 2, category="pumps"),
    row("USD", "20.10", 1, category="filters"),
    row("USD", "9.99", 1, category=""),
    row("EUR", "100.00", 1, category="pumps"),
    row("EUR", "0.01", 1, category="gauges"),
]
PREVIOUS = [row("USD", "100.00", 1), row("GBP", "42.00", 1)]


def test_each_currency_stands_alone_with_its_previous_period_and_growth() -> None:
    eur, gbp, usd = currency_report(FEATURES, CATEGORIES, PREVIOUS)
    assert (usd.currency, usd.total, usd.conversions) == ("USD", Decimal("209.99"), 4)
    assert (usd.previous_total, usd.previous_conversions, usd.growth_pct) == (Decimal("100.00"), 1, 109.99)
    assert (eur.currency, eur.total, eur.conversions) == ("EUR", Decimal("100.01"), 2)
    assert (eur.previous_total, eur.growth_pct) == (Decimal(0), None)  # nothing before: no growth figure
    assert (gbp.total, gbp.conversions, gbp.previous_total, gbp.growth_pct) == (Decimal(0), 0, Decimal("42.00"), -100.0)
    assert gbp.by_feature == gbp.by_category == [] and gbp.features == gbp.categories == 0
    assert Decimal("310.00") not in {c.total for c in (eur, gbp, usd)}  # EUR + USD is never a figure


def test_breakdowns_are_per_currency_largest_first_with_none_named() -> None:
    eur, _, usd = currency_report(FEATURES, CATEGORIES, PREVIOUS)
    assert [(f.feature, f.revenue, f.conversions, f.share_pct) for f in usd.by_feature] == [
        ("chat", Decimal("150.00"), 2, 71.43),
        ("search", Decimal("50.00"), 1, 23.81),
        ("(none)", Decimal("9.99"), 1, 4.76),
    ]
    assert [(c.category, c.revenue) for c in usd.by_category] == [
        ("pumps", Decimal("179.90")),
        ("filters", Decimal("20.10")),
        ("(none)", Decimal("9.99")),
    ]
    assert [(c.category, c.revenue, c.share_pct) for c in eur.by_category] == [
        ("pumps", Decimal("100.00"), 99.99),
        ("gauges", Decimal("0.01"), 0.01),
    ]


def test_limit_cuts_each_breakdown_and_counts_say_so() -> None:
    _, _, usd = currency_report(FEATURES, CATEGORIES, PREVIOUS, limit=1)
    assert [f.feature for f in usd.by_feature] == ["chat"] and usd.features == 3
    assert [c.category for c in usd.by_category] == ["pumps"] and usd.categories == 3
    assert usd.total == Decimal("209.99")  # the total is never cut


def test_zero_revenue_shares_by_conversions() -> None:
    (free,) = currency_report([row("USD", "0", 3, feature="a"), row("USD", "0", 1, feature="b")], [], [])
    assert [(f.feature, f.share_pct) for f in free.by_feature] == [("a", 75.0), ("b", 25.0)]
    assert free.growth_pct is None and free.by_category == []


def test_tenant_values_are_parameters_never_sql_text() -> None:
    evil = "x' OR 1=1 --"
    for breakdown in (None, "feature", "category"):
        q = revenue_by("db", Scope(evil, "day", SCOPE.since, SCOPE.until, domain=evil), breakdown)  # type: ignore[arg-type]
        assert evil not in q.sql and q.params["tenant_id"] == q.params["domain"] == evil
