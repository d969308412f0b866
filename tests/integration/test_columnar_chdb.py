"""The columnar batch step on the real embedded engine: the same records through `BatchHandler` (JSON rows)
and `ColumnarBatchHandler` (Arrow batches: raw rows, batch records' rollup rows straight from the group-by,
the next batch prepared while one is written) leave the same tables, read back with FINAL, row for row:
every column, custom measures (maps), float sums, distinct hashes, latency buckets and money included."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from processors.columnar_batch import ColumnarBatchHandler
from processors.pipeline import BatchHandler
from processors.rows import DeadLetter, Record
from processors.sink import EventSink
from schemas.ddl import render_ddl
from schemas.rollups import render_rollup_ddl
from storage.chdb_store import ChdbWarehouse
from tests.unit.test_columnar_batch import NOW, overrides, stream, zone_of

DB = "t"


async def _store(path: Path, records: list[list[Record]], columnar: bool) -> dict[str, list[Any]]:
    warehouse = ChdbWarehouse(path)
    for statement in render_ddl(DB) + render_rollup_ddl(DB, {"minute": 7, "hour": 400, "day": 1830}):
        await warehouse.execute(statement)
    dead: list[DeadLetter] = []

    async def send_dead(letter: DeadLetter) -> None:
        dead.append(letter)

    kind = ColumnarBatchHandler if columnar else BatchHandler
    handler = kind(
        warehouse, EventSink(warehouse, f"{DB}.events"), EventSink(warehouse, f"{DB}.rollups"), DB, send_dead,
        overrides, zone_of, retention=timedelta(days=30), lateness=timedelta(hours=2), range_span=5,
    )  # fmt: skip
    in_flight = None
    for batch in records:  # as the agent does: prepare the next batch while the one before is written
        prepared = await handler.prepare(batch, NOW)
        if in_flight is not None:
            await in_flight
        in_flight = asyncio.ensure_future(handler.store(prepared))
    assert in_flight is not None
    await in_flight
    out = {
        "events": await warehouse.query(
            f"SELECT * EXCEPT ingested_at FROM {DB}.events FINAL ORDER BY source_partition, source_offset, source_index"
        ),
        "rollups": await warehouse.query(
            f"SELECT * EXCEPT (sessions, end_users), arraySort(sessions) AS s, arraySort(end_users) AS u "
            f"FROM {DB}.rollups FINAL ORDER BY ALL"
        ),
        "dead": [(d.reason, d.index) for d in dead],
    }
    await warehouse.close()
    return out


async def test_both_paths_leave_the_same_tables_on_chdb(tmp_path: Path) -> None:
    rng = random.Random(13)
    log = stream(rng, 2, 120)
    cuts, start = [], 0
    while start < len(log):
        size = rng.randint(5, 30)
        cuts.append(log[start : start + size])
        start += size
    rows = await _store(tmp_path / "rows", cuts, columnar=False)
    cols = await _store(tmp_path / "cols", cuts, columnar=True)
    assert len(rows["events"]) > 100 and len(rows["rollups"]) > 100
    assert cols["events"] == rows["events"]
    assert cols["rollups"] == rows["rollups"]
    assert cols["dead"] == rows["dead"]
    types = {r["type"] for r in rows["rollups"]}
    assert {"llm_call", "custom", "late", "message", "conversion"} <= types
    assert any(r["measures"] for r in rows["rollups"] if r["type"] == "custom")  # maps went through Arrow
    assert any(r["range_id"] >= 2**63 for r in cols["rollups"]) and any(r["range_id"] < 2**63 for r in cols["rollups"])
