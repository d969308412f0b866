"""The store adapter: the embedded engine of a `tallystream-store` process, over HTTP.

With chDB, the process that writes is the process that reads. `tallystream-store` is that process
when several processes need the data (worker processes sharing a topic, a separate views process,
the chaos command killing workers): it owns the chDB files and serves `execute`, `insert` and
`query` to the others. In production, point `CLICKHOUSE_URL` at a ClickHouse server instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson

from storage.base import Row, WarehouseError, encode_json_each_row
from storage.codec import decode_json_compact


class RemoteWarehouse:
    """A `Warehouse` served by `tallystream-store` at `url` (http://host:port)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(base_url=url, headers=headers, timeout=timeout)

    async def _post(self, path: str, content: bytes, params: Mapping[str, str] | None = None) -> bytes:
        try:
            response = await self._client.post(path, content=content, params=params)
        except httpx.HTTPError as exc:
            raise WarehouseError(f"store unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise WarehouseError(f"store answered {response.status_code}: {response.text[:500]}")
        return response.content

    async def execute(self, sql: str) -> None:
        await self._post("/v1/execute", sql.encode())

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self._post("/v1/insert", encode_json_each_row(rows), {"table": table})

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        body = orjson.dumps({"sql": sql, "params": dict(params or {})})
        return decode_json_compact(await self._post("/v1/query", body))

    async def close(self) -> None:
        await self._client.aclose()
