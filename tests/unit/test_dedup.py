from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from processors.dedup import stored_ids_sql, stored_sources

A1 = "00000000-0000-4000-8000-000000000001"
A2 = "00000000-0000-4000-8000-000000000002"
A3 = "00000000-0000-4000-8000-000000000003"


def row(tenant_id: str, event_id: str, **extra: Any) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "event_id": event_id, **extra}


def test_stored_ids_sql_text() -> None:
    assert stored_ids_sql("tally") == (
        "SELECT DISTINCT tenant_id, toString(event_id) AS id, source_partition, source_offset, source_index "
        "FROM tally.event_ids "
        "WHERE tenant_id IN {tenants:Array(String)} AND event_id IN {ids:Array(UUID)}"
    )


@pytest.mark.parametrize("name", ["x; DROP TABLE y", "a.b", "", "1db", "db name"])
def test_stored_ids_sql_rejects_a_bad_database(name: str) -> None:
    with pytest.raises(ValueError, match="not a valid database identifier"):
        stored_ids_sql(name)


class FakeWarehouse:
    def __init__(self, answer: list[dict[str, Any]]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, Mapping[str, Any] | None]] = []

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        self.calls.append((sql, params))
        return self.answer


async def test_stored_ids_asks_once_with_the_batch_tenants_and_ids() -> None:
    warehouse = FakeWarehouse(
        [{"tenant_id": "acme", "id": A2, "source_partition": 3, "source_offset": 17, "source_index": 4}]
    )
    rows = [row("globex", A1), row("acme", A2), row("acme", A3)]
    found = await stored_sources(warehouse, "tally", rows)  # type: ignore[arg-type]
    assert found == {("acme", A2): {(3, 17, 4)}}
    assert warehouse.calls == [(stored_ids_sql("tally"), {"tenants": ["acme", "globex"], "ids": [A1, A2, A3]})]


async def test_stored_ids_of_no_rows_does_not_query() -> None:
    warehouse = FakeWarehouse([])
    assert await stored_sources(warehouse, "tally", []) == {}  # type: ignore[arg-type]
    assert warehouse.calls == []


async def test_stored_sources_and_classify_tell_new_replayed_and_duplicate_apart() -> None:
    from processors.dedup import classify

    answer = [
        {"tenant_id": "acme", "id": A1, "source_partition": 2, "source_offset": 10, "source_index": 0},
        {"tenant_id": "acme", "id": A2, "source_partition": 2, "source_offset": 11, "source_index": 0},
    ]
    warehouse = FakeWarehouse(answer)
    rows = [
        {
            **row("acme", A1),
            "source_partition": 2,
            "source_offset": 10,
            "source_index": 0,
        },  # this very record: replayed
        {**row("acme", A2), "source_partition": 2, "source_offset": 40, "source_index": 0},  # from another: duplicate
        {**row("acme", A3), "source_partition": 2, "source_offset": 41, "source_index": 0},  # new
    ]
    sources = await stored_sources(warehouse, "tally", rows)  # type: ignore[arg-type]
    assert sources == {("acme", A1): {(2, 10, 0)}, ("acme", A2): {(2, 11, 0)}}
    out = classify(rows, sources)
    assert [r["event_id"] for r in out.new] == [A3]
    assert [r["event_id"] for r in out.counted] == [A1, A3]
    assert out.duplicates == 1


def placed(event_id: str, offset: int, index: int) -> dict[str, Any]:
    return {**row("acme", event_id), "source_partition": 1, "source_offset": offset, "source_index": index}


def test_a_batch_record_replayed_is_recognised_event_by_event() -> None:
    from processors.dedup import classify

    stored = {("acme", A1): {(1, 7, 0)}, ("acme", A2): {(1, 7, 1)}}
    out = classify([placed(A1, 7, 0), placed(A2, 7, 1), placed(A3, 7, 2)], stored)
    assert [r["event_id"] for r in out.counted] == [A1, A2, A3]  # the record read again: its events count
    assert [r["event_id"] for r in out.new] == [A3]
    assert out.duplicates == 0


def test_the_same_id_at_another_index_of_the_same_record_is_a_duplicate() -> None:
    """A place is (partition, offset, index): the record alone does not tell a replay from a re-send."""
    from processors.dedup import classify

    stored = {("acme", A1): {(1, 7, 0)}}
    out = classify([placed(A1, 7, 3), placed(A1, 8, 0)], stored)
    assert (out.new, out.counted, out.duplicates) == ([], [], 2)


def test_rows_stored_before_source_index_existed_read_as_index_zero() -> None:
    """event_ids rows of single-event records written before the column existed hold its default, 0."""
    from processors.dedup import classify

    stored = {("acme", A1): {(1, 7, 0)}}
    out = classify([placed(A1, 7, 0)], stored)
    assert ([r["event_id"] for r in out.counted], out.new, out.duplicates) == ([A1], [], 0)


def test_an_event_at_its_stored_place_counts_whatever_copies_come_before_it() -> None:
    """A copy in partition 0 is read before the stored one of partition 1 in a later pass: the stored place
    still counts (its range is being rebuilt), the copy is a duplicate."""
    from processors.dedup import classify

    stored = {("acme", A1): {(1, 7, 0)}}
    copy = {**row("acme", A1), "source_partition": 0, "source_offset": 3, "source_index": 0}
    out = classify([copy, placed(A1, 7, 0), placed(A2, 8, 0)], stored)
    assert [(r["source_partition"], r["source_offset"]) for r in out.counted] == [(1, 7), (1, 8)]
    assert [r["event_id"] for r in out.new] == [A2]
    assert (out.duplicates, out.batch_duplicates) == (1, 0)


def test_copies_of_an_id_not_stored_count_once_at_their_first_place() -> None:
    from processors.dedup import classify

    out = classify([placed(A1, 7, 0), placed(A1, 7, 1), placed(A1, 9, 0), placed(A2, 9, 1)], {})
    assert [(r["event_id"], r["source_offset"], r["source_index"]) for r in out.new] == [(A1, 7, 0), (A2, 9, 1)]
    assert out.counted == out.new
    assert (out.duplicates, out.batch_duplicates) == (0, 2)
