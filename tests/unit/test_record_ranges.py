"""A batch record is a rollup range of its own (processors.ranges): its acks and how it sits beside the
open range of single-event records on the same partition."""

from __future__ import annotations

from processors.ranges import RECORD_RANGES, RangeBook, RangeUpdate
from tests.unit.test_ranges import A, count, one, summary


def test_a_batch_record_is_its_own_range_acked_at_once() -> None:
    book, update = RangeBook(10), RangeUpdate()
    current = book.advance(0, 3, update, batched=True)
    assert (current.range_id, update.ack_below) == (RECORD_RANGES | 3, {0: 4})
    assert book.advance(0, 4, update, batched=True).range_id == RECORD_RANGES | 4
    assert update.ack_below == {0: 5}


def test_an_open_single_event_range_holds_back_the_acks_of_batch_records_after_it() -> None:
    book, update = RangeBook(10), RangeUpdate()
    single = book.advance(0, 11, update)
    book.advance(0, 12, update, batched=True)
    book.advance(0, 13, update, batched=True)
    assert update.ack_below == {}
    assert book.advance(0, 14, update) is single  # the single-event range goes on past batch records
    book.advance(0, 21, update, batched=True)  # a record of a later range completes it
    assert update.ack_below == {0: 22}
    assert book.advance(0, 23, update).range_id == 2


def test_a_batch_record_never_joins_the_open_range() -> None:
    book, update = RangeBook(10), RangeUpdate()
    count(book, 0, 0, [A], one(1), update)
    record = book.advance(0, 1, update, batched=True)
    book.add(record, 0, 1, [A], one(5), update)
    book.add(record, 0, 1, [A], one(7), update)
    assert book.advance(0, 2, update).aggs[A].input_tokens == 1
    assert summary(update) == {(0, 0, A): (1, 1, 0), (0, RECORD_RANGES | 1, A): (2, 12, 1)}
