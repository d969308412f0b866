"""Arrow batches on their way into a table: which tables take them, their wire form, the insert SQL.

Every adapter's `insert_arrow(table, data)` goes through `prepare_batch`: the table must be one
written in Arrow batches (schemas/arrow.py `TABLE_SCHEMAS`: the events and the rollups), and the
batch is conformed to that table's schema (its columns, in table order, with the declared types,
no nulls): the same check on the embedded engine, the store and a ClickHouse server.
Between a client and `tallystream-store`, a batch travels as an Arrow IPC stream.
"""

from __future__ import annotations

from typing import Final

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.ipc as ipc  # type: ignore[import-untyped]

from schemas.arrow import TABLE_SCHEMAS, conform
from schemas.ddl import check_identifier

ARROW_STREAM: Final = "application/vnd.apache.arrow.stream"
"""Content type of an Arrow IPC stream (IANA registration of Apache Arrow)."""


class UnknownArrowTable(ValueError):
    """A table that is not written in Arrow batches."""


def split_table(qualified: str) -> tuple[str, str]:
    """`(database, table)` of a `database.table` name; ValueError for anything else."""
    parts = qualified.split(".")
    if len(parts) != 2:
        raise ValueError(f"table must be database.table, got {qualified[:100]!r}")
    db, table = (check_identifier(p) for p in parts)
    return db, table


def table_schema(qualified: str) -> pa.Schema:
    """The Arrow schema of `database.table`; UnknownArrowTable if that table takes no Arrow batches."""
    _, table = split_table(qualified)
    schema = TABLE_SCHEMAS.get(table)
    if schema is None:
        raise UnknownArrowTable(f"table {table} is not written in Arrow batches (only {sorted(TABLE_SCHEMAS)})")
    return schema


def prepare_batch(qualified: str, data: pa.Table) -> pa.Table:
    """`data` conformed to the schema of `qualified` (ValueError naming the table or column at fault)."""
    if not isinstance(data, pa.Table):
        raise TypeError(f"insert_arrow takes a pyarrow.Table, not {type(data).__name__}")
    return conform(data, table_schema(qualified))


def insert_select_sql(qualified: str, names: list[str], source: str) -> str:
    """`INSERT INTO db.t (cols) SELECT cols FROM Python(source)`: columns named, never by position."""
    db, table = split_table(qualified)
    cols = ", ".join(check_identifier(name) for name in names)
    return f"INSERT INTO {db}.{table} ({cols}) SELECT {cols} FROM Python({check_identifier(source)})"


def to_ipc_stream(data: pa.Table) -> bytes:
    """`data` as one Arrow IPC stream (schema, record batches, end of stream)."""
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, data.schema) as writer:
        writer.write_table(data)
    return bytes(sink.getvalue())


def from_ipc_stream(body: bytes) -> pa.Table:
    """The table of an Arrow IPC stream; ValueError naming what is wrong with a malformed one."""
    if not body:
        raise ValueError("empty body: expected an Arrow IPC stream")
    try:
        with ipc.open_stream(pa.py_buffer(body)) as reader:
            table = reader.read_all()
        table.validate(full=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, pa.ArrowIndexError, OSError) as exc:
        raise ValueError(f"body is not a valid Arrow IPC stream: {str(exc)[:300]}") from exc
    return table
