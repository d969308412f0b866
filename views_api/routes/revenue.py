"""Revenue under /api/dashboard/{tenant_id}/revenue: total, previous period, growth, by AI
feature and by product category, per currency (amounts in different currencies are never added).

Reads the conversion rollups (any period the rollups keep, not limited by the raw events' retention):
three grouped reads, per (currency, feature) and per (currency, category) over the period and per
currency over the previous one (`queries.revenue`). Conversions stored before they carried a category
have category '' and show as "(none)", as do conversions sent without a feature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Query

from views_api.context import TenantCtx, period_params, scope
from views_api.deps import DatabaseDep, WarehouseDep, run
from views_api.models import PeriodOut
from views_api.models_revenue import CategoryRevenue, CurrencyRevenue, FeatureRevenue, Revenue
from views_api.periods import Period
from views_api.queries.revenue import revenue_by
from views_api.reading import change, rate

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["revenue"])

NONE: Final = "(none)"
"""How an empty feature or category ('' in the rollups) is shown."""
MAX_ROWS: Final = 1000

Row = Mapping[str, Any]


def _per_currency(rows: Iterable[Row]) -> dict[str, list[Row]]:
    out: dict[str, list[Row]] = {}
    for row in rows:
        out.setdefault(row["currency"], []).append(row)
    return out


def _ranked(rows: list[Row], name: str, total: Decimal, conversions: int, limit: int) -> list[dict[str, Any]]:
    """The rows of one currency as breakdown entries (name '' as NONE), largest revenue first, at most `limit`."""
    ordered = sorted(rows, key=lambda r: (-r["revenue"], r[name]))[:limit]
    return [
        {
            name: r[name] or NONE,
            "revenue": r["revenue"],
            "conversions": r["events"],
            "share_pct": rate(r["revenue"], total) if total else rate(r["events"], conversions),
        }
        for r in ordered
    ]


def currency_report(
    by_feature: Iterable[Row], by_category: Iterable[Row], previous: Iterable[Row], limit: int = MAX_ROWS
) -> list[CurrencyRevenue]:
    """Per currency (by code): the period's total and conversions (from the per-feature rows), the previous
    period's, the growth, and the breakdowns; every sum stays within one currency."""
    features, categories = _per_currency(by_feature), _per_currency(by_category)
    before = {r["currency"]: r for r in previous}
    out = []
    for currency in sorted(features.keys() | before.keys()):
        mine = features.get(currency, [])
        total = sum((r["revenue"] for r in mine), Decimal(0))
        conversions = sum(r["events"] for r in mine)
        prior = before.get(currency, {"revenue": Decimal(0), "events": 0})
        cats = categories.get(currency, [])
        out.append(
            CurrencyRevenue(
                currency=currency,
                total=total,
                previous_total=prior["revenue"],
                growth_pct=change(total, prior["revenue"]),
                conversions=conversions,
                previous_conversions=prior["events"],
                by_feature=[FeatureRevenue(**f) for f in _ranked(mine, "feature", total, conversions, limit)],
                features=len(mine),
                by_category=[CategoryRevenue(**c) for c in _ranked(cats, "category", total, conversions, limit)],
                categories=len(cats),
            )
        )
    return out


@router.get("/revenue", response_model=Revenue)
async def revenue(
    tenant: TenantCtx,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    period: Annotated[Period, Depends(period_params("30d"))],
    limit: Annotated[
        int, Query(ge=1, le=MAX_ROWS, description="Most rows of each breakdown (by_feature, by_category) per currency.")
    ] = 50,
) -> Revenue:
    """Revenue per currency over the period: total, previous period (same length, just before), growth,
    conversions, and the split by AI feature and by product category. Amounts in different currencies
    are never added."""
    current = scope(tenant, period, "conversion")
    by_feature = await run(warehouse, revenue_by(database, current, "feature"))
    by_category = await run(warehouse, revenue_by(database, current, "category"))
    previous = await run(warehouse, revenue_by(database, scope(tenant, period, "conversion", previous=True)))
    return Revenue(
        tenant_id=tenant.tenant_id,
        period=PeriodOut.of(period),
        previous_since=period.prev_since,
        currencies=currency_report(by_feature, by_category, previous, limit),
    )
