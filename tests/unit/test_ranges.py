"""Offset ranges (processors.ranges): exact rollups through crashes, replays and rebalances."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.pricing import PriceBook
from processors.ranges import OpenRange, RangeBook, RangeUpdate
from processors.rows import Record, Row, build_batch
from processors.windows import UTC_ZONE, Agg, Key, keys_of, rollup_row
from schemas.registry import distinct_key
from schemas.rollups import ROLLUP_COLUMN_NAMES
from tests.factories import llm_call, message

TS = datetime(2026, 11, 21, 10, 30, 15, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 12, tzinfo=UTC)


def key(name: str) -> Key:
    return ("acme", "minute", datetime(2026, 11, 21, 10, 30, tzinfo=UTC), "custom", name, "", "", "")


A, B, C = key("a"), key("b"), key("c")


def _row(doc: dict[str, Any]) -> Row:
    (row,) = build_batch([Record(doc["tenant_id"].encode(), orjson.dumps(doc))], PriceBook(), NOW).rows
    return row


def _event(type_: str, tenant_id: str = "acme", ts: datetime = TS, **fields: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": type_, "tenant_id": tenant_id, "timestamp": ts.isoformat(), **fields}


_BASE = _row(llm_call("acme", TS, session_id="", input_tokens=1))


def one(input_tokens: int = 1, session: str = "") -> Row:
    """The stored row of one event (an llm_call of `input_tokens` in `session`)."""
    return {**_BASE, "input_tokens": input_tokens, "session_id": session}


def count(book: RangeBook, partition: int, offset: int, keys: list[Key], row: Row, update: RangeUpdate) -> None:
    """What the pipeline does for a counted record: advance to it, then add it."""
    current = book.advance(partition, offset, update)
    book.add(current, partition, offset, keys, row, update)


def summary(update: RangeUpdate) -> dict[tuple[int, int, Key], tuple[int, int, int]]:
    """touched as (partition, range_id, key) -> (events, input_tokens, version)."""
    return {k: (agg.events, agg.input_tokens, v) for k, (agg, v) in update.touched.items()}


# --- advance ------------------------------------------------------------------------------------


@pytest.mark.parametrize("span", [0, -1])
def test_span_must_be_positive(span: int) -> None:
    with pytest.raises(ValueError, match="span must be at least 1"):
        RangeBook(span)


def test_first_record_opens_its_range_without_acking() -> None:
    book, update = RangeBook(10), RangeUpdate()
    current = book.advance(0, 3, update)
    assert current == OpenRange(range_id=0, last_offset=3, aggs={})
    assert (update.ack_below, update.restarted, update.touched) == ({}, set(), {})


def test_records_of_the_same_range_share_it() -> None:
    book, update = RangeBook(10), RangeUpdate()
    first = book.advance(0, 0, update)
    for offset in range(1, 10):
        assert book.advance(0, offset, update) is first
    assert (first.range_id, first.last_offset) == (0, 9)
    assert update.ack_below == {}


@pytest.mark.parametrize(
    ("span", "offset", "range_id"), [(1, 0, 0), (1, 7, 7), (10, 9, 0), (10, 10, 1), (10, 19, 1), (1000, 123_456, 123)]
)
def test_range_id_is_offset_floor_divided_by_span(span: int, offset: int, range_id: int) -> None:
    assert RangeBook(span).advance(0, offset, RangeUpdate()).range_id == range_id


def test_a_later_range_acks_below_its_first_offset() -> None:
    book, update = RangeBook(10), RangeUpdate()
    book.advance(0, 8, update)
    book.advance(0, 9, update)
    current = book.advance(0, 10, update)
    assert update.ack_below == {0: 10}
    assert current == OpenRange(range_id=1, last_offset=10, aggs={})


def test_a_range_entered_past_its_start_still_acks_below_its_start() -> None:
    # offsets can have gaps (compaction, transaction markers): the ack is the boundary, not the offset
    book, update = RangeBook(10), RangeUpdate()
    book.advance(0, 3, update)
    assert book.advance(0, 47, update).range_id == 4
    assert update.ack_below == {0: 40}


def test_several_ranges_in_one_batch_ack_below_the_last() -> None:
    book, update = RangeBook(5), RangeUpdate()
    for offset in (0, 4, 5, 9, 12, 13, 21):
        book.advance(0, offset, update)
    assert update.ack_below == {0: 20}


def test_acks_are_per_partition() -> None:
    book, update = RangeBook(10), RangeUpdate()
    book.advance(0, 5, update)
    book.advance(1, 12, update)  # the first record seen of partition 1: nothing to ack yet
    book.advance(2, 30, update)
    assert update.ack_below == {}
    book.advance(0, 11, update)
    book.advance(2, 55, update)
    assert update.ack_below == {0: 10, 2: 50}
    assert book.advance(1, 19, update).range_id == 1


def test_acks_are_reported_in_the_update_of_the_batch_that_completed_the_range() -> None:
    book = RangeBook(4)
    first, second = RangeUpdate(), RangeUpdate()
    for offset in range(4):
        book.advance(0, offset, first)
    book.advance(0, 4, second)
    assert (first.ack_below, second.ack_below) == ({}, {0: 4})


def test_span_one_acks_every_record_once_the_next_is_read() -> None:
    book, update = RangeBook(1), RangeUpdate()
    book.advance(0, 0, update)
    assert update.ack_below == {}
    book.advance(0, 1, update)
    assert update.ack_below == {0: 1}
    book.advance(0, 2, update)
    assert update.ack_below == {0: 2}


def test_reading_an_offset_again_restarts_the_range_empty() -> None:
    book, first = RangeBook(10), RangeUpdate()
    for offset in range(8, 15):
        count(book, 0, offset, [A], one(), first)
    assert book.advance(0, 15, first).aggs[A].events == 5  # offsets 10..14
    replay = RangeUpdate()
    current = book.advance(0, 10, replay)  # the group's committed offset: a range boundary
    assert replay.restarted == {0}
    assert current == OpenRange(range_id=1, last_offset=10, aggs={})
    assert replay.ack_below == {}


def test_the_same_offset_again_is_a_replay() -> None:
    book, update = RangeBook(10), RangeUpdate()
    count(book, 0, 4, [A], one(), update)
    update = RangeUpdate()
    assert book.advance(0, 4, update).aggs == {}
    assert update.restarted == {0}


def test_a_replay_into_an_earlier_range_then_acks_again() -> None:
    book, update = RangeBook(10), RangeUpdate()
    for offset in (8, 12, 25):
        book.advance(0, offset, update)
    replay = RangeUpdate()
    assert book.advance(0, 10, replay).range_id == 1
    assert (replay.restarted, replay.ack_below) == ({0}, {})
    book.advance(0, 20, replay)
    assert replay.ack_below == {0: 20}


def test_a_replay_restarts_only_its_partition() -> None:
    book, update = RangeBook(10), RangeUpdate()
    count(book, 0, 3, [A], one(), update)
    count(book, 1, 3, [A], one(), update)
    replay = RangeUpdate()
    book.advance(0, 0, replay)
    assert replay.restarted == {0}
    assert book.advance(1, 4, replay).aggs[A].events == 1


# --- add ----------------------------------------------------------------------------------------


def test_touched_holds_each_keys_aggregate_and_the_offset_of_its_last_event() -> None:
    book, update = RangeBook(10), RangeUpdate()
    count(book, 0, 0, [A], one(5), update)
    count(book, 0, 1, [B], one(7), update)
    count(book, 0, 2, [A], one(11), update)
    book.advance(0, 3, update)  # a record that does not count (a dead letter, a duplicate)
    assert summary(update) == {(0, 0, A): (2, 16, 2), (0, 0, B): (1, 7, 1)}
    assert update.ack_below == {}


def test_touched_aggregates_are_the_open_ranges() -> None:
    book, update = RangeBook(10), RangeUpdate()
    count(book, 0, 0, [A], one(), update)
    current = book.advance(0, 1, update)
    assert update.touched[(0, 0, A)][0] is current.aggs[A]


def test_each_range_has_its_own_aggregate() -> None:
    book, update = RangeBook(10), RangeUpdate()
    count(book, 0, 8, [A], one(1), update)
    count(book, 0, 9, [A], one(2), update)
    count(book, 0, 12, [A], one(4), update)
    count(book, 1, 12, [A], one(8), update)
    assert summary(update) == {(0, 0, A): (2, 3, 9), (0, 1, A): (1, 4, 12), (1, 1, A): (1, 8, 12)}
    assert update.ack_below == {0: 10}


def test_one_event_adds_to_all_its_keys_and_the_row_is_left_alone() -> None:
    book, update = RangeBook(10), RangeUpdate()
    row = one(3, session="s-1")
    before = dict(row)
    count(book, 0, 4, [A, B, C], row, update)
    count(book, 0, 5, [B], one(1, session="s-2"), update)
    assert summary(update) == {(0, 0, A): (1, 3, 4), (0, 0, B): (2, 4, 5), (0, 0, C): (1, 3, 4)}
    assert update.touched[(0, 0, B)][0].sessions == {distinct_key("s-1"), distinct_key("s-2")}
    assert row == before
    aggs = [update.touched[(0, 0, k)][0] for k in (A, B, C)]
    assert len({id(a) for a in aggs}) == 3


def test_a_later_batch_touches_only_its_keys_with_the_whole_range_so_far() -> None:
    book = RangeBook(10)
    first, second = RangeUpdate(), RangeUpdate()
    count(book, 0, 0, [A], one(1), first)
    count(book, 0, 1, [B], one(2), first)
    count(book, 0, 2, [A], one(4), second)
    book.advance(0, 3, second)
    assert summary(second) == {(0, 0, A): (2, 5, 2)}


def test_after_a_replay_the_range_is_counted_again_from_its_start() -> None:
    book, update = RangeBook(10), RangeUpdate()
    for offset in range(10, 16):
        count(book, 0, offset, [A], one(), update)
    assert summary(update) == {(0, 1, A): (6, 6, 15)}
    replay = RangeUpdate()
    for offset in range(10, 13):
        count(book, 0, offset, [A], one(), replay)
    assert summary(replay) == {(0, 1, A): (3, 3, 12)}  # a lower version: the stored row of version 15 stays


def test_rollup_rows_of_touched() -> None:
    book, update = RangeBook(100), RangeUpdate()
    count(book, 2, 1234, [A], one(9, session="s-1"), update)
    rows = [rollup_row(k, agg, p, r, v) for (p, r, k), (agg, v) in update.touched.items()]
    assert [tuple(r) for r in rows] == [ROLLUP_COLUMN_NAMES]
    (row,) = rows
    assert (row["source_partition"], row["range_id"], row["version"]) == (2, 12, 1234)
    assert (row["events"], row["input_tokens"], row["sessions"]) == (1, 9, [distinct_key("s-1")])
    assert (row["cost_usd"], row["latency_ms_sum"], row["end_users"]) == (_BASE["cost_usd"], 420, [])


# --- the guarantee: exact totals through crashes, replays and rebalances ------------------------


_ROWS = [
    _row(llm_call("acme", TS)),
    _row(llm_call("acme", TS + timedelta(seconds=50), model="gpt-4o", session_id="s-2")),
    _row(llm_call("globex", TS, status="error", latency_ms=3000)),
    _row(llm_call("acme", TS + timedelta(seconds=20), input_tokens=7, session_id="s-4")),  # the keys of the first
    _row(message("acme", TS + timedelta(minutes=1), content_chars=40)),
    _row(message("acme", TS + timedelta(hours=1), content_chars=2)),
    _row(_event("search", query="red", results_count=0, latency_ms=12)),
    _row(_event("conversion", order_id="o-1", revenue="19.99", session_id="s-3")),
    _row(_event("feedback", "globex", rating=4)),
    _row(_event("custom", name="build", measures={"x": 2.5})),
]
#: (keys, row, partial aggregate) of each event a stream can hold; several share keys (same minute, hour, day).
ITEMS: list[tuple[list[Key], Row, Agg]] = []
for _r in _ROWS:
    _partial = Agg()
    _partial.add_row(_r)
    ITEMS.append((keys_of(_r, datetime.fromisoformat(_r["ts"]).replace(tzinfo=UTC), UTC_ZONE), _r, _partial))


@dataclass(frozen=True)
class Rec:
    partition: int
    offset: int
    item: int | None
    """Index into ITEMS, or None for an event that is not counted (dead letter, duplicate)."""
    more: tuple[int | None, ...] = ()
    """The further events of a batch record (schemas.records), at indexes 1, 2, ..."""

    @property
    def items(self) -> tuple[int | None, ...]:
        """Each event of the record, in index order."""
        return (self.item, *self.more)


@dataclass
class Stream:
    span: int
    partitions: dict[int, list[Rec]]

    def expected(self) -> dict[Key, dict[str, Any]]:
        """Each key's totals over every counted record, each counted once."""
        totals: dict[Key, Agg] = {}
        for records in self.partitions.values():
            for rec in records:
                for item in rec.items:
                    if item is not None:
                        keys, _, partial = ITEMS[item]
                        for k in keys:
                            totals.setdefault(k, Agg()).merge(partial)
        return {k: measures(agg) for k, agg in totals.items()}


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    span = draw(st.integers(1, 8))
    # a few kinds of events per stream, so that keys come back within a range (and across ranges)
    kinds = draw(st.lists(st.integers(0, len(ITEMS) - 1), min_size=1, max_size=4, unique=True))
    partitions = {}
    for p in range(draw(st.integers(1, 3))):
        n = draw(st.integers(0, 30))
        # offsets mostly consecutive, with gaps (compaction, transaction markers)
        steps = draw(st.lists(st.sampled_from([1, 1, 1, 2, 3]), min_size=n, max_size=n))
        items = draw(st.lists(st.none() | st.sampled_from(kinds), min_size=n, max_size=n))
        # batch records carry several events (a share of the stream, mixed with single-event records)
        more = draw(st.lists(st.lists(st.none() | st.sampled_from(kinds), max_size=5), min_size=n, max_size=n))
        offsets = [sum(steps[: i + 1]) - 1 for i in range(len(steps))]
        partitions[p] = [Rec(p, o, it, tuple(m)) for o, it, m in zip(offsets, items, more, strict=True)]
    return Stream(span, partitions)


