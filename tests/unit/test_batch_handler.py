"""The worker's per-batch steps against an in-memory warehouse: replays and re-sends store nothing twice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from processors.pipeline import BatchHandler
from processors.rows import DeadLetter
from processors.sink import EventSink
from tests.factories import llm_call, message

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


class MemoryWarehouse:
    """Inserts kept in a list; the dedup query answered from them, like `event_ids` would."""

    def __init__(self, fail_inserts: int = 0) -> None:
        self.rows: list[Mapping[str, Any]] = []
        self.fail_inserts = fail_inserts

    async def execute(self, sql: str) -> None:
        raise AssertionError("not used")

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.fail_inserts:
            self.fail_inserts -= 1
            raise RuntimeError("warehouse unavailable")
        self.rows.extend(rows)

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        assert params is not None and "event_ids" in sql
        wanted = set(params["ids"])
        return [{"tenant_id": r["tenant_id"], "id": r["event_id"]} for r in self.rows if r["event_id"] in wanted]

    async def close(self) -> None:
        pass


def _handler(warehouse: MemoryWarehouse, dead: list[DeadLetter]) -> BatchHandler:
    async def send_dead(letter: DeadLetter) -> None:
        dead.append(letter)

    sink = EventSink(warehouse, "db.events", first_backoff=0, max_backoff=0)
    return BatchHandler(warehouse, "db", sink, send_dead, lambda *_: None, timedelta(days=30))


def _records(events: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    return [(e["tenant_id"].encode(), orjson.dumps(e)) for e in events]


async def test_a_replayed_batch_and_a_later_resend_store_each_event_once() -> None:
    warehouse, dead = MemoryWarehouse(), []
    handler = _handler(warehouse, dead)
    events = [llm_call("acme", NOW - timedelta(minutes=1)) for _ in range(5)] + [message("acme", NOW)]
    await handler.handle(_records(events), NOW)
    replay = await handler.handle(_records(events), NOW)  # crash after the insert, before the commit
    new = message("acme", NOW)
    resend = await handler.handle(_records([*events[:2], new]), NOW + timedelta(hours=5))
    assert sorted(r["event_id"] for r in warehouse.rows) == sorted([e["event_id"] for e in [*events, new]])
    assert (len(replay.rows), len(resend.rows)) == (6, 3)  # built, then dropped as stored (all but `new`)
    assert dead == []


async def test_failed_inserts_are_retried_until_stored_and_bad_records_dead_lettered() -> None:
    warehouse, dead = MemoryWarehouse(fail_inserts=3), []
    handler = _handler(warehouse, dead)
    good = llm_call("acme", NOW - timedelta(minutes=1))
    too_old = llm_call("acme", NOW - timedelta(days=31))
    future = message("acme", NOW + timedelta(days=2))
    records = [*_records([good, too_old, future]), (b"acme", b"{nope")]
    batch = await handler.handle(records, NOW)
    assert [r["event_id"] for r in warehouse.rows] == [good["event_id"]]
    assert [d.reason.split(":")[0] for d in dead] == [
        "timestamp older than the raw retention of 30 days",
        "timestamp more than a day in the future",
        "not JSON",
    ]
    assert batch.duplicates == 0
