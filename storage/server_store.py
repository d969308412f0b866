"""The server adapter: a ClickHouse server through clickhouse-connect (HTTP).

Statements are sent as given, so the rollup and query SQL is the text the embedded engine runs;
Arrow batches go through clickhouse-connect's `insert_arrow` (`INSERT INTO db.t (cols) FORMAT Arrow`,
the batch as the POST body). No ClickHouse server runs in this project's tests: the requests this
adapter makes are checked against the HTTP interface's documented form by a recording loopback
server (tests/unit/test_server_adapter_http.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from storage.arrow_batches import prepare_batch
from storage.base import Row, ThreadConfined, WarehouseError, encode_json_each_row
from storage.codec import decode_json_compact

_SETTINGS = {
    "output_format_json_quote_decimals": 1,
    "output_format_json_quote_64bit_integers": 1,
    "date_time_output_format": "iso",
    "session_timezone": "UTC",
}


class ClickHouseServerWarehouse(ThreadConfined):
    """A ClickHouse server at `url` (http[s]://user:password@host:port)."""

    def __init__(self, url: str) -> None:
        super().__init__("clickhouse")
        import clickhouse_connect

        self._client = clickhouse_connect.get_client(dsn=url, settings=_SETTINGS)

    def _raw(self, sql: str, params: Mapping[str, Any] | None, fmt: str | None) -> bytes:
        try:
            return bytes(self._client.raw_query(sql, parameters=dict(params or {}), fmt=fmt))
        except Exception as exc:  # clickhouse-connect raises DatabaseError and transport errors
            raise WarehouseError(str(exc)) from exc

    def _insert(self, table: str, body: bytes) -> None:
        try:
            self._client.raw_insert(table, insert_block=body, fmt="JSONEachRow")
        except Exception as exc:
            raise WarehouseError(str(exc)) from exc

    def _insert_arrow(self, table: str, batch: pa.Table) -> None:
        try:
            self._client.insert_arrow(table, batch)
        except Exception as exc:
            raise WarehouseError(str(exc)) from exc

    async def insert_arrow(self, table: str, data: pa.Table) -> None:
        batch = prepare_batch(table, data)
        if batch.num_rows:
            await self._run(self._insert_arrow, table, batch)

    async def execute(self, sql: str) -> None:
        await self._run(self._raw, sql, None, None)

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self._run(self._insert, table, encode_json_each_row(rows))

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return decode_json_compact(await self._run(self._raw, sql, params, "JSONCompact"))

    async def close(self) -> None:
        await self._run(self._client.close)
        self._shutdown()