def measures(agg: Agg) -> dict[str, Any]:
    """The measures of `agg` as the rollups table stores them (the arrays of ids compared as sets)."""
    row = rollup_row(A, agg, 0, 0, 0)
    out = {name: row[name] for name in ROLLUP_COLUMN_NAMES[10:-1]}
    out["sessions"], out["end_users"] = set(out["sessions"]), set(out["end_users"])
    return out


Written = dict[tuple[int, int, Key], tuple[int, Agg]]


@dataclass
class Table:
    """The rollups table as ReplacingMergeTree(version) read with FINAL: the highest version of a row wins."""

    rows: Written = field(default_factory=dict)

    def write(self, rows: Written) -> None:
        for position, (version, agg) in rows.items():
            stored = self.rows.get(position)
            if stored is None or version >= stored[0]:
                self.rows[position] = (version, agg)

    def totals(self) -> dict[Key, dict[str, Any]]:
        """Each key's sum over partitions and ranges (what the views query)."""
        totals: dict[Key, Agg] = {}
        for (_, _, k), (_, agg) in self.rows.items():
            totals.setdefault(k, Agg()).merge(agg)
        return {k: measures(agg) for k, agg in totals.items()}


@dataclass
class Committed:
    """The consumer group's committed offsets: where a newly assigned worker starts reading."""

    offsets: dict[int, int] = field(default_factory=dict)

    def commit(self, update: RangeUpdate) -> None:
        for partition, below in update.ack_below.items():
            self.offsets[partition] = max(self.offsets.get(partition, 0), below)


