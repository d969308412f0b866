"""The store adapter: the embedded engine of a `tallystream-store` process, over HTTP.

With chDB, the process that writes is the process that reads. `tallystream-store` is that process
when several processes need the data (worker processes sharing a topic, a separate views process,
the chaos command killing workers): it owns the chDB files and serves `execute`, `insert`,
`insert_arrow` (an Arrow IPC stream) and `query` to the others. In production, point
`CLICKHOUSE_URL` at a ClickHouse server instead.

Every request carries the store's bearer token: given (`TALLY_STORE_TOKEN`), or read from the file
the store writes (`TALLY_STORE_TOKEN_FILE`, default `<TALLY_CHDB_PATH>/store.token`) when first
needed, so a client may be made before the store has started.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import httpx
import orjson
import pyarrow as pa  # type: ignore[import-untyped]

from storage.arrow_batches import ARROW_STREAM, prepare_batch, to_ipc_stream
from storage.base import Row, WarehouseError, encode_json_each_row
from storage.codec import decode_json_compact
from storage.store_token import read_token_file

JSON: Final = "application/json"
NDJSON: Final = "application/x-ndjson"
"""The store's content types: neither is one a browser may send cross-site without a preflight."""


class RemoteWarehouse:
    """A `Warehouse` served by `tallystream-store` at `url` (http://host:port)."""

    def __init__(
        self, url: str, token: str | None = None, timeout: float = 60.0, token_file: Path | None = None
    ) -> None:
        self._given_token = token
        self._file_token: str | None = None
        self._token_file = token_file
        self._client = httpx.AsyncClient(base_url=url, timeout=timeout)

    def _authorization(self) -> str:
        if self._given_token is not None:
            return f"Bearer {self._given_token}"
        if self._file_token is None:
            if self._token_file is None:
                raise WarehouseError("no store token: set TALLY_STORE_TOKEN or TALLY_STORE_TOKEN_FILE")
            try:
                self._file_token = read_token_file(self._token_file)
            except FileNotFoundError as exc:
                raise WarehouseError(f"store token file {self._token_file} not found: is the store up?") from exc
            except ValueError as exc:
                raise WarehouseError(str(exc)) from exc
        return f"Bearer {self._file_token}"

    async def _post(
        self, path: str, content: bytes, content_type: str, params: Mapping[str, str] | None = None
    ) -> bytes:
        headers = {"authorization": self._authorization(), "content-type": content_type}
        try:
            response = await self._client.post(path, content=content, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise WarehouseError(f"store unreachable: {exc!r}") from exc
        if response.status_code == 401:
            self._file_token = None  # a store started afresh with a new file: read it again next time
        if response.status_code != 200:
            raise WarehouseError(f"store answered {response.status_code}: {response.text[:500]}")
        return response.content

    async def execute(self, sql: str) -> None:
        await self._post("/v1/execute", orjson.dumps({"sql": sql}), JSON)

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self._post("/v1/insert", encode_json_each_row(rows), NDJSON, {"table": table})

    async def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Send an Arrow batch as an Arrow IPC stream; the store inserts it through the engine's Arrow path."""
        batch = prepare_batch(table, data)
        if batch.num_rows:
            await self._post("/v1/insert-arrow", to_ipc_stream(batch), ARROW_STREAM, {"table": table})

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        body = orjson.dumps({"sql": sql, "params": dict(params or {})})
        return decode_json_compact(await self._post("/v1/query", body, JSON))

    async def close(self) -> None:
        await self._client.aclose()
