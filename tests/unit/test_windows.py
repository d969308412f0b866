"""Tumbling windows and their aggregates (processors.windows)."""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from processors.pricing import PriceBook
from processors.rows import Record, Row, build_batch
from processors.windows import (
    UTC_ZONE,
    Agg,
    Key,
    dimensions,
    keys_of,
    latency_bucket,
    rollup_row,
    window_end,
    window_start,
)
from schemas.events import EVENT_TYPES
from schemas.registry import distinct_key
from schemas.rollups import GRANULARITIES, LATENCY_BOUNDS_MS, ROLLUP_COLUMN_NAMES, ROLLUP_DIMENSIONS
from tests.factories import llm_call, message

BOOK = PriceBook()
TS = datetime(2026, 11, 21, 10, 30, 45, 123456, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 10, 31, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
KOLKATA = ZoneInfo("Asia/Kolkata")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
HAVANA = ZoneInfo("America/Havana")  # its DST changes happen at midnight
SYDNEY = ZoneInfo("Australia/Sydney")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def event(type_: str, tenant_id: str = "acme", **fields: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": type_, "tenant_id": tenant_id, "timestamp": TS.isoformat(), **fields}


def row_of(doc: dict[str, Any]) -> Row:
    batch = build_batch([Record(doc["tenant_id"].encode(), orjson.dumps(doc))], BOOK, NOW)
    assert batch.dead == [], [d.reason for d in batch.dead]
    (row,) = batch.rows
    return row


def ids(*values: str) -> list[int]:
    """What a distinct-count array holds for these ids: their 64-bit hashes (`distinct_key`), sorted."""
    return sorted(distinct_key(v) for v in values)


def agg_of(*rows: Row) -> Agg:
    agg = Agg()
    for row in rows:
        agg.add_row(row)
    return agg


def fields(agg: Agg) -> dict[str, Any]:
    """Every measure of `agg`, the way the rollups table stores it (the arrays of ids sorted: they are sets)."""
    row = rollup_row(KEY, agg, 0, 0, 0)
    out = {name: row[name] for name in ROLLUP_COLUMN_NAMES[10:-1]}
    out["sessions"], out["end_users"] = sorted(out["sessions"]), sorted(out["end_users"])
    return out


KEY: Key = ("acme", "minute", utc(2026, 11, 21, 10, 30), "llm_call", "openai", "gpt-4o-mini", "chat", "shop.example")


# --- window_start / window_end ------------------------------------------------------------------


def test_granularities() -> None:
    assert GRANULARITIES == ("minute", "hour", "day")


@pytest.mark.parametrize(
    ("granularity", "start", "end"),
    [
        ("minute", utc(2026, 11, 21, 10, 30), utc(2026, 11, 21, 10, 31)),
        ("hour", utc(2026, 11, 21, 10), utc(2026, 11, 21, 11)),
        ("day", utc(2026, 11, 21), utc(2026, 11, 22)),
    ],
)
def test_windows_in_utc(granularity: str, start: datetime, end: datetime) -> None:
    assert window_start(TS, granularity, UTC_ZONE) == start
    assert window_end(start, granularity, UTC_ZONE) == end
    assert window_start(TS, granularity, UTC_ZONE).utcoffset() == timedelta(0)


def test_window_start_accepts_any_offset_and_answers_in_utc() -> None:
    same_instant = TS.astimezone(ZoneInfo("Asia/Tokyo"))
    assert window_start(same_instant, "hour", UTC_ZONE) == utc(2026, 11, 21, 10)
    assert window_start(same_instant, "day", UTC_ZONE) == utc(2026, 11, 21)


def test_a_window_start_is_in_its_own_window() -> None:
    assert window_start(utc(2026, 11, 21, 10), "hour", UTC_ZONE) == utc(2026, 11, 21, 10)
    assert window_start(utc(2026, 11, 21, 10) - timedelta(microseconds=1), "hour", UTC_ZONE) == utc(2026, 11, 21, 9)
    assert window_start(utc(2026, 11, 21, 0, 0, 59, 999999), "minute", UTC_ZONE) == utc(2026, 11, 21)


def test_unknown_granularity_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown granularity 'week'"):
        window_start(TS, "week", UTC_ZONE)


@pytest.mark.parametrize(
    ("granularity", "start", "end"),
    [
        # 03:30 UTC on the 21st is 22:30 EST on the 20th (UTC-5)
        ("minute", utc(2026, 11, 21, 3, 30), utc(2026, 11, 21, 3, 31)),
        ("hour", utc(2026, 11, 21, 3), utc(2026, 11, 21, 4)),
        ("day", utc(2026, 11, 20, 5), utc(2026, 11, 21, 5)),
    ],
)
def test_windows_in_new_york_standard_time(granularity: str, start: datetime, end: datetime) -> None:
    ts = utc(2026, 11, 21, 3, 30, 15)
    assert window_start(ts, granularity, NEW_YORK) == start
    assert window_end(start, granularity, NEW_YORK) == end


def test_new_york_day_in_summer_time_starts_at_04_utc() -> None:
    start = window_start(utc(2026, 7, 4, 3, 59), "day", NEW_YORK)  # 23:59 EDT on the 3rd
    assert start == utc(2026, 7, 3, 4)
    assert window_end(start, "day", NEW_YORK) == utc(2026, 7, 4, 4)
    assert window_start(utc(2026, 7, 4, 4), "day", NEW_YORK) == utc(2026, 7, 4, 4)


def test_day_of_the_spring_change_lasts_23_hours() -> None:
    # 2026-03-08: clocks go from 02:00 EST to 03:00 EDT
    start = window_start(utc(2026, 3, 8, 15), "day", NEW_YORK)
    end = window_end(start, "day", NEW_YORK)
    assert (start, end) == (utc(2026, 3, 8, 5), utc(2026, 3, 9, 4))
    assert end - start == timedelta(hours=23)
    assert window_start(end, "day", NEW_YORK) == end


def test_day_of_the_autumn_change_lasts_25_hours() -> None:
    # 2026-11-01: clocks go from 02:00 EDT back to 01:00 EST
    start = window_start(utc(2026, 11, 1, 15), "day", NEW_YORK)
    end = window_end(start, "day", NEW_YORK)
    assert (start, end) == (utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))
    assert end - start == timedelta(hours=25)
    # both 01:30s of that night (EDT, then EST) are in the same day
    assert window_start(utc(2026, 11, 1, 5, 30), "day", NEW_YORK) == start
    assert window_start(utc(2026, 11, 1, 6, 30), "day", NEW_YORK) == start


def test_hours_across_the_spring_change_are_consecutive_utc_hours() -> None:
    assert window_start(utc(2026, 3, 8, 6, 59), "hour", NEW_YORK) == utc(2026, 3, 8, 6)  # 01:59 EST
    assert window_start(utc(2026, 3, 8, 7, 0), "hour", NEW_YORK) == utc(2026, 3, 8, 7)  # 03:00 EDT
    assert window_start(utc(2026, 3, 8, 7, 30), "minute", NEW_YORK) == utc(2026, 3, 8, 7, 30)


def test_first_of_the_repeated_hours_of_the_autumn_change() -> None:
    assert window_start(utc(2026, 11, 1, 5, 30), "hour", NEW_YORK) == utc(2026, 11, 1, 5)  # 01:30 EDT
    assert window_start(utc(2026, 11, 1, 5, 30, 59), "minute", NEW_YORK) == utc(2026, 11, 1, 5, 30)


@pytest.mark.parametrize(
    ("ts", "tz", "granularity", "start"),
    [
        (utc(2026, 11, 1, 6, 30), NEW_YORK, "hour", utc(2026, 11, 1, 6)),  # 01:30 EST (the second 01:30)
        (utc(2026, 11, 1, 6, 59, 59), NEW_YORK, "hour", utc(2026, 11, 1, 6)),
        (utc(2026, 11, 1, 6, 30, 5), NEW_YORK, "minute", utc(2026, 11, 1, 6, 30)),
        (utc(2026, 10, 25, 1, 15), LONDON, "hour", utc(2026, 10, 25, 1)),  # 01:15 GMT (after 01:15 BST)
        (utc(2026, 10, 25, 0, 15), LONDON, "hour", utc(2026, 10, 25, 0)),  # 01:15 BST
    ],
)
def test_second_of_the_repeated_hours_of_the_autumn_change(
    ts: datetime, tz: ZoneInfo, granularity: str, start: datetime
) -> None:
    assert window_start(ts, granularity, tz) == start
    assert start <= ts < window_end(start, granularity, tz)


def test_the_repeated_hour_is_two_hour_windows_in_one_day() -> None:
    starts = [window_start(utc(2026, 11, 1, 4) + timedelta(minutes=10 * i), "hour", NEW_YORK) for i in range(18)]
    assert sorted(set(starts)) == [utc(2026, 11, 1, 4), utc(2026, 11, 1, 5), utc(2026, 11, 1, 6)]
    assert [s.astimezone(NEW_YORK).strftime("%H:%M%z") for s in sorted(set(starts))] == [
        "00:00-0400",
        "01:00-0400",
        "01:00-0500",
    ]


LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # a 30-minute DST change


@pytest.mark.xfail(
    strict=True,
    reason="processors/windows.py window_end: an hour window is always 60 min, but where DST moves the clock "
    "by 30 min the local hour around the change lasts 90 min (fall-back) or 30 min (spring-forward)",
)
@pytest.mark.parametrize(
    "ts",
    [
        utc(2026, 4, 4, 15, 15),  # 01:45 +10:30, the second 01:45: window 01:00 +11 = 14:00 UTC, ends 15:00
        utc(2026, 10, 3, 16, 15),  # 03:15 +11: in window 16:00 UTC, but window 15:30 UTC (02:00 +10:30) ends 16:30
    ],
)
def test_hour_windows_where_dst_moves_the_clock_by_half_an_hour(ts: datetime) -> None:
    start = window_start(ts, "hour", LORD_HOWE)
    earlier = window_start(ts - timedelta(minutes=30), "hour", LORD_HOWE)
    assert start <= ts < window_end(start, "hour", LORD_HOWE)
    assert earlier == start or window_end(earlier, "hour", LORD_HOWE) <= start


@pytest.mark.parametrize(
    ("granularity", "start", "end"),
    [
        # 10:10 UTC is 15:40 IST (UTC+05:30)
        ("minute", utc(2026, 11, 21, 10, 10), utc(2026, 11, 21, 10, 11)),
        ("hour", utc(2026, 11, 21, 9, 30), utc(2026, 11, 21, 10, 30)),
        ("day", utc(2026, 11, 20, 18, 30), utc(2026, 11, 21, 18, 30)),
    ],
)
def test_windows_in_kolkata_start_at_half_past_utc(granularity: str, start: datetime, end: datetime) -> None:
    ts = utc(2026, 11, 21, 10, 10, 30)
    assert window_start(ts, granularity, KOLKATA) == start
    assert window_end(start, granularity, KOLKATA) == end


def test_every_kolkata_hour_window_starts_at_30_minutes_past_a_utc_hour() -> None:
    starts = {window_start(utc(2026, 11, 21) + timedelta(minutes=7 * i), "hour", KOLKATA) for i in range(300)}
    assert {s.minute for s in starts} == {30}
    # 00:00 UTC .. 10:53 UTC the next day: the windows from 23:30 the day before to 10:30
    assert len(starts) == 36
    assert (min(starts), max(starts)) == (utc(2026, 11, 20, 23, 30), utc(2026, 11, 22, 10, 30))


def test_kathmandu_hours_start_at_a_quarter_past_utc() -> None:
    assert window_start(utc(2026, 11, 21, 10, 10), "hour", KATHMANDU) == utc(2026, 11, 21, 9, 15)
    assert window_start(utc(2026, 11, 21, 10, 15), "hour", KATHMANDU) == utc(2026, 11, 21, 10, 15)


def test_day_without_a_midnight_starts_at_its_first_instant() -> None:
    # Havana, 2026-03-08: 00:00 CST jumps to 01:00 CDT, so the day starts at 01:00 local (05:00 UTC)
    start = window_start(utc(2026, 3, 8, 12), "day", HAVANA)
    assert start == utc(2026, 3, 8, 5)
    assert start.astimezone(HAVANA).hour == 1
    assert window_end(window_start(utc(2026, 3, 7, 12), "day", HAVANA), "day", HAVANA) == start
    assert window_end(start, "day", HAVANA) - start == timedelta(hours=23)
    assert start - window_start(utc(2026, 3, 7, 12), "day", HAVANA) == timedelta(hours=24)


# --- property: every instant is in exactly one window of each granularity -------------------------

ZONES = [UTC_ZONE, NEW_YORK, LONDON, KOLKATA, KATHMANDU, HAVANA, SYDNEY]


@settings(max_examples=300)
@given(
    ts=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    tz=st.sampled_from(ZONES),
    granularity=st.sampled_from(GRANULARITIES),
)
@example(ts=utc(2026, 11, 1, 6, 30), tz=NEW_YORK, granularity="hour")  # the second 01:30 of a fall-back
@example(ts=utc(2026, 11, 1, 6, 30), tz=NEW_YORK, granularity="minute")
@example(ts=utc(2026, 10, 25, 1, 59, 59), tz=LONDON, granularity="hour")
@example(ts=utc(2026, 3, 8, 7), tz=NEW_YORK, granularity="hour")  # 03:00 EDT, right after the gap
@example(ts=utc(2026, 3, 8, 5), tz=HAVANA, granularity="day")  # a day that starts at 01:00
def test_every_instant_falls_in_exactly_one_window(ts: datetime, tz: ZoneInfo, granularity: str) -> None:
    start = window_start(ts, granularity, tz)
    end = window_end(start, granularity, tz)
    assert start.utcoffset() == timedelta(0)
    assert start <= ts < end
    # windows tile the time line: the next one starts where this one ends, so no other holds ts
    assert window_start(start, granularity, tz) == start
    assert window_start(end - timedelta(microseconds=1), granularity, tz) == start
    assert window_start(end, granularity, tz) == end
    local_start, local_ts = start.astimezone(tz), ts.astimezone(tz)
    if granularity == "minute":
        assert end - start == timedelta(minutes=1)
        assert (local_start.second, local_start.microsecond) == (0, 0)
    elif granularity == "hour":
        assert end - start == timedelta(hours=1)
        assert (local_start.minute, local_start.second) == (0, 0)
    else:
        assert end - start in (timedelta(hours=23), timedelta(hours=24), timedelta(hours=25))
        assert local_start.date() == local_ts.date()
        assert (local_start.minute, local_start.second) == (0, 0)


@given(
    ts=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)),
    granularity=st.sampled_from(GRANULARITIES),
    hours=st.integers(-12, 14),
)
def test_utc_windows_are_the_same_whatever_the_offset_of_the_instant(
    ts: datetime, granularity: str, hours: int
) -> None:
    start = window_start(ts, granularity, UTC_ZONE)
    assert window_start(ts.astimezone(timezone(timedelta(hours=hours))), granularity, UTC_ZONE) == start
    assert window_start(ts, granularity, ZoneInfo("Etc/UTC")) == start
    assert window_start(ts, granularity, ZoneInfo("Etc/UTC")).utcoffset() == start.utcoffset() == timedelta(0)


