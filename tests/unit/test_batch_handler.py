"""The worker's per-batch steps against an in-memory warehouse: replays and re-sends count nothing twice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa  # type: ignore[import-untyped]

from processors.pipeline import BatchHandler
from processors.ranges import RECORD_RANGES
from processors.rows import DeadLetter, Record
from processors.sink import EventSink
from schemas.ddl import ch_datetime64
from schemas.records import EVENTS_BATCH_V1
from tests.factories import llm_call, message
from tests.rates import expected_cost

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
UTC_ZONE = ZoneInfo("UTC")


class MemoryWarehouse:
    """Inserts kept per table; the dedup query answered from the events, like `event_ids` would;
    rollups kept like a ReplacingMergeTree (highest version per key wins)."""

    def __init__(self, fail_inserts: int = 0) -> None:
        self.events: list[Mapping[str, Any]] = []
        self.rollups: dict[tuple[Any, ...], Mapping[str, Any]] = {}
        self.fail_inserts = fail_inserts

    async def execute(self, sql: str) -> None:
        raise AssertionError("not used")

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.fail_inserts:
            self.fail_inserts -= 1
            raise RuntimeError("warehouse unavailable")
        if table.endswith(".events"):
            self.events.extend(rows)
            return
        for row in rows:
            key = tuple(row[k] for k in ("tenant_id", "granularity", "window_start", "type", "d1", "d2", "d3"))
            key += (row["domain"], row["source_partition"], row["range_id"])
            if key not in self.rollups or self.rollups[key]["version"] <= row["version"]:
                self.rollups[key] = row

    async def insert_arrow(self, table: str, data: pa.Table) -> None:
        """An Arrow batch stored as the row path's rows would be (DateTime64(3) and DateTime as text, maps as dicts)."""
        seconds = {f.name for f in data.schema if pa.types.is_timestamp(f.type) and f.type.unit == "s"}
        await self.insert(table, [arrow_row(row, seconds) for row in data.to_pylist()])

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        assert params is not None and "event_ids" in sql
        wanted = set(params["ids"])
        return [
            {
                "tenant_id": r["tenant_id"],
                "id": r["event_id"],
                "source_partition": r["source_partition"],
                "source_offset": r["source_offset"],
                "source_index": r["source_index"],
            }
            for r in self.events
            if r["event_id"] in wanted
        ]

    async def close(self) -> None:
        pass

    def total(self, granularity: str, type_: str, measure: str) -> Any:
        rows = [r for r in self.rollups.values() if r["granularity"] == granularity and r["type"] == type_]
        return sum((r[measure] for r in rows), Decimal(0) if measure == "cost_usd" else 0)


