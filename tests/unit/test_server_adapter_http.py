"""The ClickHouse server adapter's requests, checked against the HTTP interface's documented form.

No ClickHouse server runs here, so a loopback HTTP server records what clickhouse-connect sends and
the test asserts it is what ClickHouse documents (clickhouse.com/docs/interfaces/http,
/docs/interfaces/formats/Arrow):
- data-modifying queries go by POST; an INSERT's statement is the `query` URL parameter and its
  data is the POST body; settings travel as URL parameters; a compressed body says so in
  `Content-Encoding`, so a body without one is the data itself;
- `FORMAT Arrow` is Arrow's file mode (the `ARROW1` magic), whose types map to the table's columns
  (utf8 -> String/UUID, timestamp -> DateTime64, decimal -> Decimal, list -> Array, map -> Map);
- query parameters `{name:Type}` are bound by the server from `param_<name>` URL parameters.
And the statement text the adapter sends is the one the embedded engine runs.
"""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from schemas.arrow import TABLE_SCHEMAS, arrow_table
from schemas.ddl import EVENTS_COLUMN_NAMES
from storage import WarehouseError, WarehouseSettings
from storage.chdb_store import ChdbWarehouse
from storage.factory import create_schema, distinct_types_sql, schema_statements
from storage.server_store import ClickHouseServerWarehouse

