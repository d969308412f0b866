"""The storage adapter on the real embedded engine: schema, exact decimals, idempotent replays.

Each test runs twice: on the engine in this process, and on a real `tallystream-store` over HTTP
(with the token it writes beside its data, read by the client from there).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from processors.pricing import PriceBook
from processors.rows import build_batch
from storage import WarehouseError, WarehouseSettings, open_warehouse
from tests.factories import llm_call, message
from tests.rates import expected_cost
from tests.storeproc import run_store

# Recent: rows older than the raw retention (30 days) are dropped by the table TTL.
TS = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(params=["embedded", "store"])
async def warehouse(request: pytest.FixtureRequest, tmp_path: Path, unique: str):
    settings = WarehouseSettings(chdb_path=tmp_path / "chdb", database=unique, clickhouse_url=None)
    if request.param == "embedded":
        wh = await open_warehouse(settings)
        yield wh, unique
        await wh.close()
        return
    with run_store(tmp_path, unique) as store:
        wh = await open_warehouse(settings.model_copy(update={"store_url": store.url}))
        yield wh, unique
        await wh.close()


async def test_replayed_batch_is_counted_once_with_exact_cost(warehouse) -> None:
    wh, db = warehouse
    events = [llm_call("acme", TS, input_tokens=1000 + i, output_tokens=7 * i) for i in range(50)]
    events += [message("acme", TS, role="user"), llm_call("acme", TS, model="mystery-9")]
    records = [(b"acme", orjson.dumps(e)) for e in events]
    batch = build_batch(records, PriceBook(), TS)
    await wh.insert(f"{db}.events", batch.rows)
    await wh.insert(f"{db}.events", batch.rows)  # a replay after a crash before the offset commit
    await wh.insert(f"{db}.events", batch.rows[:10])

    (row,) = await wh.query(
        f"SELECT count() AS n, sum(cost_usd) AS cost, sum(input_tokens) AS tin, "
        f"countIf(price_status = 'unknown_model') AS unknown FROM {db}.events FINAL "
        "WHERE tenant_id = {tenant:String}",
        {"tenant": "acme"},
    )
    expected = sum(expected_cost("openai", "gpt-4o-mini", 1000 + i, 7 * i) for i in range(50))
    assert row == {
        "n": 52,
        "cost": expected,
        "tin": sum(1000 + i for i in range(50)) + 1000,
        "unknown": 1,
    }
    assert isinstance(row["cost"], Decimal)


async def test_other_tenants_rows_are_not_read(warehouse) -> None:
    wh, db = warehouse
    rows = build_batch(
        [(b"a", orjson.dumps(llm_call("a", TS))), (b"b", orjson.dumps(llm_call("b", TS)))], PriceBook(), TS
    ).rows
    await wh.insert(f"{db}.events", rows)
    result = await wh.query(
        f"SELECT tenant_id, count() AS n FROM {db}.events FINAL WHERE tenant_id = {{t:String}} GROUP BY tenant_id",
        {"t": "b"},
    )
    assert result == [{"tenant_id": "b", "n": 1}]


async def test_engine_errors_are_raised_as_warehouse_errors(warehouse) -> None:
    wh, db = warehouse
    with pytest.raises(WarehouseError, match="UNKNOWN_TABLE|does not exist"):
        await wh.query(f"SELECT * FROM {db}.no_such_table")