def arrow_row(row: Mapping[str, Any], seconds: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """One row of an Arrow batch as the row path builds it (`processors.rows.event_row`, `rollup_row`)."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, datetime):
            value = value.strftime("%Y-%m-%d %H:%M:%S") if name in seconds else ch_datetime64(value)
        elif isinstance(value, list) and name in ("properties", "dimensions", "measures"):
            value = dict(value)
        out[name] = value
    return out


def _handler(warehouse: MemoryWarehouse, dead: list[DeadLetter], span: int = 4) -> BatchHandler:
    async def send_dead(letter: DeadLetter) -> None:
        dead.append(letter)

    def sink(table: str) -> EventSink:
        return EventSink(warehouse, table, first_backoff=0, max_backoff=0)

    return BatchHandler(
        warehouse,
        sink("db.events"),
        sink("db.rollups"),
        "db",
        send_dead,
        lambda *_: None,
        lambda _: UTC_ZONE,
        retention=timedelta(days=30),
        lateness=timedelta(hours=2),
        range_span=span,
    )


def _records(events: list[dict[str, Any]], partition: int = 0, first_offset: int = 0) -> list[Record]:
    return [
        Record(e["tenant_id"].encode(), orjson.dumps(e), partition, first_offset + i, NOW) for i, e in enumerate(events)
    ]


async def test_replays_and_resends_are_counted_once_in_raw_and_rollups() -> None:
    warehouse, dead = MemoryWarehouse(), []
    calls = [llm_call("acme", NOW - timedelta(minutes=1), input_tokens=100 * (i + 1)) for i in range(6)]
    log = _records([*calls, message("acme", NOW), calls[0]])  # offsets 0..7; offset 7 re-sends calls[0]
    first = _handler(warehouse, dead)
    await first.handle(log[:3], NOW)
    handled = await first.handle(log[3:6], NOW)
    assert handled.update.ack_below == {0: 4}  # range 0 (offsets 0-3) is complete: ack below 4
    # the worker dies; a new one re-reads from the committed boundary (4) to the end, then from 0 again
    second = _handler(warehouse, dead)
    await second.handle(log[4:], NOW)
    await second.handle(log, NOW)  # a deep replay from offset 0: recomputes, stores nothing new
    assert sorted(r["event_id"] for r in warehouse.events) == sorted(
        e["event_id"] for e in [*calls, orjson.loads(log[6].value)]
    )
    want_cost = sum(expected_cost("openai", "gpt-4o-mini", c["input_tokens"], c["output_tokens"], 0) for c in calls)
    for granularity in ("minute", "hour", "day"):
        assert warehouse.total(granularity, "llm_call", "events") == 6
        assert warehouse.total(granularity, "llm_call", "input_tokens") == 2100
        assert warehouse.total(granularity, "llm_call", "cost_usd") == want_cost
        assert warehouse.total(granularity, "message", "events") == 1
    assert dead == []


async def test_failed_inserts_are_retried_and_bad_records_dead_lettered() -> None:
    warehouse, dead = MemoryWarehouse(fail_inserts=3), []
    handler = _handler(warehouse, dead)
    good = llm_call("acme", NOW - timedelta(minutes=1))
    too_old = llm_call("acme", NOW - timedelta(days=31))
    future = message("acme", NOW + timedelta(days=2))
    records = [*_records([good, too_old, future]), Record(b"acme", b"{nope", 0, 3, NOW)]
    handled = await handler.handle(records, NOW)
    assert [r["event_id"] for r in warehouse.events] == [good["event_id"]]
    assert [d.reason.split(":")[0] for d in dead] == [
        "timestamp older than the raw retention of 30 days",
        "timestamp more than a day in the future",
        "not JSON",
    ]
    assert handled.update.ack_below == {}  # range 0 not complete yet
    assert warehouse.total("day", "llm_call", "events") == 1


async def test_events_later_than_the_lateness_count_as_late_in_their_arrival_window() -> None:
    warehouse, dead = MemoryWarehouse(), []
    handler = _handler(warehouse, dead)
    on_time = llm_call("acme", NOW - timedelta(hours=1))
    late = llm_call("acme", NOW - timedelta(hours=3))
    handled = await handler.handle(_records([on_time, late]), NOW)
    assert handled.late == 1
    assert warehouse.total("hour", "llm_call", "events") == 1
    (late_row,) = [r for r in warehouse.rollups.values() if r["type"] == "late" and r["granularity"] == "hour"]
    assert (late_row["d1"], late_row["window_start"], late_row["events"]) == ("llm_call", "2026-11-21 12:00:00", 1)
    assert len(warehouse.events) == 2  # both stored raw


def _batch(events: list[dict[str, Any]], offset: int, partition: int = 0) -> Record:
    value = b"\n".join(orjson.dumps(e) for e in events)
    return Record(events[0]["tenant_id"].encode(), value, partition, offset, NOW, EVENTS_BATCH_V1)


async def test_batch_and_single_event_records_on_one_partition_replayed_after_a_crash_are_exact() -> None:
    """Mixed formats on one partition: a worker dies mid-range after storing; the next one re-reads the
    range from its start, whole records, in other batch cuts; then a deep replay from offset 0."""
    warehouse, dead = MemoryWarehouse(), []
    calls = [llm_call("acme", NOW - timedelta(minutes=1), input_tokens=10 * (i + 1)) for i in range(12)]
    log = [
        Record(b"acme", orjson.dumps(calls[0]), 0, 0, NOW),
        _batch(calls[1:5], 1),
        Record(b"acme", orjson.dumps(calls[5]), 0, 2, NOW),
        _batch([calls[6], calls[7], calls[2]], 3),  # calls[2] re-sent inside a later batch: a duplicate
        _batch(calls[8:11], 4),
        Record(b"acme", orjson.dumps(calls[11]), 0, 5, NOW),
        _batch([message("acme", NOW), calls[3]], 6),
    ]
    first = _handler(warehouse, dead, span=4)
    await first.handle(log[:2], NOW)
    handled = await first.handle(log[2:5], NOW)
    assert handled.update.ack_below == {0: 5}  # the batch record at 4 closed range 0 and is a range itself
    # dies after storing offset 4's events; the next worker starts at the committed offset 5, a single-event
    # record mid-range: it goes back to the range start 4 and reads from there
    second = _handler(warehouse, dead, span=4)
    assert second.ranges.realign({0: 5}) == {0: 4}
    await second.handle(log[4:5], NOW)
    await second.handle(log[5:], NOW)
    await second.handle(log, NOW)  # and a deep replay from 0, in one batch
    assert sorted(r["event_id"] for r in warehouse.events) == sorted(
        [c["event_id"] for c in calls] + [orjson.loads(log[6].value.split(b"\n")[0])["event_id"]]
    )
    for granularity in ("minute", "hour", "day"):
        assert warehouse.total(granularity, "llm_call", "events") == 12
        assert warehouse.total(granularity, "llm_call", "input_tokens") == sum(c["input_tokens"] for c in calls)
        assert warehouse.total(granularity, "message", "events") == 1
    assert dead == []


async def test_rollup_versions_are_the_offset_of_the_last_record() -> None:
    warehouse, dead = MemoryWarehouse(), []
    handler = _handler(warehouse, dead, span=10)
    calls = [llm_call("acme", NOW - timedelta(minutes=1)) for _ in range(3)]
    await handler.handle([Record(b"acme", orjson.dumps(calls[0]), 0, 5, NOW), _batch(calls[1:], 6)], NOW)
    days = sorted(
        (r["range_id"], r["events"], r["version"]) for r in warehouse.rollups.values() if r["granularity"] == "day"
    )
    assert days == [(0, 1, 5), (RECORD_RANGES | 6, 2, 6)]  # the batch record at 6 is a range of its own


async def test_a_bad_event_of_a_batch_record_is_dead_lettered_alone_and_the_rest_stored() -> None:
    warehouse, dead = MemoryWarehouse(), []
    handler = _handler(warehouse, dead)
    good = [llm_call("acme", NOW - timedelta(minutes=1)) for _ in range(2)]
    bad = {**llm_call("acme", NOW), "input_tokens": -5}
    record = _batch([good[0], bad, good[1]], 0)
    broken = Record(b"acme", b"", 0, 1, NOW, EVENTS_BATCH_V1)
    await handler.handle([record, broken], NOW)
    assert [r["event_id"] for r in warehouse.events] == [g["event_id"] for g in good]
    assert [(d.index, d.value, d.format) for d in dead] == [(1, orjson.dumps(bad), None), (None, b"", EVENTS_BATCH_V1)]
    assert dead[1].reason == "bad batch record: empty batch: no events"
    assert warehouse.total("day", "llm_call", "events") == 2


def test_whole_record_batches_bound_events_and_never_cut_a_record() -> None:
    from processors.pipeline import whole_record_batches

    def rec(n: int, offset: int) -> Record:
        if n == 0:  # a single-event record
            return Record(b"acme", b"{}", 0, offset)
        return Record(b"acme", b"\n".join([b"{}"] * n), 0, offset, None, EVENTS_BATCH_V1)

    records = [rec(3, 0), rec(0, 1), rec(4, 2), rec(9, 3), rec(0, 4), rec(0, 5)]
    cut = whole_record_batches(records, 5)
    assert [[r.offset for r in part] for part in cut] == [[0, 1], [2], [3], [4, 5]]  # 4 events, 4, 9 alone, 2
    assert whole_record_batches([], 5) == []
    assert [len(p) for p in whole_record_batches(records, 1000)] == [6]
