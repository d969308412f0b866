"""The storage interface and the thread-confinement both adapters share."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import orjson
import pyarrow as pa  # type: ignore[import-untyped]

Row = dict[str, Any]


class WarehouseError(RuntimeError):
    """A statement failed in the storage engine."""


class Warehouse(Protocol):
    """Async access to a ClickHouse-compatible store.

    SQL uses ClickHouse server-side parameters (`{name:Type}`), which both adapters bind.
    """

    async def execute(self, sql: str) -> None:
        """Run a statement that returns nothing (DDL, mutations)."""

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows in one statement; keys are column names."""

    async def insert_arrow(self, table: str, data: pa.Table) -> None:
        """Insert an Arrow batch in one statement, never through a text format.

        `table` is `database.table` of a table written in Arrow batches (schemas/arrow.py
        `TABLE_SCHEMAS`); `data` has its columns, with its Arrow types or types that cast to them
        without loss (storage/arrow_batches.py `prepare_batch`: ValueError otherwise).
        """

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run a SELECT and return its rows with Python values (Decimal for decimals)."""

    async def close(self) -> None:
        """Release the connection."""


def encode_json_each_row(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """Rows as JSONEachRow bytes. Decimals are written as strings so they stay exact."""
    return b"\n".join(orjson.dumps(row, default=_json_default) for row in rows)


def _json_default(value: Any) -> Any:
    # Decimal and anything else orjson does not know: its exact text form.
    return str(value)


class ThreadConfined:
    """Runs blocking driver calls on one dedicated thread.

    The embedded engine and the HTTP driver are blocking; one thread keeps the event loop free and
    serialises access to the connection, which is all a single session needs.
    """

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _shutdown(self) -> None:
        self._executor.shutdown(wait=True)
