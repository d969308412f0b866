"""The server adapter: a ClickHouse server through clickhouse-connect (HTTP)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
