"""The alert engine's one query on the real engine: rolling windows, today, the month, filters."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from processors.alerts.metrics import rule_value, tick_query
from schemas.alerts import AlertRule
from schemas.ddl import render_ddl
from schemas.rollups import render_rollup_ddl
from storage.chdb_store import ChdbWarehouse
from tests.factories import llm_call
from tests.rates import expected_cost
from tests.viewsdata import DB, NOW, load

pytestmark = pytest.mark.integration
UTC = ZoneInfo("UTC")


def rule(**fields: Any) -> AlertRule:
    base: dict[str, Any] = {"rule_id": "r", "tenant_id": "acme", "name": "r", "metric": "requests", "window": "5m",
                            "threshold": Decimal(0), "created_at": NOW, "updated_at": NOW}  # fmt: skip
    return AlertRule(**{**base, **fields})


async def test_tick_query_sums_each_window_in_the_store(tmp_path: Path) -> None:
    wh = ChdbWarehouse(tmp_path / "chdb")
    retention = {"minute": 3650, "hour": 3650, "day": 3650}
    for statement in render_ddl(DB, raw_retention_days=3650) + render_rollup_ddl(DB, retention):
        await wh.execute(statement)
    ago = lambda **kw: NOW - timedelta(**kw)  # noqa: E731
    calls = [
        llm_call("acme", ago(seconds=30), status="error"),
        llm_call("acme", ago(minutes=3, seconds=50), model="gpt-4o", input_tokens=3000),
        llm_call("acme", ago(minutes=10), feature="search"),
        llm_call("acme", ago(minutes=40)),
        llm_call("acme", ago(hours=3)),
        llm_call("acme", ago(days=1)),
        llm_call("acme", ago(days=20)),  # last month
        llm_call("globex", ago(minutes=1), model="gpt-4o"),
    ]
    await load(wh, calls)
    q = tick_query(DB, ["acme", "globex"], NOW + timedelta(seconds=20), detailed=["acme"], latency=True)
    rows = await wh.query(q.sql, q.params)
    acme = [r for r in rows if r["tenant_id"] == "acme"]
    globex = [r for r in rows if r["tenant_id"] == "globex"]
    now = NOW + timedelta(seconds=20)

    def value(tenant_rows: list[dict[str, Any]], **fields: Any) -> float | None:
        return rule_value(rule(**fields), tenant_rows, now, UTC, Decimal(100), {})

    assert value(acme) == 2  # the last 5 minute windows (15:26-15:30): 30 s and 3 min 50 s ago
    assert value(acme, window="15m") == 3
    assert value(acme, window="1h") == 4
    assert value(acme, window="day") == 5
    assert value(acme, metric="error_rate") == 50.0
    assert value(acme, filters={"model": "gpt-4o"}) == 1
    assert value(acme, window="15m", filters={"feature": "search"}) == 1
    mar = [c for c in calls[:6]]
    assert value(acme, metric="budget_used_pct") == pytest.approx(
        float(sum(expected_cost("openai", c["model"], c["input_tokens"], c["output_tokens"]) for c in mar))
    )
    assert value(acme, metric="latency_p95") == 500.0  # every call took 420 ms: the 300-500 ms bucket
    assert {(r["provider"], r["model"]) for r in globex} == {("", "")}  # no filtered rule: summed per tenant only
    assert value(globex) == 1
    await wh.close()
