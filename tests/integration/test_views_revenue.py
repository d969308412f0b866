"""Revenue and Whisper minutes over real HTTP on a known event set (tests/revenuedata.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from tests.revenuedata import Shop, shop_views

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shop(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shop]:
    async with shop_views(tmp_path_factory.mktemp("shop")) as served:
        yield served


def money(entry: dict[str, Any], *keys: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(entry[k]) for k in keys)


def split(entries: list[dict[str, Any]], name: str) -> list[tuple[str, Decimal, int]]:
    return [(e[name], Decimal(e["revenue"]), e["conversions"]) for e in entries]


async def test_revenue_per_currency_with_previous_period_growth_and_breakdowns(shop: Shop) -> None:
    body = (await shop.get("/revenue?period=7d")).json()
    assert body["period"]["since"] == "2026-03-12T00:00:00Z" and body["period"]["until"] == "2026-03-19T00:00:00Z"
    assert body["previous_since"] == "2026-03-05T00:00:00Z"
    eur, gbp, usd = body["currencies"]
    # USD: 129.90 + 20.10 + 50.00 + 9.99 now; 100.00 before (1000.00 on 03-04 is before both periods)
    assert usd["currency"] == "USD" and money(usd, "total", "previous_total") == (Decimal("209.99"), Decimal("100"))
    assert (usd["conversions"], usd["previous_conversions"], usd["growth_pct"]) == (4, 1, 109.99)
    assert split(usd["by_feature"], "feature") == [
        ("chat", Decimal("150.00"), 2),
        ("search", Decimal("50.00"), 1),
        ("(none)", Decimal("9.99"), 1),
    ]
    assert split(usd["by_category"], "category") == [
        ("pumps", Decimal("179.90"), 2),
        ("filters", Decimal("20.10"), 1),
        ("(none)", Decimal("9.99"), 1),
    ]
    assert [f["share_pct"] for f in usd["by_feature"]] == [71.43, 23.81, 4.76]
    # EUR stays apart (0.01 at the period's first instant counts); nothing before: no growth
    assert eur["currency"] == "EUR" and money(eur, "total", "previous_total") == (Decimal("100.01"), Decimal(0))
    assert (eur["conversions"], eur["growth_pct"]) == (2, None)
    assert split(eur["by_category"], "category") == [("pumps", Decimal("100.00"), 1), ("gauges", Decimal("0.01"), 1)]
    # GBP sold only in the previous period
    assert gbp["currency"] == "GBP" and money(gbp, "total", "previous_total") == (Decimal(0), Decimal("42.00"))
    assert (gbp["conversions"], gbp["growth_pct"], gbp["by_feature"], gbp["by_category"]) == (0, -100.0, [], [])
    # amounts in different currencies are never added, in any figure of the answer
    figures = {Decimal(c[k]) for c in body["currencies"] for k in ("total", "previous_total")}
    figures |= {Decimal(e["revenue"]) for c in body["currencies"] for e in c["by_feature"] + c["by_category"]}
    assert not figures & {Decimal("309.99"), Decimal("310.00"), Decimal("250.00"), Decimal("279.90")}


async def test_revenue_over_dates_and_cut_breakdowns(shop: Shop) -> None:
    body = (await shop.get("/revenue?from=2026-03-16&to=2026-03-18&limit=1")).json()
    eur, usd = body["currencies"]  # GBP sold in neither [03-16, 03-19) nor [03-13, 03-16)
    assert body["previous_since"] == "2026-03-13T00:00:00Z"
    assert money(usd, "total", "previous_total") == (Decimal("200.00"), Decimal("9.99"))
    assert (usd["conversions"], usd["previous_conversions"], usd["growth_pct"]) == (3, 1, 1902.0)
    assert split(usd["by_feature"], "feature") == [("chat", Decimal("150.00"), 2)] and usd["features"] == 2
    assert split(usd["by_category"], "category") == [("pumps", Decimal("179.90"), 2)] and usd["categories"] == 2
    assert money(eur, "total", "previous_total") == (Decimal("100.00"), Decimal(0))


async def test_revenue_refuses_bad_parameters_by_name(shop: Shop) -> None:
    for query, param in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("limit=" + "9" * 400, "limit"),
        ("period=forever", "period"),
        ("days=100000", "days"),
        ("from=2026-03-01&to='; DROP TABLE events --", "to"),
        ("tz=../../etc/passwd", "tz"),
        ("granularity=decade", "granularity"),
    ]:
        body = (await shop.get(f"/revenue?{query}", status=422)).json()
        assert body["detail"][0]["loc"] == ["query", param], (query, body)


async def test_whisper_minutes_per_week_per_day_per_provider_and_per_model(shop: Shop) -> None:
    weekly = (await shop.get("/usage?type=weekly")).json()["weekly"]
    assert [w["start"] for w in weekly[-2:]] == ["2026-03-09T00:00:00Z", "2026-03-16T00:00:00Z"]
    assert [w["audio_minutes"] for w in weekly] == [0.0] * 10 + [0.5, 2.25]  # 30 s; 90 s + 45 s
    assert [w["requests"] for w in weekly[-2:]] == [1, 3]
    usage = (await shop.get("/usage?days=14&type=all")).json()
    by_day = {d["start"][:10]: d["audio_minutes"] for d in usage["daily"] if d["audio_minutes"]}
    assert by_day == {"2026-03-10": 0.5, "2026-03-16": 0.75, "2026-03-17": 1.5}
    assert usage["summary"]["audio_minutes"] == 2.75
    providers = {p["provider"]: (p["audio_minutes"], p["requests"]) for p in usage["summary"]["by_provider"]}
    assert providers == {"groq": (2.25, 2), "openai": (0.5, 2)}
    assert {m["audio_minutes"] for m in usage["monthly"][:-1]} == {0.0} and usage["monthly"][-1][
        "audio_minutes"
    ] == 2.75
    models = (await shop.get("/models?period=7d")).json()["models"]
    assert {(m["provider"], m["model"]): m["audio_minutes"] for m in models} == {
        ("groq", "whisper-large-v3"): 2.25,
        ("openai", "gpt-4o-mini"): 0.0,
    }
