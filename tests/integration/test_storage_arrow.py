"""Arrow inserts on the real engine: in this process, and through a real `tallystream-store` over HTTP.

Every column type of the events and the rollups tables goes in as Arrow and reads back equal
(decimals to the last digit, maps, arrays, unicode, DateTime64 milliseconds); the store's
`/v1/insert-arrow` refuses what is not a well-formed batch for one of its Arrow tables with a 4xx.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pytest

from schemas.arrow import TABLE_SCHEMAS, arrow_table
from schemas.ddl import EVENTS_COLUMN_NAMES
from schemas.rollups import ROLLUP_COLUMN_NAMES
from storage import Warehouse, WarehouseSettings, open_warehouse
from storage.arrow_batches import ARROW_STREAM, to_ipc_stream
from tests.storeproc import StoreProcess, run_store

NOW = datetime.now(UTC).replace(microsecond=0)  # recent: the tables' TTLs keep it
MONEY = [Decimal("12345678901234567890123456.789012345678"), Decimal("-0.000000000001"), Decimal(0)]


def event_columns() -> dict[str, list[Any]]:
    """Three events whose every column holds a value that would show a lossy path."""
    ids = [str(uuid.UUID(int=i * 0x1234567890ABCDEF + 7)) for i in range(3)]
    cols: dict[str, list[Any]] = {}
    for name, field in zip(EVENTS_COLUMN_NAMES, TABLE_SCHEMAS["events"], strict=True):
        kind = field.type
        if pa.types.is_string(kind):
            cols[name] = [f"{name}-ünï-🚀", f"{name} 'quoted' \\ \"x\"", ""]
        elif pa.types.is_timestamp(kind):
            cols[name] = [NOW + timedelta(milliseconds=1), NOW + timedelta(milliseconds=999), NOW]
        elif pa.types.is_decimal(kind):
            cols[name] = MONEY
        elif pa.types.is_map(kind):
            value = 1e15 if pa.types.is_floating(kind.item_type) else "välue ✓"
            cols[name] = [{"ключ": value, "b": value}, {"": value}, {}]
        elif pa.types.is_floating(kind):
            cols[name] = [86_399.125, 0.1, 0.0]
        elif pa.types.is_signed_integer(kind):
            cols[name] = [-1, 1, 0]
        else:
            cols[name] = [2**kind.bit_width - 1, 1, 0]
    cols["event_id"] = ids
    cols["tenant_id"] = ["acme", "acme", "zeta"]
    cols["source_offset"] = [2**64 - 1, 1, 0]
    return cols


def rollup_columns() -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {}
    for name, field in zip(ROLLUP_COLUMN_NAMES, TABLE_SCHEMAS["rollups"], strict=True):
        kind = field.type
        if pa.types.is_string(kind):
            cols[name] = [f"{name}-ünï-🚀", "", "x"]
        elif pa.types.is_timestamp(kind):
            cols[name] = [NOW.replace(second=0), NOW.replace(second=0) - timedelta(hours=1), NOW.replace(second=0)]
        elif pa.types.is_decimal(kind):
            cols[name] = MONEY
        elif pa.types.is_map(kind):
            cols[name] = [{"tokens ✓": 1.5, "z": -2.25}, {}, {"k": 1e15}]
        elif pa.types.is_list(kind) and pa.types.is_string(kind.value_type):
            cols[name] = [["s-1", "s-ü"], [], [""]]
        elif pa.types.is_list(kind):
            cols[name] = [[0, 2**64 - 1, 3], [], [1]]
        elif pa.types.is_floating(kind):
            cols[name] = [0.5, 1e-9, 0.0]
        else:
            cols[name] = [2**kind.bit_width - 1, 1, 0]
    cols["range_id"] = [0, 1, 2]  # distinct keys: all three rows stay after FINAL
    return cols


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    with run_store(tmp_path_factory.mktemp("arrowstore"), "arrowstore") as running:
        yield running


@pytest.fixture(params=["embedded", "store"])
async def warehouse(
    request: pytest.FixtureRequest, tmp_path: Path, unique: str, store: StoreProcess
) -> AsyncIterator[tuple[Warehouse, str]]:
    if request.param == "embedded":
        wh = await open_warehouse(WarehouseSettings(chdb_path=tmp_path / "chdb", database=unique, clickhouse_url=None))
        yield wh, unique
    else:
        settings = WarehouseSettings(chdb_path=store.chdb_path, database=store.database, store_url=store.url)
        wh = await open_warehouse(settings)
        yield wh, store.database
    await wh.close()


def _expected(cols: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(cols)
    return [dict(zip(names, values, strict=True)) for values in zip(*cols.values(), strict=True)]


def _normalised(row: dict[str, Any]) -> dict[str, Any]:
    """A row read back through JSONCompact: floats in maps come back as numbers, UInt64 in arrays as text."""
    out = dict(row)
    for key, value in row.items():
        if isinstance(value, list) and value and isinstance(value[0], str) and value[0].isdigit():
            out[key] = [int(v) for v in value]
    return out


async def test_every_events_column_type_round_trips_exactly(warehouse: tuple[Warehouse, str]) -> None:
    wh, db = warehouse
    cols = event_columns()
    tenant = f"arrow-{uuid.uuid4().hex[:8]}"
    cols["tenant_id"] = [tenant] * 3
    await wh.insert_arrow(f"{db}.events", arrow_table(TABLE_SCHEMAS["events"], cols))
    rows = await wh.query(
        f"SELECT * FROM {db}.events FINAL WHERE tenant_id = {{t:String}} ORDER BY source_offset DESC", {"t": tenant}
    )
    assert [_normalised(r) for r in rows] == _expected(cols)
    assert rows[0]["cost_usd"] == Decimal("12345678901234567890123456.789012345678")
    assert rows[1]["ts"] == NOW + timedelta(milliseconds=999)
    assert rows[0]["dimensions"] == {"ключ": "välue ✓", "b": "välue ✓"}


async def test_every_rollups_column_type_round_trips_exactly(warehouse: tuple[Warehouse, str]) -> None:
    wh, db = warehouse
    cols = rollup_columns()
    tenant = f"arrow-{uuid.uuid4().hex[:8]}"
    cols["tenant_id"] = [tenant] * 3
    await wh.insert_arrow(f"{db}.rollups", arrow_table(TABLE_SCHEMAS["rollups"], cols))
    rows = await wh.query(
        f"SELECT * FROM {db}.rollups FINAL WHERE tenant_id = {{t:String}} ORDER BY range_id", {"t": tenant}
    )
    assert [_normalised(r) for r in rows] == _expected(cols)
    assert rows[0]["latency_buckets"] in ([0, 2**64 - 1, 3], ["0", str(2**64 - 1), "3"])
    assert rows[0]["measures"] == {"tokens ✓": 1.5, "z": -2.25}


async def test_arrow_and_json_inserts_store_the_same_rows(warehouse: tuple[Warehouse, str]) -> None:
    wh, db = warehouse
    cols = event_columns()
    arrow_tenant, json_tenant = (f"same-{uuid.uuid4().hex[:8]}" for _ in range(2))
    await wh.insert_arrow(
        f"{db}.events", arrow_table(TABLE_SCHEMAS["events"], {**cols, "tenant_id": [arrow_tenant] * 3})
    )
    await wh.insert(f"{db}.events", _expected({**cols, "tenant_id": [json_tenant] * 3}))
    sql = f"SELECT * EXCEPT tenant_id FROM {db}.events FINAL WHERE tenant_id = {{t:String}} ORDER BY source_offset"
    assert await wh.query(sql, {"t": arrow_tenant}) == await wh.query(sql, {"t": json_tenant})


async def test_a_batch_that_does_not_fit_its_table_is_refused_before_the_engine(
    warehouse: tuple[Warehouse, str],
) -> None:
    wh, db = warehouse
    batch = arrow_table(TABLE_SCHEMAS["events"], event_columns())
    index = batch.schema.get_field_index("source_offset")
    with pytest.raises(ValueError, match="source_offset"):
        await wh.insert_arrow(f"{db}.events", batch.set_column(index, "source_offset", pa.array([-1, 1, 0])))
    with pytest.raises(ValueError, match="alert_events"):
        await wh.insert_arrow(f"{db}.alert_events", pa.table({"x": [1]}))


def _token(store: StoreProcess) -> str:
    return (store.chdb_path / "store.token").read_text().strip()


def _post(store: StoreProcess, table: str, body: bytes, token: str | None = "", **headers: str) -> httpx.Response:
    sent = {"content-type": ARROW_STREAM, **headers}
    if token is not None:
        sent["authorization"] = f"Bearer {token or _token(store)}"
    return httpx.post(f"{store.url}/v1/insert-arrow", params={"table": table}, content=body, headers=sent, timeout=60)


def _batch(tenant: str) -> pa.Table:
    return arrow_table(TABLE_SCHEMAS["events"], {**event_columns(), "tenant_id": [tenant] * 3})


async def _count(store: StoreProcess, tenant: str) -> int:
    settings = WarehouseSettings(chdb_path=store.chdb_path, database=store.database, store_url=store.url)
    wh = await open_warehouse(settings)
    try:
        (row,) = await wh.query(
            f"SELECT count() AS n FROM {store.database}.events WHERE tenant_id = {{t:String}}", {"t": tenant}
        )
    finally:
        await wh.close()
    return int(row["n"])


async def test_the_store_takes_an_arrow_stream_over_http(store: StoreProcess) -> None:
    response = _post(store, f"{store.database}.events", to_ipc_stream(_batch("over-http")))
    assert response.status_code == 200, response.text
    assert await _count(store, "over-http") == 3


def _ipc_of(table: pa.Table) -> bytes:
    return to_ipc_stream(table)


@pytest.mark.parametrize(
    ("case", "status", "named"),
    [
        ("no token", 401, "token"),
        ("wrong token", 401, "token"),
        ("json content type", 415, ARROW_STREAM),
        ("form content type", 415, ARROW_STREAM),
        ("not arrow", 400, "Arrow IPC stream"),
        ("truncated", 400, "Arrow IPC stream"),
        ("arrow file, not stream", 400, "Arrow IPC stream"),
        ("columns reordered", 400, "table order"),
        ("column missing", 400, "table order"),
        ("null in a column", 400, "tenant_id holds nulls"),
        ("lossy type", 400, "source_offset"),
        ("unknown table", 403, "alert_events"),
        ("system table", 403, "system"),
        ("other database", 403, "serves the database"),
        ("not database.table", 400, "database.table"),
        ("injected name", 400, "identifier"),
    ],
)
async def test_hostile_arrow_inserts_get_a_4xx_naming_the_fault_and_store_nothing(
    store: StoreProcess, case: str, status: int, named: str
) -> None:
    tenant = f"hostile-{uuid.uuid4().hex[:8]}"
    batch, table = _batch(tenant), f"{store.database}.events"
    body, token, headers = _ipc_of(batch), "", {}
    if case == "no token":
        token = None
    elif case == "wrong token":
        token = "wrong-token-wrong-token-wrong-token"
    elif case == "json content type":
        headers = {"content-type": "application/json"}
    elif case == "form content type":
        headers = {"content-type": "application/x-www-form-urlencoded"}
    elif case == "not arrow":
        body = b'{"tenant_id": "x"}'
    elif case == "truncated":
        body = body[: len(body) // 2]
    elif case == "arrow file, not stream":
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, batch.schema) as writer:
            writer.write_table(batch)
        body = bytes(sink.getvalue())
    elif case == "columns reordered":
        body = _ipc_of(batch.select(list(reversed(batch.schema.names))))
    elif case == "column missing":
        body = _ipc_of(batch.drop_columns(["cost_usd"]))
    elif case == "null in a column":
        body = _ipc_of(batch.set_column(0, pa.field("tenant_id", pa.string()), pa.array([tenant, None, tenant])))
    elif case == "lossy type":
        index = batch.schema.get_field_index("source_offset")
        body = _ipc_of(batch.set_column(index, "source_offset", pa.array([-5, 1, 0], pa.int64())))
    elif case == "unknown table":
        table = f"{store.database}.alert_events"
    elif case == "system table":
        table = "system.events"
    elif case == "other database":
        table = "default.events"
    elif case == "not database.table":
        table = "events"
    elif case == "injected name":
        table = f"{store.database}.events (tenant_id) SELECT 1 --"
    response = _post(store, table, body, token, **headers)
    assert response.status_code == status, response.text
    assert named in response.json()["error"]
    assert await _count(store, tenant) == 0


async def test_an_oversized_arrow_body_is_413_before_the_token(tmp_path: Path) -> None:
    with run_store(tmp_path, "arrowsmall", TALLY_STORE_MAX_BODY_BYTES=str(1024 * 1024)) as small:
        big = arrow_table(
            TABLE_SCHEMAS["events"],
            {**{k: v * 700 for k, v in event_columns().items()}, "event_id": [str(uuid.uuid4()) for _ in range(2100)]},
        )
        body = to_ipc_stream(big)
        assert len(body) > 1024 * 1024
        for token in (None, ""):
            response = _post(small, f"{small.database}.events", body, token)
            assert response.status_code == 413, response.text
            assert str(1024 * 1024) in response.json()["error"]
        fits = _post(small, f"{small.database}.events", to_ipc_stream(big.slice(0, 100)))
        assert fits.status_code == 200, fits.text