class Worker:
    """Reads assigned partitions from a start offset in batches, the way processors.pipeline does."""

    def __init__(self, stream: Stream, start: dict[int, int]) -> None:
        self.stream = stream
        self.book = RangeBook(stream.span)
        self.next: dict[int, int] = {}
        self.seek(start)

    def seek(self, start: dict[int, int]) -> None:
        """Read every partition again from `start` (an assignment, or a reassignment after a rebalance)."""
        for p, records in self.stream.partitions.items():
            self.next[p] = next((i for i, r in enumerate(records) if r.offset >= start.get(p, 0)), len(records))

    def done(self) -> bool:
        return all(self.next[p] == len(records) for p, records in self.stream.partitions.items())

    def batch(self, data: st.DataObject) -> list[Rec]:
        """The next records: a few of each partition (at least one record overall)."""
        taken: list[Rec] = []
        for p, records in self.stream.partitions.items():
            n = data.draw(st.integers(0, 4), label=f"records of partition {p}")
            taken += records[self.next[p] : self.next[p] + n]
            self.next[p] = min(self.next[p] + n, len(records))
        if not taken:
            p = next(p for p, records in self.stream.partitions.items() if self.next[p] < len(records))
            taken.append(self.stream.partitions[p][self.next[p]])
            self.next[p] += 1
        return taken

    def handle(self, records: Iterable[Rec]) -> tuple[RangeUpdate, Written]:
        """One batch: the update, and the rollup rows it writes (copied: the insert's payload)."""
        update = RangeUpdate()
        for rec in sorted(records, key=lambda r: (r.partition, r.offset)):
            current = self.book.advance(rec.partition, rec.offset, update)
            for item in rec.items:  # a record's events in index order, all in this batch
                if item is not None:
                    keys, row, _ = ITEMS[item]
                    self.book.add(current, rec.partition, rec.offset, keys, row, update)
        # a copy (merged into an empty aggregate): the open range keeps counting into the original
        rows = {position: (version, Agg().merge(agg)) for position, (agg, version) in update.touched.items()}
        return update, rows