@given(
    ts=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    tz=st.sampled_from(ZONES),
)
def test_windows_nest(ts: datetime, tz: ZoneInfo) -> None:
    minute, hour, day = (window_start(ts, g, tz) for g in GRANULARITIES)
    assert day <= hour <= minute <= ts
    assert window_end(minute, "minute", tz) <= window_end(hour, "hour", tz) <= window_end(day, "day", tz)


# --- latency buckets ------------------------------------------------------------------------------


def test_latency_bounds() -> None:
    assert LATENCY_BOUNDS_MS == (
        50,
        100,
        200,
        300,
        500,
        750,
        1000,
        1500,
        2000,
        3000,
        5000,
        7500,
        10_000,
        20_000,
        60_000,
    )
    assert list(LATENCY_BOUNDS_MS) == sorted(set(LATENCY_BOUNDS_MS))
    assert len(Agg().latency_buckets) == len(LATENCY_BOUNDS_MS) + 1 == 16


@pytest.mark.parametrize(
    ("latency_ms", "bucket"),
    [
        (0, 0),
        (49, 0),
        (50, 1),  # a bound is exclusive: exactly 50 ms goes to the next bucket
        (99, 1),
        (100, 2),
        (420, 4),
        (499, 4),
        (500, 5),
        (1000, 7),
        (19_999, 13),
        (20_000, 14),
        (59_999, 14),
        (60_000, 15),  # the last bucket holds everything from the last bound up
        (86_400_000, 15),
    ],
)
def test_latency_bucket(latency_ms: int, bucket: int) -> None:
    assert latency_bucket(latency_ms) == bucket


