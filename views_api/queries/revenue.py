"""The revenue view's rollup reads: conversions and revenue per currency, optionally per one more dimension.

The conversion rollup's named dimensions (`currency`, `feature`, `category`, `schemas.registry`) are
read through `rollup_totals`, so the slots (d1, d2, d3) never appear in a response. `currency` is
always a grouping column: amounts in different currencies are never summed together.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final, Literal

from views_api.queries.base import Query
from views_api.queries.rollups import Scope, rollup_totals

CONVERSION: Final = "conversion"
REVENUE_MEASURES: Final = ("events", "revenue")
"""What a revenue row holds: `events` (conversions) and `revenue` (exact, in the row's currency)."""
Breakdown = Literal["feature", "category"]
BREAKDOWNS: Final[tuple[Breakdown, ...]] = ("feature", "category")


def revenue_by(database: str, scope: Scope, breakdown: Breakdown | None = None) -> Query:
    """Conversions and revenue of the conversion rows in `scope` (its types are replaced), per currency
    and, if given, per `breakdown`: one row per (currency[, breakdown]), largest revenue first within a
    currency."""
    if breakdown is not None and breakdown not in BREAKDOWNS:
        raise ValueError(f"unknown revenue breakdown {breakdown!r}")
    group_by = ("currency",) if breakdown is None else ("currency", breakdown)
    order_by = ("currency",) if breakdown is None else ("currency", "revenue DESC", breakdown)
    return rollup_totals(database, replace(scope, types=(CONVERSION,)), REVENUE_MEASURES, group_by, order_by=order_by)
