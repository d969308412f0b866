"""`tallystream-store` over real HTTP: token always, loopback Host only, JSON only, no file/URL/remote SQL."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from processors.pricing import PriceBook
from processors.rows import build_batch
from storage import WarehouseError, WarehouseSettings, open_warehouse
from storage.remote import RemoteWarehouse
from tests.factories import llm_call
from tests.storeproc import StoreProcess, run_store

TS = datetime.now(UTC).replace(microsecond=0)
SECRET_FILE = "/etc/hostname"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreProcess]:
    with run_store(tmp_path_factory.mktemp("store"), "storesec") as running:
        yield running


def _token(store: StoreProcess) -> str:
    return (store.chdb_path / "store.token").read_text().strip()


def _post(store: StoreProcess, path: str, body: object, token: str | None, **headers: str) -> httpx.Response:
    sent = {"content-type": "application/json", **headers}
    if token is not None:
        sent["authorization"] = f"Bearer {token}"
    return httpx.post(f"{store.url}{path}", content=orjson.dumps(body), headers=sent, timeout=30)


async def test_a_token_is_made_owner_only_and_never_logged(store: StoreProcess) -> None:
    path = store.chdb_path / "store.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = _token(store)
    assert len(token) >= 32
    assert token not in store.log.read_text()


@pytest.mark.parametrize("token", [None, "x", "wrong-token-wrong-token-wrong-token"])
async def test_no_token_or_a_wrong_one_is_401(store: StoreProcess, token: str | None) -> None:
    response = _post(store, "/v1/query", {"sql": "SELECT 1 AS x"}, token)
    assert response.status_code == 401
    assert "token" in response.json()["error"]
    assert _post(store, "/v1/query", {"sql": "SELECT 1 AS x"}, _token(store)).status_code == 200


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT * FROM file('{SECRET_FILE}', 'LineAsString')",
        f"SELECT file('{SECRET_FILE}') AS f",
        "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
        "SELECT * FROM remote('127.0.0.1:9000', system.one)",
        "SELECT * FROM s3('http://127.0.0.1:9/bucket/x.csv', 'CSV')",
        "SELECT * FROM executable('id', 'LineAsString', 'x String')",
        "SELECT 1 INTO OUTFILE '/tmp/tally-store-outfile.txt'",
        "SELECT name, value FROM system.settings",
        "SELECT 1; SELECT 2",
        "SELECT 1 SETTINGS readonly = 0",
        "SELECT 1 /* */",
    ],
)
async def test_outside_reaching_sql_is_refused_even_with_the_token(store: StoreProcess, sql: str) -> None:
    response = _post(store, "/v1/query", {"sql": sql}, _token(store))
    assert response.status_code == 403, response.text
    assert "refused" in response.json()["error"]
    assert "root" not in response.text
    assert not Path("/tmp/tally-store-outfile.txt").exists()


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO FUNCTION file('/tmp/tally-store-w.csv', 'CSV') SELECT 1",
        "CREATE TABLE IF NOT EXISTS storesec.f (a String) ENGINE = File(CSV, '/etc/passwd')",
        "CREATE TABLE IF NOT EXISTS storesec.u (a String) ENGINE = URL('http://127.0.0.1:9/', CSV)",
        "DROP TABLE storesec.events",
        "TRUNCATE TABLE storesec.events",
        "ALTER TABLE storesec.events DELETE WHERE 1",
        "SYSTEM SHUTDOWN",
        "CREATE MATERIALIZED VIEW IF NOT EXISTS storesec.v TO storesec.events AS SELECT * FROM file('/etc/passwd')",
    ],
)
async def test_execute_takes_schema_statements_only(store: StoreProcess, sql: str) -> None:
    response = _post(store, "/v1/execute", {"sql": sql}, _token(store))
    assert response.status_code == 403, response.text
    rows = _post(store, "/v1/query", {"sql": "SELECT count() AS n FROM storesec.events"}, _token(store))
    assert rows.status_code == 200


async def test_the_engine_itself_refuses_sources_and_other_databases(store: StoreProcess) -> None:
    # past the server's fence (a name it does not know as a table function), the engine's grants answer
    response = _post(store, "/v1/execute", {"sql": "CREATE DATABASE IF NOT EXISTS elsewhere"}, _token(store))
    assert response.status_code == 403
    assert "ACCESS_DENIED" in response.json()["error"]


@pytest.mark.parametrize("host", ["evil.example:{port}", "attacker.test", "127.0.0.1:1", "localhost.evil.test:{port}"])
async def test_a_foreign_host_header_is_refused(store: StoreProcess, host: str) -> None:
    response = _post(store, "/v1/query", {"sql": "SELECT 1 AS x"}, _token(store), host=host.format(port=store.port))
    assert response.status_code == 421
    ok = _post(store, "/v1/query", {"sql": "SELECT 1 AS x"}, _token(store), host=f"localhost:{store.port}")
    assert ok.status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""])
async def test_a_browser_simple_post_is_415(store: StoreProcess, content_type: str) -> None:
    response = _post(store, "/v1/query", {"sql": "SELECT 1 AS x"}, _token(store), **{"content-type": content_type})
    assert response.status_code == 415
    insert = httpx.post(
        f"{store.url}/v1/insert?table=storesec.events",
        content=b"{}",
        headers={"authorization": f"Bearer {_token(store)}", "content-type": "text/plain"},
    )
    assert insert.status_code == 415


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"sql": 5}', b'{"sql": "SELECT 1", "params": [1]}', b'{"query": "SELECT 1"}']
)
async def test_a_malformed_body_is_400(store: StoreProcess, body: bytes) -> None:
    response = httpx.post(
        f"{store.url}/v1/query",
        content=body,
        headers={"authorization": f"Bearer {_token(store)}", "content-type": "application/json"},
    )
    assert response.status_code == 400, response.text


async def test_the_roles_work_end_to_end_with_the_token_file(store: StoreProcess) -> None:
    # the worker's settings: the store's URL and data folder; the token is read from the file beside it
    settings = WarehouseSettings(
        store_url=store.url, chdb_path=store.chdb_path, database=store.database, clickhouse_url=None
    )
    wh = await open_warehouse(settings)  # the whole schema, over /v1/execute
    try:
        events = [llm_call("acme", TS, input_tokens=100 + i) for i in range(5)]
        batch = build_batch([(b"acme", orjson.dumps(e)) for e in events], PriceBook(), TS)
        await wh.insert(f"{store.database}.events", batch.rows)
        rows = await wh.query(
            f"SELECT count() AS n, sum(input_tokens) AS tin FROM {store.database}.events FINAL "
            "WHERE tenant_id = {t:String} AND event_id IN {ids:Array(UUID)}",
            {"t": "acme", "ids": [e["event_id"] for e in events]},
        )
        assert rows == [{"n": 5, "tin": sum(100 + i for i in range(5))}]
        with pytest.raises(WarehouseError, match="403"):
            await wh.query("SELECT * FROM file('/etc/passwd', 'LineAsString')")
    finally:
        await wh.close()
    wrong = RemoteWarehouse(store.url, token="wrong-token-wrong-token-wrong-token")
    try:
        with pytest.raises(WarehouseError, match="401"):
            await wrong.query("SELECT 1 AS x")
    finally:
        await wrong.close()


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rev") / "secret.txt"
    path.write_text("TALLY-SECRET-5f3a\n")
    return path


# Placeholders whose type ends them elsewhere for the engine than for a naive guard, or names a table.
PLACEHOLDER_EXPLOITS = [
    (
        "SELECT {{x:Enum8('}}'=1)}} AS a, file('{secret}') AS b, {{z:Enum8('{{y:Enum8(', 'q')}} AS c",
        {"x": "}", "z": "q"},
    ),
    ("SELECT {{x:Enum8('}}'=1)}} AS a INTO OUTFILE '{outfile}' AND STDOUT --'", {"x": "}"}),
    ("SELECT {{x:Enum8('a''}}'=1)}} AS a, file('{secret}') AS b --'", {"x": "a'}"}),
    ("SELECT {{x:Enum8('\\'}}'=1)}} AS a, file('{secret}') AS b --'", {"x": "'}"}),
    ("SELECT {{x:Enum8(\u2018}}\u2019=1)}} AS a, file('{secret}') AS b --'", {"x": "}"}),
    ("SELECT {{x:String/* }} */}} AS a, file('{secret}') AS b", {"x": "q"}),
    ("SELECT {{x:Array({{y:String}})}} AS a", {"x": "[]", "y": "q"}),
    ("SELECT count() AS n FROM {{d:Identifier}}.{{t:Identifier}}", {"d": "system", "t": "processes"}),
    ("SELECT name, value FROM {{d:Identifier}}.{{t:Identifier}}", {"d": "system", "t": "settings"}),
    ("SELECT count() AS n FROM {{t:Identifier}}", {"t": "system.processes"}),
]


@pytest.mark.parametrize(("template", "params"), PLACEHOLDER_EXPLOITS)
async def test_placeholder_tricks_are_refused(
    store: StoreProcess, secret: Path, template: str, params: dict[str, str]
) -> None:
    outfile = secret.with_name("dump.txt")
    sql = template.format(secret=secret, outfile=outfile)
    response = _post(store, "/v1/query", {"sql": sql, "params": params}, _token(store))
    assert response.status_code == 403, response.text
    assert "refused" in response.json()["error"] and "placeholder" in response.json()["error"]
    assert "TALLY-SECRET" not in response.text
    assert not outfile.exists()


async def test_a_quote_in_a_value_stays_data(store: StoreProcess, secret: Path) -> None:
    value = f"}}' AS a, file('{secret}') AS b, '{{ '' -- /* \u2019"  # no backslash: the engine reads one as an escape
    response = _post(store, "/v1/query", {"sql": "SELECT {x:String} AS v", "params": {"x": value}}, _token(store))
    assert response.status_code == 200, response.text
    assert response.json()["data"] == [[value]]
    assert "TALLY-SECRET" not in response.text


async def test_every_placeholder_shape_of_the_roles_works_through_the_store(store: StoreProcess) -> None:
    wh = RemoteWarehouse(store.url, token=_token(store))
    ids = ["5b9d6a52-1f0e-4c77-9a55-3a0f0c6f1d01", "0d4c8f3e-7b1a-4e2f-8c9d-2b6e5f4a3c02"]
    try:
        rows = await wh.query(
            "SELECT {t:String} AS t, {names:Array(String)} AS names, length({ids:Array(UUID)}) AS n_ids, "
            "toString({since:DateTime}) AS since, toString({at:DateTime64(3)}) AS at, {limit:UInt32} + 1 AS lim, "
            "toString({e:Enum8('a' = 1, 'b' = -2)}) AS e, toString({z:DateTime64(3, 'UTC')}) AS z",
            {
                "t": "ac'me",
                "names": ["x", "y'z"],
                "ids": ids,
                "since": "2025-01-02 03:04:05",
                "at": "2025-01-02 03:04:05.678",
                "limit": 41,
                "e": "b",
                "z": "2025-01-02 03:04:05.001",
            },
        )
    finally:
        await wh.close()
    assert rows == [
        {
            "t": "ac'me",
            "names": ["x", "y'z"],
            "n_ids": 2,
            "since": "2025-01-02 03:04:05",
            "at": "2025-01-02 03:04:05.678",
            "lim": 42,
            "e": "b",
            "z": "2025-01-02 03:04:05.001",
        }
    ]


async def test_the_data_folder_and_the_engine_files_are_owner_only(store: StoreProcess) -> None:
    assert stat.S_IMODE(store.chdb_path.stat().st_mode) == 0o700
    written = [p for p in store.chdb_path.rglob("*") if p.is_file() and not p.is_symlink()]
    assert any(p.suffix == ".sql" for p in written), written  # the engine's own metadata files
    readable = [str(p) for p in written if stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert readable == []


async def test_an_existing_open_data_folder_is_closed_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "chdb"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    with run_store(tmp_path, "storeperm") as running:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        token = (running.chdb_path / "store.token").read_text().strip()
        assert _post(running, "/v1/query", {"sql": "SELECT 1 AS x"}, token).json()["data"] == [[1]]