@pytest.mark.parametrize("index", range(len(LATENCY_BOUNDS_MS)))
def test_each_bound_starts_the_next_bucket(index: int) -> None:
    bound = LATENCY_BOUNDS_MS[index]
    assert latency_bucket(bound - 1) == index
    assert latency_bucket(bound) == index + 1


# --- rows of every type -------------------------------------------------------------------------

LLM = row_of(
    llm_call(
        "acme",
        TS,
        cached_input_tokens=200,
        reasoning_tokens=50,
        feature="chat",
        end_user_id="u-1",
        domain="shop.example",
    )
)


def test_rollup_dimensions_cover_every_type_and_late() -> None:
    assert set(ROLLUP_DIMENSIONS) == {*EVENT_TYPES, "late"}
    assert ROLLUP_DIMENSIONS["llm_call"] == ("provider", "model", "feature")


@pytest.mark.parametrize(
    ("doc", "dims"),
    [
        (llm_call("acme", TS, feature="chat"), ("openai", "gpt-4o-mini", "chat")),
        (llm_call("acme", TS, provider="anthropic", model="claude-x"), ("anthropic", "claude-x", "")),
        (message("acme", TS, role="assistant", content_chars=12), ("assistant", "", "")),
        (message("acme", TS, role="user", properties={"language": "es"}), ("user", "es", "")),
        (event("session_started", session_id="s-1", channel="whatsapp"), ("whatsapp", "", "")),
        (event("session_started", session_id="s-1"), ("", "", "")),
        (event("session_ended", session_id="s-1", reason="timeout"), ("timeout", "", "")),
        (event("session_ended", session_id="s-1"), ("completed", "", "")),
        (event("tool_call", tool_name="order_status", status="error", error_type="E"), ("order_status", "error", "")),
        (
            event("product_event", action="clicked", product_id="SKU-1", product_name="Red shoes", category="c"),
            ("clicked", "SKU-1", "Red shoes"),
        ),
        (event("product_event", action="recommended", product_id="SKU-2"), ("recommended", "SKU-2", "")),
        (event("search", query="red shoes", results_count=0), ("zero", "red shoes", "")),
        (event("search", query="  Blue   SHOES ", results_count=3), ("found", "blue shoes", "")),
        (event("search", query="x" * 300, results_count=0), ("zero", "x" * 200, "")),
        (event("conversion", order_id="o-1", revenue="1", currency="EUR", feature="chat"), ("EUR", "chat", "")),
        (event("conversion", order_id="o-1", revenue="1"), ("USD", "", "")),
        (event("conversion", order_id="o-1", revenue="1", category="pumps"), ("USD", "", "pumps")),
        (
            event("conversion", order_id="o-1", revenue="1", currency="EUR", feature="chat", category="filters"),
            ("EUR", "chat", "filters"),
        ),
        (event("feedback", rating=4), ("", "", "")),
        (event("feedback", thumbs="down"), ("", "", "")),
        (event("custom", name="build.completed", dimensions={"status": "ok"}), ("build.completed", "status=ok", "")),
        (
            event("custom", name="deploy", dimensions={"z": "a&b=c", "env": "prod"}),
            ("deploy", "env=prod&z=a%26b%3Dc", ""),
        ),
        (event("custom", name="deploy"), ("deploy", "", "")),
    ],
)
def test_dimensions(doc: dict[str, Any], dims: tuple[str, str, str]) -> None:
    assert dimensions(row_of(doc)) == dims


