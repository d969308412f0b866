"""After a seek back, a partition's records queued before it are dropped until the sought records begin."""

from __future__ import annotations

import pytest

from processors.seeks import SoughtPartitions


def delivered(sought: SoughtPartitions, records: list[tuple[int, int]], generation: int = 1) -> list[tuple[int, int]]:
    return [(p, o) for p, o in records if sought.keep(p, o, generation)]


def test_records_queued_before_the_seek_are_dropped_until_the_sought_ones_begin() -> None:
    sought = SoughtPartitions(limit=100)
    assert delivered(sought, [(0, 7), (0, 8)]) == [(0, 7), (0, 8)]
    sought.sought(0, highest=9, generation=1)  # the batch held offsets 7..9 of partition 0; sought back to 5
    queued = [(0, 10), (1, 40), (0, 11), (0, 12)]
    again = [(0, 5), (0, 6), (0, 7), (0, 10), (0, 13)]
    assert delivered(sought, queued + again) == [(1, 40), *again]
    assert 0 not in sought


def test_a_sought_offset_above_the_log_start_still_begins_at_or_below_the_highest_delivered() -> None:
    """Retention removed the range start: the consumer resets to the log start, which is at or below the
    records just delivered."""
    sought = SoughtPartitions(limit=100)
    sought.sought(3, highest=120, generation=1)
    assert delivered(sought, [(3, 121), (3, 122), (3, 118), (3, 119)]) == [(3, 118), (3, 119)]


def test_no_more_than_the_limit_is_dropped_in_a_row() -> None:
    sought = SoughtPartitions(limit=3)
    sought.sought(0, highest=9, generation=1)
    assert delivered(sought, [(0, 10), (0, 11), (0, 12), (0, 13), (0, 14)]) == [(0, 13), (0, 14)]


def test_a_new_generation_forgets_every_seek() -> None:
    """A rebalance: Faust seeks to the committed offsets itself; another worker may have moved them past."""
    sought = SoughtPartitions(limit=100)
    sought.sought(0, highest=9, generation=1)
    assert delivered(sought, [(0, 10)], generation=1) == []
    assert delivered(sought, [(0, 30), (0, 31)], generation=2) == [(0, 30), (0, 31)]


def test_seeking_again_while_dropping_keeps_the_highest_offset() -> None:
    sought = SoughtPartitions(limit=100)
    sought.sought(0, highest=9, generation=1)
    assert delivered(sought, [(0, 10), (0, 11)]) == []
    sought.sought(0, highest=4, generation=1)
    assert delivered(sought, [(0, 12), (0, 2)]) == [(0, 2)]


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="limit"):
        SoughtPartitions(limit=0)
