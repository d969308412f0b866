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
