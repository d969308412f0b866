"""RangeBook.realign: a range is only ever built from its first offset."""

from __future__ import annotations

from processors.ranges import RangeBook, RangeUpdate


def _read(book: RangeBook, partition: int, offsets: range) -> None:
    update = RangeUpdate()
    for offset in offsets:
        book.advance(partition, offset, update)


def test_a_start_at_a_boundary_or_a_contiguous_batch_needs_no_seek() -> None:
    book = RangeBook(10)
    assert book.realign({0: 0, 1: 20}) == {}
    _read(book, 0, range(0, 7))
    assert book.realign({0: 7}) == {}


def test_a_mid_range_start_seeks_to_the_range_start_once() -> None:
    book = RangeBook(10)
    assert book.realign({3: 17}) == {3: 10}
    # the log no longer holds offset 10 (retention): the next first offset is 17 again; build from it
    assert book.realign({3: 17}) == {}


def test_a_replay_in_the_middle_of_a_range_seeks_to_its_start() -> None:
    book = RangeBook(10)
    _read(book, 0, range(10, 18))
    assert book.realign({0: 17}) == {0: 10}  # an old-assignment record re-read mid-range
    assert book.realign({0: 10}) == {}  # the replay from the boundary is fine


def test_a_gap_rebuilds_the_open_range_from_its_start() -> None:
    book = RangeBook(10)
    _read(book, 2, range(20, 24))
    assert book.realign({2: 27}) == {2: 20}  # records 24..26 never arrived (an agent restart)
    _read(book, 2, range(20, 30))
    assert book.realign({2: 30}) == {}


def test_after_progress_the_same_seek_may_happen_again() -> None:
    book = RangeBook(10)
    assert book.realign({0: 5}) == {0: 0}
    _read(book, 0, range(0, 6))
    assert book.realign({0: 6}) == {}  # contiguous progress forgets the earlier seek
    _read(book, 0, range(6, 8))
    assert book.realign({0: 3}) == {0: 0}


def _read_batches(book: RangeBook, partition: int, offsets: range) -> None:
    update = RangeUpdate()
    for offset in offsets:
        book.advance(partition, offset, update, batched=True)


def test_a_fresh_start_at_a_batch_record_needs_no_seek_a_single_event_record_does() -> None:
    book = RangeBook(10)
    assert book.realign({0: 17, 1: 17}, batched={0}) == {1: 10}


def test_a_gap_after_batch_records_goes_back_to_the_first_record_not_read() -> None:
    book = RangeBook(10)
    _read_batches(book, 0, range(10, 14))
    assert book.realign({0: 17}, batched={0}) == {0: 14}
    assert book.realign({0: 17}, batched={0}) == {}  # the log no longer holds 14..16: go on


def test_a_gap_with_an_open_single_event_range_rebuilds_it_from_its_start() -> None:
    book = RangeBook(10)
    _read(book, 0, range(11, 13))
    _read_batches(book, 0, range(13, 15))
    assert book.realign({0: 18}, batched={0}) == {0: 10}


def test_a_re_read_batch_record_goes_back_to_its_range_start() -> None:
    book = RangeBook(10)
    _read(book, 0, range(10, 13))
    _read_batches(book, 0, range(13, 16))
    assert book.realign({0: 14}, batched={0}) == {0: 10}  # single-event records 10..12 are rebuilt too


def test_a_re_read_batch_record_with_no_single_event_range_open_needs_no_seek() -> None:
    """A rebalance that keeps the partition restarts at the committed batch record: it is a range of its own,
    so reading goes on from there (a seek would race records Faust is still handing over, decision 0005)."""
    book = RangeBook(10)
    _read_batches(book, 0, range(10, 16))
    assert book.realign({0: 14}, batched={0}) == {}
    assert book.realign({0: 3}, batched={0}) == {}
