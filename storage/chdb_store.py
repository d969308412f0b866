"""The embedded adapter: ClickHouse in this process through chDB.

With chDB the process that writes is the process that reads: the worker and the views API share
one `ChdbWarehouse` in one process (see deploy/stack.py).

The data folder is its owner's only (0700, made so at each start), and a process holding engine data
calls `keep_files_private()` first, so what the engine writes there is 0600 / 0700: another local
user reads no tenant's data or engine config off disk.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]

from storage.arrow_batches import insert_select_sql, prepare_batch
from storage.base import Row, ThreadConfined, WarehouseError, encode_json_each_row
from storage.chdb_access import write_engine_config
from storage.codec import decode_json_compact

_SESSION_SETTINGS = (
    "output_format_json_quote_decimals=1",
    "output_format_json_quote_64bit_integers=1",
    "date_time_output_format=iso",
    "session_timezone=UTC",
)


_ARROW_SOURCE = "tally_arrow_batch"
"""Name of the local variable holding a batch while `Python(...)` reads it."""


PRIVATE_UMASK: Final = 0o077
"""What a process holding engine data masks off the files and folders it creates: group and others."""
DATA_FOLDER_MODE: Final = 0o700


def keep_files_private() -> None:
    """Make every file and folder this process creates from now on owner-only (call first in `main`)."""
    os.umask(PRIVATE_UMASK)


def private_folder(path: Path) -> None:
    """Make `path` (and missing parents) a folder only its owner may enter, also when it already exists."""
    path.mkdir(mode=DATA_FOLDER_MODE, parents=True, exist_ok=True)
    path.chmod(DATA_FOLDER_MODE)


_ESCAPED: Final = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
"""A text parameter is read in the escaped format (as clickhouse-connect sends it): `a\\` or a tab would
fail to parse (a 5xx) and `\\N` would be read as NULL, unless escaped."""


def _param_text(value: Any) -> Any:
    """chDB takes query parameters as text: a list or tuple becomes an array literal of quoted strings,
    a string is escaped."""
    if isinstance(value, list | tuple):
        quoted = ("'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'" for v in value)
        return "[" + ",".join(quoted) + "]"
    if isinstance(value, str):
        return value.translate(_ESCAPED)
    return value


class ChdbWarehouse(ThreadConfined):
    """ClickHouse engine in-process, data under `path`.

    With `fenced_database`, the engine runs with only the roles' grants on that database
    (storage/chdb_access.py): how `tallystream-store` serves it to other processes.
    """

    def __init__(self, path: Path, fenced_database: str | None = None) -> None:
        super().__init__("chdb")
        from chdb import session  # imported here: loading the engine is heavy

        private_folder(path)
        settings = list(_SESSION_SETTINGS)
        if fenced_database is not None:
            settings.append(f"config-file={write_engine_config(path, fenced_database)}")
        self._session = session.Session(  # type: ignore[no-untyped-call]
            f"{path}?{'&'.join(settings)}"
        )

    def _query_sync(self, sql: str, fmt: str, params: Mapping[str, Any] | None) -> bytes:
        try:
            result = self._session.query(
                sql, fmt, params={k: _param_text(v) for k, v in params.items()} if params else None
            )  # type: ignore[no-untyped-call]
        except Exception as exc:  # chDB raises its own ChdbError / RuntimeError
            raise WarehouseError(str(exc)) from exc
        return bytes(result.bytes()) if result is not None else b""

    async def execute(self, sql: str) -> None:
        await self._run(self._query_sync, sql, "CSV", None)

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            await self.insert_json_each_row(table, encode_json_each_row(rows))

    async def insert_json_each_row(self, table: str, body: bytes) -> None:
        """Insert rows already encoded as JSONEachRow."""
        sql = f"INSERT INTO {table} FORMAT JSONEachRow\n{body.decode()}"
        await self._run(self._query_sync, sql, "CSV", None)

    async def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Insert an Arrow batch: `INSERT ... SELECT ... FROM Python(batch)`, no text encoding on the way.

        Runs on the engine's thread; chDB releases the GIL while the statement runs, so the caller's
        event loop (and the next batch's computation) keeps the other core.
        """
        batch = prepare_batch(table, data)
        if batch.num_rows:
            await self._run(self._insert_arrow_sync, insert_select_sql(table, batch.schema.names, _ARROW_SOURCE), batch)

    def _insert_arrow_sync(self, sql: str, batch: pa.Table) -> None:
        # chDB's Python() table function finds the batch by name among the calling frame's locals
        tally_arrow_batch = batch  # noqa: F841 - read by the engine through `Python(tally_arrow_batch)`
        self._query_sync(sql, "CSV", None)

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return decode_json_compact(await self.query_json_compact(sql, params))

    async def query_json_compact(self, sql: str, params: Mapping[str, Any] | None = None) -> bytes:
        """The result of a SELECT as JSONCompact bytes (the wire form of the store service)."""
        payload: bytes = await self._run(self._query_sync, sql, "JSONCompact", params)
        return payload

    async def close(self) -> None:
        await self._run(self._session.close)
        self._shutdown()