def run_to_the_end(worker: Worker, table: Table, committed: Committed, data: st.DataObject) -> None:
    while not worker.done():
        update, rows = worker.handle(worker.batch(data))
        table.write(rows)
        committed.commit(update)


def assert_boundaries(stream: Stream, committed: Committed) -> None:
    assert all(offset % stream.span == 0 for offset in committed.offsets.values()), committed


def assert_exact(stream: Stream, table: Table) -> None:
    got, expected = table.totals(), stream.expected()
    assert got == expected
    counted = sum(it is not None for records in stream.partitions.values() for rec in records for it in rec.items)
    assert sum(t["events"] for k, t in got.items() if k[1] == "day") == counted  # 0 lost, 0 counted twice


@settings(max_examples=150)
@given(stream=streams(), data=st.data())
def test_one_worker_reading_everything_is_exact(stream: Stream, data: st.DataObject) -> None:
    table, committed = Table(), Committed()
    run_to_the_end(Worker(stream, {}), table, committed, data)
    assert_boundaries(stream, committed)
    assert_exact(stream, table)


@settings(max_examples=150)
@given(stream=streams(), data=st.data())
def test_a_crash_then_a_restart_from_the_committed_offsets_is_exact(stream: Stream, data: st.DataObject) -> None:
    table, committed = Table(), Committed()
    first = Worker(stream, {})
    for _ in range(data.draw(st.integers(0, 15), label="batches before the crash")):
        if first.done():
            break
        update, rows = first.handle(first.batch(data))
        table.write(rows)
        if data.draw(st.booleans(), label="crash after the write, before the ack"):
            break
        committed.commit(update)
    assert_boundaries(stream, committed)
    # the first worker is gone (its open ranges with it); the next one starts where the group committed
    run_to_the_end(Worker(stream, dict(committed.offsets)), table, committed, data)
    assert_boundaries(stream, committed)
    assert_exact(stream, table)


