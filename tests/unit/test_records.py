"""The events topic's record framing (schemas.records): batch records of NDJSON events, and single events."""

from __future__ import annotations

import itertools

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.records import (
    DEFAULT_RECORD_BYTES,
    DEFAULT_RECORD_EVENTS,
    EVENTS_BATCH_V1,
    FORMAT_HEADER,
    MAX_EVENTS_PER_RECORD,
    FramingError,
    batch_headers,
    count_events,
    encode_batches,
    format_of,
    split_events,
)


def ev(i: int, pad: int = 0) -> bytes:
    return orjson.dumps({"event_id": f"e-{i}", "text": "x" * pad, "note": "line\nbreak"})


def test_the_contract_constants() -> None:
    assert (FORMAT_HEADER, EVENTS_BATCH_V1) == ("tally-format", b"events-batch-v1")
    assert (DEFAULT_RECORD_EVENTS, DEFAULT_RECORD_BYTES, MAX_EVENTS_PER_RECORD) == (1000, 524_288, 65_536)
    assert batch_headers() == [("tally-format", b"events-batch-v1")]


def test_a_batch_is_newline_delimited_json_in_order() -> None:
    events = [ev(i) for i in range(3)]
    (value,) = encode_batches(events, 10, 10_000)
    assert value == events[0] + b"\n" + events[1] + b"\n" + events[2]
    assert [orjson.loads(line)["event_id"] for line in value.split(b"\n")] == ["e-0", "e-1", "e-2"]
    assert split_events(EVENTS_BATCH_V1, value) == events


@given(
    sizes=st.lists(st.integers(0, 300), max_size=60),
    max_events=st.integers(1, 12),
    max_bytes=st.integers(1, 2_000),
)
def test_round_trip_and_bounds(sizes: list[int], max_events: int, max_bytes: int) -> None:
    events = [ev(i, pad) for i, pad in enumerate(sizes)]
    values = encode_batches(events, max_events, max_bytes)
    decoded = [e for value in values for e in split_events(EVENTS_BATCH_V1, value)]
    assert decoded == events  # every event once, in order
    for value in values:
        n = len(split_events(EVENTS_BATCH_V1, value))
        assert 1 <= n <= max_events
        assert len(value) <= max_bytes or n == 1  # only an event larger than the bound alone goes over
    # as few values as the bounds allow: a value plus the next event would break a bound
    for value, after in itertools.pairwise(values):
        first = split_events(EVENTS_BATCH_V1, after)[0]
        n = len(split_events(EVENTS_BATCH_V1, value))
        assert n == max_events or len(value) + 1 + len(first) > max_bytes


def test_a_large_request_is_split_at_the_event_bound() -> None:
    events = [ev(i) for i in range(2500)]
    values = encode_batches(events, 1000, 10 * 1024 * 1024)
    assert [len(split_events(EVENTS_BATCH_V1, v)) for v in values] == [1000, 1000, 500]


def test_a_large_request_is_split_at_the_byte_bound() -> None:
    events = [ev(i, pad=1000) for i in range(10)]  # ~1,050 bytes each
    size = len(events[0])
    values = encode_batches(events, 1000, 3 * size + 2)  # three events and their two newlines
    assert [len(split_events(EVENTS_BATCH_V1, v)) for v in values] == [3, 3, 3, 1]
    assert all(len(v) <= 3 * size + 2 for v in values)


def test_an_event_larger_than_the_byte_bound_goes_alone() -> None:
    small, big = ev(0), ev(1, pad=5000)
    values = encode_batches([small, big, small], 1000, 1000)
    assert values == [small, big, small]


def test_no_events_no_records() -> None:
    assert encode_batches([], 10, 100) == []


@pytest.mark.parametrize(("max_events", "max_bytes"), [(0, 10), (MAX_EVENTS_PER_RECORD + 1, 10), (10, 0)])
def test_bounds_must_be_sane(max_events: int, max_bytes: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        encode_batches([ev(0)], max_events, max_bytes)


@pytest.mark.parametrize("bad", [b"", b'{"a":\n1}'])
def test_an_event_that_would_break_the_framing_is_refused_at_encoding(bad: bytes) -> None:
    with pytest.raises(ValueError, match="event 1 is empty or holds a raw newline"):
        encode_batches([ev(0), bad], 10, 10_000)


def test_no_header_is_a_single_event_record_whatever_its_bytes() -> None:
    value = ev(0) + b"\n" + ev(1)  # even one that looks like a batch: no header, one event (invalid JSON)
    assert split_events(None, value) == [value]
    assert split_events(None, b"") == [b""]


def test_one_trailing_newline_is_allowed() -> None:
    assert split_events(EVENTS_BATCH_V1, ev(0) + b"\n" + ev(1) + b"\n") == [ev(0), ev(1)]


@pytest.mark.parametrize(
    ("format_", "value", "reason"),
    [
        (b"events-batch-v2", ev(0), "unknown tally-format b'events-batch-v2'"),
        (b"", ev(0), "unknown tally-format b''"),
        (EVENTS_BATCH_V1, b"", "empty batch: no events"),
        (EVENTS_BATCH_V1, b"\n", "line 0 is empty"),
        (EVENTS_BATCH_V1, ev(0) + b"\n\n" + ev(1), "line 1 is empty"),
        (EVENTS_BATCH_V1, ev(0) + b"\n\n", "line 1 is empty"),
        (EVENTS_BATCH_V1, b"{}\n" * (MAX_EVENTS_PER_RECORD + 1), "65537 events in one record; at most 65536"),
    ],
)
def test_broken_framing_is_refused_whole(format_: bytes, value: bytes, reason: str) -> None:
    with pytest.raises(FramingError) as caught:
        split_events(format_, value)
    assert str(caught.value).startswith(reason)


def test_the_most_events_a_reader_accepts() -> None:
    assert len(split_events(EVENTS_BATCH_V1, b"\n".join([b"{}"] * MAX_EVENTS_PER_RECORD))) == MAX_EVENTS_PER_RECORD


def test_an_invalid_event_is_not_a_framing_error() -> None:
    """Framing only cuts: an event that is not JSON is the validator's business, and refused alone."""
    assert split_events(EVENTS_BATCH_V1, ev(0) + b"\n{nope\n" + ev(2)) == [ev(0), b"{nope", ev(2)]


@pytest.mark.parametrize(
    ("headers", "found"),
    [
        (None, None),
        ([], None),
        ([("other", b"x")], None),
        ([("other", b"x"), ("tally-format", b"events-batch-v1")], b"events-batch-v1"),
        ({"tally-format": b"events-batch-v1"}, b"events-batch-v1"),
        ([("tally-format", b"events-batch-v9")], b"events-batch-v9"),
        ([("Tally-Format", b"events-batch-v1")], None),  # Kafka header names are case-sensitive
    ],
)
def test_format_of_headers(headers: object, found: bytes | None) -> None:
    assert format_of(headers) == found  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("format_", "value", "n"),
    [
        (None, b'{"a":1}\n{"b":2}', 1),
        (EVENTS_BATCH_V1, b"{}", 1),
        (EVENTS_BATCH_V1, b"{}\n{}\n{}", 3),
        (EVENTS_BATCH_V1, b"{}\n{}\n", 2),
        (EVENTS_BATCH_V1, b"", 1),
    ],
)
def test_count_events_without_cutting(format_: bytes | None, value: bytes, n: int) -> None:
    assert count_events(format_, value) == n