def test_keys_of_gives_one_key_per_granularity() -> None:
    keys = keys_of(LLM, TS, UTC_ZONE)
    assert keys == [
        ("acme", "minute", utc(2026, 11, 21, 10, 30), "llm_call", "openai", "gpt-4o-mini", "chat", "shop.example"),
        ("acme", "hour", utc(2026, 11, 21, 10), "llm_call", "openai", "gpt-4o-mini", "chat", "shop.example"),
        ("acme", "day", utc(2026, 11, 21), "llm_call", "openai", "gpt-4o-mini", "chat", "shop.example"),
    ]


def test_keys_of_aligns_windows_in_the_zone() -> None:
    row = row_of(message("globex", TS))
    keys = keys_of(row, utc(2026, 11, 21, 3, 30, 15), NEW_YORK)
    assert [(k[1], k[2]) for k in keys] == [
        ("minute", utc(2026, 11, 21, 3, 30)),
        ("hour", utc(2026, 11, 21, 3)),
        ("day", utc(2026, 11, 20, 5)),
    ]
    assert {k[0] for k in keys} == {"globex"}
    assert {k[3:] for k in keys} == {("message", "user", "", "", "")}


def test_keys_of_uses_the_given_time_not_the_rows() -> None:
    arrival = utc(2026, 11, 22, 8, 1, 2)
    assert [k[2] for k in keys_of(LLM, arrival, UTC_ZONE)] == [
        utc(2026, 11, 22, 8, 1),
        utc(2026, 11, 22, 8),
        utc(2026, 11, 22),
    ]