@settings(max_examples=150)
@given(stream=streams(), data=st.data())
def test_crashes_one_after_another_are_exact(stream: Stream, data: st.DataObject) -> None:
    table, committed = Table(), Committed()
    for _ in range(data.draw(st.integers(0, 4), label="workers that crash")):
        worker = Worker(stream, dict(committed.offsets))
        for _ in range(data.draw(st.integers(0, 5), label="batches before the crash")):
            if worker.done():
                break
            update, rows = worker.handle(worker.batch(data))
            table.write(rows)
            committed.commit(update)
    run_to_the_end(Worker(stream, dict(committed.offsets)), table, committed, data)
    assert_exact(stream, table)


@settings(max_examples=150)
@given(stream=streams(), data=st.data())
def test_a_rebalance_race_with_interleaved_writes_is_exact(stream: Stream, data: st.DataObject) -> None:
    """The old owner (a zombie) keeps reading and writing after the new owner started from the
    committed offsets; each worker's insert can land late, after the other's later ones."""
    table, committed = Table(), Committed()
    old = Worker(stream, {})
    for _ in range(data.draw(st.integers(0, 5), label="batches before the rebalance")):
        if old.done():
            break
        update, rows = old.handle(old.batch(data))
        table.write(rows)
        committed.commit(update)
    new = Worker(stream, dict(committed.offsets))
    if data.draw(st.booleans(), label="the old owner also re-reads from the committed offsets"):
        old.seek(dict(committed.offsets))  # e.g. it came back from a long pause and resumed the same way
    # a worker does not read the table: what it writes does not depend on when the other's inserts land
    old_writes: list[Written] = []
    for _ in range(data.draw(st.integers(0, 10), label="batches the old owner still handles")):
        if old.done():
            break
        old_writes.append(old.handle(old.batch(data))[1])  # its commits are refused: it is fenced out
    new_writes: list[Written] = []
    while not new.done():
        update, rows = new.handle(new.batch(data))
        new_writes.append(rows)
        committed.commit(update)
    # each worker's inserts land in its own order; the old owner's anywhere among the new one's, often last
    n = len(new_writes)
    landing = data.draw(
        st.lists(st.just(n) | st.integers(0, n), min_size=len(old_writes), max_size=len(old_writes)),
        label="how many of the new owner's inserts land before each of the old owner's",
    )
    order = sorted(
        [(at, 0, w) for at, w in zip(sorted(landing), old_writes, strict=True)]
        + [(i, 1, w) for i, w in enumerate(new_writes)],
        key=lambda x: x[:2],
    )
    for _, _, rows in order:
        table.write(rows)
    assert_exact(stream, table)