AT = datetime(2026, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    body: bytes


class RecordingServer:
    """Answers the driver's handshake like a server would (version, time zone), records the rest."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.fail_with: bytes | None = None
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                url = urllib.parse.urlparse(self.path)
                params = {k: v[0] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
                status, out = 200, b""
                if body.startswith(b"SELECT version(), timezone()"):
                    out = b"25.8.1.1\tUTC\n"
                elif not body.startswith(b"SELECT name, value, readonly FROM system.settings") and body != (
                    b"SELECT 1 AS check\n FORMAT Native"
                ):
                    recorder.requests.append(
                        Recorded(self.command, url.path, params, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    if recorder.fail_with is not None:
                        status, out = 500, recorder.fail_with
                self.send_response(status)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://tally:s3cret@127.0.0.1:{self.server.server_port}"


@pytest.fixture
def recording() -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def events_batch(n: int = 3) -> pa.Table:
    cols: dict[str, list[Any]] = {}
    for name, field in zip(EVENTS_COLUMN_NAMES, TABLE_SCHEMAS["events"], strict=True):
        kind = field.type
        if pa.types.is_string(kind):
            cols[name] = [f"{name}-ü-{i}" for i in range(n)]
        elif pa.types.is_timestamp(kind):
            cols[name] = [AT] * n
        elif pa.types.is_decimal(kind):
            cols[name] = [Decimal("12345678901234567890123456.000000000001")] * n
        elif pa.types.is_map(kind):
            cols[name] = [{"k": 1.5 if pa.types.is_floating(kind.item_type) else "v"}] * n
        else:
            cols[name] = list(range(n))
    return arrow_table(TABLE_SCHEMAS["events"], cols)


def _quoted_columns(schema: pa.Schema) -> str:
    return ", ".join(f"`{name}`" for name in schema.names)


async def test_insert_arrow_is_a_post_of_an_arrow_file_under_an_insert_query(recording: RecordingServer) -> None:
    wh = ClickHouseServerWarehouse(recording.url)
    batch = events_batch()
    # a batch as the worker may hold it: columns out of order, wider types that cast without loss
    loose = batch.select(list(reversed(batch.schema.names)))
    loose = loose.set_column(
        loose.schema.get_field_index("tenant_id"), "tenant_id", batch["tenant_id"].cast(pa.large_string())
    )
    await wh.insert_arrow("tally.events", loose)
    await wh.close()

    (sent,) = recording.requests
    assert sent.method == "POST" and sent.path == "/"
    assert sent.params["query"] == f"INSERT INTO tally.events ({_quoted_columns(batch.schema)}) FORMAT Arrow"
    assert sent.params["session_timezone"] == "UTC"  # settings as URL parameters
    assert sent.headers["authorization"].startswith("Basic ")  # the DSN's user and password
    assert "content-encoding" not in sent.headers  # so the body is the Arrow data itself
    assert sent.body.startswith(b"ARROW1")  # Arrow's file mode: what FORMAT Arrow reads
    received = pa.ipc.open_file(pa.py_buffer(sent.body)).read_all()
    assert received.schema.names == list(EVENTS_COLUMN_NAMES)
    assert received.cast(batch.schema).equals(batch)
    first = received.to_pylist()[0]
    assert first["cost_usd"] == Decimal("12345678901234567890123456.000000000001")
    assert first["ts"] == AT and first["dimensions"] == [("k", "v")] and first["tenant_id"] == "tenant_id-ü-0"


async def test_rollup_batches_carry_arrays_maps_and_decimals_as_arrow_lists_maps_and_decimals(
    recording: RecordingServer,
) -> None:
    schema = TABLE_SCHEMAS["rollups"]
    cols: dict[str, list[Any]] = {}
    for field in schema:
        kind = field.type
        if pa.types.is_list(kind):
            cols[field.name] = [["a", "b"] if pa.types.is_string(kind.value_type) else [1, 2**64 - 1]]
        elif pa.types.is_map(kind):
            cols[field.name] = [{"m": 2.5}]
        elif pa.types.is_string(kind):
            cols[field.name] = ["x"]
        elif pa.types.is_timestamp(kind):
            cols[field.name] = [AT.replace(microsecond=0)]
        elif pa.types.is_decimal(kind):
            cols[field.name] = [Decimal("-0.000000000001")]
        else:
            cols[field.name] = [1]
    batch = arrow_table(schema, cols)
    wh = ClickHouseServerWarehouse(recording.url)
    await wh.insert_arrow("tally.rollups", batch)
    await wh.close()
    (sent,) = recording.requests
    assert sent.params["query"] == f"INSERT INTO tally.rollups ({_quoted_columns(schema)}) FORMAT Arrow"
    received = pa.ipc.open_file(pa.py_buffer(sent.body)).read_all()
    assert received.cast(schema).equals(batch)
    assert pa.types.is_list(received.schema.field("latency_buckets").type)
    assert pa.types.is_map(received.schema.field("measures").type)
    assert received.schema.field("cost_usd").type == pa.decimal128(38, 12)


async def test_a_server_error_is_a_warehouse_error_and_a_bad_batch_never_leaves(recording: RecordingServer) -> None:
    wh = ClickHouseServerWarehouse(recording.url)
    recording.fail_with = b"Code: 60. DB::Exception: Table tally.events does not exist. (UNKNOWN_TABLE)"
    with pytest.raises(WarehouseError, match="UNKNOWN_TABLE"):
        await wh.insert_arrow("tally.events", events_batch(1))
    sent = len(recording.requests)
    with pytest.raises(ValueError, match="alert_events"):
        await wh.insert_arrow("tally.alert_events", events_batch(1))
    with pytest.raises(ValueError, match="missing"):
        await wh.insert_arrow("tally.events", events_batch(1).drop_columns(["cost_usd"]))
    assert len(recording.requests) == sent  # refused before any request
    await wh.close()


ROLLUP_QUERY = (
    "SELECT r.d1 AS provider, sum(r.events) AS events, sum(r.cost_usd) AS cost_usd "
    "FROM tally.rollups AS r FINAL WHERE r.tenant_id = {tenant_id:String} AND r.granularity = 'hour' "
    "AND r.window_start >= {since:DateTime} AND r.d2 IN {models:Array(String)} GROUP BY provider ORDER BY provider"
)


class RecordingSession:
    """The embedded engine's session, recording each statement as the engine receives it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.statements: list[tuple[str, str, dict[str, Any] | None]] = []

    def query(self, sql: str, fmt: str = "CSV", params: dict[str, Any] | None = None) -> Any:
        self.statements.append((sql, fmt, params))
        return self.inner.query(sql, fmt, params=params)

    def close(self) -> None:
        self.inner.close()


async def test_schema_and_query_sql_is_the_text_the_embedded_engine_runs(
    recording: RecordingServer, tmp_path: Path
) -> None:
    settings = WarehouseSettings(chdb_path=tmp_path / "chdb", database="tally")
    params = {"tenant_id": "acme", "since": "2026-05-06 00:00:00", "models": ["gpt-4o", "o'3"]}

    embedded = ChdbWarehouse(settings.chdb_path)
    session = RecordingSession(embedded._session)
    embedded._session = session
    await create_schema(embedded, settings)
    assert await embedded.query(ROLLUP_QUERY, params) == []
    await embedded.close()

    server = ClickHouseServerWarehouse(recording.url)
    await create_schema(server, settings)
    await server.query(ROLLUP_QUERY, params)
    await server.close()

    statements = [*schema_statements(settings), distinct_types_sql("tally"), ROLLUP_QUERY]
    assert [sql for sql, _, _ in session.statements] == statements
    sent = [r.body.decode() for r in recording.requests]
    assert sent[:-2] == statements[:-2]  # DDL: the statement is the body, as is
    assert sent[-2] == f"{statements[-2]}\n FORMAT JSONCompact"  # the store's upgrade check
    # a SELECT: the same text, the driver appending the output format it reads
    assert sent[-1] == f"{ROLLUP_QUERY}\n FORMAT JSONCompact"
    assert session.statements[-1][1] == "JSONCompact"
    # the parameters bound by the server from param_<name> URL parameters, the same names chDB binds
    query = recording.requests[-1].params
    assert {k[len("param_") :] for k in query if k.startswith("param_")} == set(params)
    assert query["param_tenant_id"] == "acme" and query["param_since"] == "2026-05-06 00:00:00"
    assert query["param_models"] == "['gpt-4o', 'o\\'3']"
    assert all(r.method == "POST" for r in recording.requests)