def test_late_keys_count_under_type_late_with_the_events_type_as_d1() -> None:
    keys = keys_of(LLM, utc(2026, 11, 22, 8, 1, 2), KOLKATA, kind="late")
    assert keys == [
        ("acme", "minute", utc(2026, 11, 22, 8, 1), "late", "llm_call", "", "", "shop.example"),
        ("acme", "hour", utc(2026, 11, 22, 7, 30), "late", "llm_call", "", "", "shop.example"),
        ("acme", "day", utc(2026, 11, 21, 18, 30), "late", "llm_call", "", "", "shop.example"),
    ]


# --- Agg.add_row --------------------------------------------------------------------------------

EMPTY = fields(Agg())


def test_empty_agg() -> None:
    assert fields(Agg()) == {
        "events": 0,
        "errors": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cached_input_tokens": 0,
        "reasoning_tokens": 0,
        "audio_seconds": 0.0,
        "cost_usd": Decimal(0),
        "unpriced": 0,
        "latency_ms_sum": 0,
        "latency_buckets": [0] * 16,
        "content_chars": 0,
        "revenue": Decimal(0),
        "rating_sum": 0,
        "rating_count": 0,
        "thumbs_up": 0,
        "thumbs_down": 0,
        "zero_results": 0,
        "sessions": [],
        "end_users": [],
        "measures": {},
    }


def buckets(**counts: int) -> list[int]:
    """A latency histogram: buckets(b4=1) has one count in bucket 4."""
    out = [0] * 16
    for name, count in counts.items():
        out[int(name[1:])] = count
    return out


def changed(agg: Agg) -> dict[str, Any]:
    """The measures of `agg` that differ from the empty aggregate."""
    return {k: v for k, v in fields(agg).items() if v != EMPTY[k]}


def test_llm_call_adds_tokens_cost_latency_and_who() -> None:
    assert LLM["cost_usd"] == Decimal("0.000435000000")
    assert changed(agg_of(LLM)) == {
        "events": 1,
        "input_tokens": 1000,
        "output_tokens": 500,
        "cached_input_tokens": 200,
        "reasoning_tokens": 50,
        "cost_usd": Decimal("0.000435000000"),
        "latency_ms_sum": 420,
        "latency_buckets": buckets(b4=1),
        "sessions": ids("s-1"),
        "end_users": ids("u-1"),
    }