@settings(max_examples=150)
@given(stream=streams(), data=st.data())
def test_the_same_worker_reading_again_from_the_committed_offsets_is_exact(stream: Stream, data: st.DataObject) -> None:
    """A rebalance that hands the partitions back to the same worker: it keeps its open ranges, and
    Kafka re-delivers from the committed offsets (the replay restarts the ranges)."""
    table, committed = Table(), Committed()
    worker = Worker(stream, {})
    rewound: set[int] = set()  # partitions sent back to an offset this worker already read
    rebalances = data.draw(st.integers(1, 4), label="rebalances")
    while not worker.done():
        batch = worker.batch(data)
        update, rows = worker.handle(batch)
        in_batch = {rec.partition for rec in batch}
        assert update.restarted == rewound & in_batch
        rewound -= in_batch
        table.write(rows)
        committed.commit(update)
        if rebalances and data.draw(st.booleans(), label="rebalance now"):
            rebalances -= 1
            before = dict(worker.next)
            worker.seek(dict(committed.offsets))
            rewound |= {p for p in before if worker.next[p] < before[p]}
    assert_exact(stream, table)


def test_a_zombies_late_insert_does_not_replace_the_new_owners_rows() -> None:
    stream = Stream(10, {0: [Rec(0, o, o % 3) for o in range(30)]})
    table, committed = Table(), Committed()
    old = Worker(stream, {})
    update, rows = old.handle(stream.partitions[0][:13])
    table.write(rows)
    committed.commit(update)
    assert committed.offsets == {0: 10}
    new = Worker(stream, dict(committed.offsets))
    _, late = old.handle(stream.partitions[0][13:16])  # fenced out, but its insert is still on the way
    assert {r for _, r, _ in late} == {1}
    assert sorted(v for (_, _, k), (v, _) in late.items() if k[1] == "day") == [13, 14, 15]
    for lo, hi in ((10, 17), (17, 30)):
        update, rows = new.handle(stream.partitions[0][lo:hi])
        table.write(rows)
    table.write(late)  # lands last: versions 13..15 against the stored 27..29 (range 2) / 17..19 (range 1)
    assert sorted({v for (_, r, _), (v, _) in table.rows.items() if r == 1}) == [17, 18, 19]
    assert_exact(stream, table)


def test_a_replay_of_a_range_keeps_the_stored_totals_exact() -> None:
    """A hand-made run of the guarantee: a crash in the middle of range 1, then a restart from 10."""
    stream = Stream(10, {0: [Rec(0, o, o % 3) for o in range(25)]})
    table, committed = Table(), Committed()
    first = Worker(stream, {})
    first_batch, first_rows = first.handle(stream.partitions[0][:8])
    table.write(first_rows)
    committed.commit(first_batch)
    update, rows = first.handle(stream.partitions[0][8:14])
    table.write(rows)
    committed.commit(update)
    assert committed.offsets == {0: 10}
    update, rows = first.handle(stream.partitions[0][14:17])  # written, then the worker dies before acking
    table.write(rows)
    assert update.ack_below == {}
    second = Worker(stream, dict(committed.offsets))
    assert second.next == {0: 10}
    update, rows = second.handle(stream.partitions[0][10:13])
    assert update.restarted == set()  # a new worker: nothing was open
    table.write(rows)  # lower versions than the stored rows of range 1: they do not replace them
    assert {v for (p, r, k), (v, _) in table.rows.items() if r == 1} == {14, 15, 16}
    update, rows = second.handle(stream.partitions[0][13:])
    table.write(rows)
    committed.commit(update)
    assert committed.offsets == {0: 20}
    assert_exact(stream, table)
    day = {k: t for k, t in table.totals().items() if k[1] == "day"}
    assert sum(t["events"] for t in day.values()) == 25