def test_llm_call_error_unknown_model_and_audio() -> None:
    rows = [
        row_of(llm_call("acme", TS, status="error", error_type="RateLimitError", latency_ms=50, session_id="s-2")),
        row_of(llm_call("acme", TS, model="mystery-1", latency_ms=60_000, session_id="s-1")),
        row_of(
            llm_call(
                "acme",
                TS,
                operation="transcription",
                model="whisper-1",
                input_tokens=0,
                output_tokens=0,
                audio_seconds=30,
                latency_ms=0,
            )
        ),
    ]
    assert [r["price_status"] for r in rows] == ["priced", "unknown_model", "priced"]
    assert changed(agg_of(*rows)) == {
        "events": 3,
        "errors": 1,
        "input_tokens": 2000,
        "output_tokens": 1000,
        "audio_seconds": 30.0,
        "cost_usd": Decimal("0.000450000000") + Decimal("0.003000000000"),
        "unpriced": 1,
        "latency_ms_sum": 60_050,
        "latency_buckets": buckets(b1=1, b15=1),  # latency 0 means "not measured": not in the histogram
        "sessions": ids("s-1", "s-2"),
    }


def test_message_adds_content_chars() -> None:
    rows = [
        row_of(message("acme", TS, content_chars=12)),
        row_of(message("acme", TS, role="assistant", session_id="s-9")),
    ]
    assert changed(agg_of(*rows)) == {"events": 2, "content_chars": 12, "sessions": ids("s-1", "s-9")}


def test_session_started_counts_the_event_and_the_session() -> None:
    row = row_of(event("session_started", session_id="s-1", channel="web", end_user_id="u-2"))
    assert changed(agg_of(row)) == {"events": 1, "sessions": ids("s-1"), "end_users": ids("u-2")}


def test_session_ended_adds_its_duration_and_an_error_end_is_an_error() -> None:
    rows = [
        row_of(event("session_ended", session_id="s-1", reason="error", duration_ms=65_000)),
        row_of(event("session_ended", session_id="s-2", reason="timeout", duration_ms=1_500)),
    ]
    assert changed(agg_of(*rows)) == {
        "events": 2,
        "errors": 1,
        "latency_ms_sum": 66_500,
        "latency_buckets": buckets(b8=1, b15=1),
        "sessions": ids("s-1", "s-2"),
    }


def test_tool_call_adds_latency_and_errors() -> None:
    rows = [
        row_of(event("tool_call", tool_name="t", latency_ms=33, status="error", error_type="Timeout")),
        row_of(event("tool_call", tool_name="t", latency_ms=750)),
    ]
    assert changed(agg_of(*rows)) == {
        "events": 2,
        "errors": 1,
        "latency_ms_sum": 783,
        "latency_buckets": buckets(b0=1, b6=1),
    }


def test_product_event_counts_only_the_event() -> None:
    row = row_of(event("product_event", action="added_to_cart", product_id="SKU-1", session_id="s-3"))
    assert changed(agg_of(row)) == {"events": 1, "sessions": ids("s-3")}


def test_search_adds_latency_and_zero_results() -> None:
    rows = [
        row_of(event("search", query="red shoes", results_count=0, latency_ms=12)),
        row_of(event("search", query="red shoes", results_count=0, latency_ms=200)),
        row_of(event("search", query="hats", results_count=7, latency_ms=5000)),
    ]
    assert changed(agg_of(*rows)) == {
        "events": 3,
        "latency_ms_sum": 5212,
        "latency_buckets": buckets(b0=1, b3=1, b11=1),
        "zero_results": 2,
    }


def test_conversion_adds_revenue_exactly() -> None:
    rows = [
        row_of(event("conversion", order_id="o-1", revenue="19.99")),
        row_of(event("conversion", order_id="o-2", revenue="12345678901234.123456789012")),
    ]
    assert changed(agg_of(*rows)) == {"events": 2, "revenue": Decimal("12345678901254.113456789012")}


def test_feedback_adds_ratings_and_thumbs() -> None:
    rows = [
        row_of(event("feedback", rating=4)),
        row_of(event("feedback", rating=1)),
        row_of(event("feedback", thumbs="up")),
        row_of(event("feedback", thumbs="up")),
        row_of(event("feedback", thumbs="down", comment_chars=80)),
    ]
    assert changed(agg_of(*rows)) == {"events": 5, "rating_sum": 5, "rating_count": 2, "thumbs_up": 2, "thumbs_down": 1}


def test_custom_event_sums_its_measures() -> None:
    rows = [
        row_of(event("custom", name="build", measures={"duration_s": 12.5, "pages": 3})),
        row_of(event("custom", name="build", measures={"duration_s": -1.25})),
        row_of(event("custom", name="build", dimensions={"status": "ok"})),
    ]
    assert changed(agg_of(*rows)) == {"events": 3, "measures": {"duration_s": 11.25, "pages": 3.0}}


# --- rollup_row -----------------------------------------------------------------------------------


def test_rollup_row_keys_are_the_rollup_columns_in_order() -> None:
    row = rollup_row(KEY, agg_of(LLM), 3, 17, 1712)
    assert tuple(row) == ROLLUP_COLUMN_NAMES


def test_rollup_row_values() -> None:
    agg = agg_of(LLM, row_of(llm_call("acme", TS, session_id="a-0", end_user_id="u-0", latency_ms=49)))
    row = rollup_row(KEY, agg, 3, 17, 1712)
    assert (sorted(row["sessions"]), sorted(row["end_users"])) == (ids("a-0", "s-1"), ids("u-0", "u-1"))
    assert {**row, "sessions": [], "end_users": []} == {
        "tenant_id": "acme",
        "granularity": "minute",
        "window_start": "2026-11-21 10:30:00",
        "type": "llm_call",
        "d1": "openai",
        "d2": "gpt-4o-mini",
        "d3": "chat",
        "domain": "shop.example",
        "source_partition": 3,
        "range_id": 17,
        "events": 2,
        "errors": 0,
        "input_tokens": 2000,
        "output_tokens": 1000,
        "cached_input_tokens": 200,
        "reasoning_tokens": 50,
        "audio_seconds": 0.0,
        "cost_usd": Decimal("0.000885000000"),
        "unpriced": 0,
        "latency_ms_sum": 469,
        "latency_buckets": buckets(b0=1, b4=1),
        "content_chars": 0,
        "revenue": Decimal(0),
        "rating_sum": 0,
        "rating_count": 0,
        "thumbs_up": 0,
        "thumbs_down": 0,
        "zero_results": 0,
        "sessions": [],
        "end_users": [],
        "measures": {},
        "version": 1712,
    }


def test_rollup_row_window_start_is_utc_text_to_the_second() -> None:
    key = ("acme", "hour", utc(2026, 11, 21, 9, 30), "message", "user", "", "", "")
    assert rollup_row(key, Agg(), 0, 0, 0)["window_start"] == "2026-11-21 09:30:00"


def test_rollup_row_does_not_share_state_with_the_agg() -> None:
    agg = agg_of(row_of(event("custom", name="b", measures={"x": 1}, session_id="s-1")), LLM)
    row = rollup_row(KEY, agg, 0, 0, 0)
    agg.add_row(LLM)
    agg.add_row(row_of(event("custom", name="b", measures={"x": 1}, session_id="s-2")))
    assert (row["events"], row["latency_buckets"][4], row["sessions"], row["measures"]) == (
        2,
        1,
        ids("s-1"),
        {"x": 1.0},
    )


# --- Agg.merge ----------------------------------------------------------------------------------


def test_merge_adds_every_measure_and_returns_self() -> None:
    a = agg_of(LLM, row_of(event("custom", name="b", measures={"x": 1.5})))
    b = agg_of(
        row_of(event("feedback", thumbs="up", session_id="s-2")),
        row_of(event("custom", name="b", measures={"x": 2, "y": 1})),
    )
    assert a.merge(b) is a
    assert changed(a) == {
        "events": 4,
        "input_tokens": 1000,
        "output_tokens": 500,
        "cached_input_tokens": 200,
        "reasoning_tokens": 50,
        "cost_usd": Decimal("0.000435000000"),
        "latency_ms_sum": 420,
        "latency_buckets": buckets(b4=1),
        "thumbs_up": 1,
        "sessions": ids("s-1", "s-2"),
        "end_users": ids("u-1"),
        "measures": {"x": 3.5, "y": 1.0},
    }


def test_merge_leaves_the_other_agg_alone() -> None:
    a, b = Agg(), agg_of(LLM, row_of(event("custom", name="b", measures={"x": 1})))
    before = fields(b)
    a.merge(b)
    a.merge(b)  # the same partial is merged into several keys (one per granularity)
    a.add_row(LLM)
    assert fields(b) == before
    assert (a.events, a.latency_buckets[4], a.measures) == (5, 3, {"x": 2.0})
    assert a.sessions is not b.sessions and a.latency_buckets is not b.latency_buckets and a.measures is not b.measures


counts = st.integers(0, 10**9)
money = st.decimals(min_value=0, max_value=10**6, places=12, allow_nan=False, allow_infinity=False)
# integer-valued or quarter floats: their sums are exact in any order (no rounding to compare around)
exact_floats = st.integers(-(2**30), 2**30).map(lambda i: i / 4)

aggs = st.builds(
    Agg,
    events=counts,
    errors=counts,
    input_tokens=counts,
    output_tokens=counts,
    cached_input_tokens=counts,
    reasoning_tokens=counts,
    audio_seconds=st.integers(0, 10**7).map(float),
    cost_usd=money,
    unpriced=counts,
    latency_ms_sum=counts,
    latency_buckets=st.lists(counts, min_size=16, max_size=16),
    content_chars=counts,
    revenue=money,
    rating_sum=counts,
    rating_count=counts,
    thumbs_up=counts,
    thumbs_down=counts,
    zero_results=counts,
    sessions=st.sets(st.sampled_from(["s-1", "s-2", "s-3", "s-4"])),
    end_users=st.sets(st.sampled_from(["u-1", "u-2", "u-3"])),
    measures=st.dictionaries(st.sampled_from(["x", "y", "z"]), exact_floats),
)


def merged(*parts: Agg) -> Agg:
    """`parts` merged left to right into a fresh aggregate (the parts are not touched)."""
    out = copy.deepcopy(parts[0])
    for part in parts[1:]:
        out.merge(copy.deepcopy(part))
    return out


@given(a=aggs, b=aggs, c=aggs)
def test_merge_is_associative(a: Agg, b: Agg, c: Agg) -> None:
    left = merged(merged(a, b), c)
    right = merged(a, merged(b, c))
    assert fields(left) == fields(right)


@given(a=aggs, b=aggs)
def test_merge_is_commutative(a: Agg, b: Agg) -> None:
    assert fields(merged(a, b)) == fields(merged(b, a))


@given(a=aggs)
def test_the_empty_agg_is_the_identity(a: Agg) -> None:
    assert fields(merged(a, Agg())) == fields(a)
    assert fields(merged(Agg(), a)) == fields(a)


@given(a=aggs, b=aggs)
def test_merge_sums_counters_and_unites_sets(a: Agg, b: Agg) -> None:
    m = fields(merged(a, b))
    fa, fb = fields(a), fields(b)
    assert m["events"] == fa["events"] + fb["events"]
    assert m["cost_usd"] == fa["cost_usd"] + fb["cost_usd"]
    assert m["latency_buckets"] == [x + y for x, y in zip(fa["latency_buckets"], fb["latency_buckets"], strict=True)]
    assert m["sessions"] == sorted(set(fa["sessions"]) | set(fb["sessions"]))
    assert m["measures"] == {
        k: fa["measures"].get(k, 0.0) + fb["measures"].get(k, 0.0) for k in {*fa["measures"], *fb["measures"]}
    }


#: Stored rows of every type (integer audio seconds, quarter measures: float sums stay exact).
POOL: list[Row] = [
    LLM,
    row_of(llm_call("acme", TS, status="error", error_type="E", latency_ms=50, session_id="s-2")),
    row_of(llm_call("acme", TS, model="mystery-1", end_user_id="u-2")),
    row_of(
        llm_call(
            "acme", TS, operation="transcription", model="whisper-1", input_tokens=0, output_tokens=0, audio_seconds=30
        )
    ),
    row_of(message("acme", TS, content_chars=12)),
    row_of(event("session_started", session_id="s-3", channel="web")),
    row_of(event("session_ended", session_id="s-3", reason="error", duration_ms=65_000)),
    row_of(event("tool_call", tool_name="t", latency_ms=33, status="error")),
    row_of(event("product_event", action="clicked", product_id="SKU-1")),
    row_of(event("search", query="red", results_count=0, latency_ms=12)),
    row_of(event("search", query="hat", results_count=2, latency_ms=1999)),
    row_of(event("conversion", order_id="o-1", revenue="19.99")),
    row_of(event("conversion", order_id="o-2", revenue="0.000000000001", currency="EUR")),
    row_of(event("feedback", rating=5)),
    row_of(event("feedback", thumbs="down")),
    row_of(event("custom", name="b", measures={"x": 12.5, "y": -1.25})),
    row_of(event("custom", name="b", measures={"x": 3})),
]


def test_the_pool_has_every_type() -> None:
    assert {r["type"] for r in POOL} == set(EVENT_TYPES)


@given(
    picks=st.lists(st.integers(0, len(POOL) - 1), max_size=40),
    cuts=st.lists(st.integers(0, 40), max_size=6),
    data=st.data(),
)
def test_any_split_into_partials_merges_to_the_same_totals(
    picks: list[int], cuts: list[int], data: st.DataObject
) -> None:
    rows = [POOL[i] for i in picks]
    bounds = [0, *sorted(min(c, len(rows)) for c in cuts), len(rows)]
    partials = [agg_of(*rows[lo:hi]) for lo, hi in itertools.pairwise(bounds)]
    order = data.draw(st.permutations(range(len(partials))))
    total = Agg()
    for i in order:
        total.merge(partials[i])
    whole = agg_of(*rows)
    assert fields(total) == fields(whole)
    assert whole.events == len(rows)
    assert whole.revenue == sum((r["revenue"] for r in rows), Decimal(0))
    assert whole.latency_ms_sum == sum(
        r["latency_ms"] for r in rows if r["type"] in ("llm_call", "tool_call", "search", "session_ended")
    )
    assert sum(whole.latency_buckets) == sum(
        1 for r in rows if r["type"] in ("llm_call", "tool_call", "search", "session_ended")
    )
