"""Columnar window starts (processors.columnar_windows) equal `window_start` for every instant and zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.columnar_windows import window_starts, zone_column
from processors.windows import window_start
from schemas.rollups import GRANULARITIES

ZONES = (
    "America/New_York",
    "Europe/Paris",
    "America/Havana",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "UTC",
)
START, END = datetime(2020, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)


@cache
def transitions(zone: str) -> tuple[datetime, ...]:
    """Every change of the zone's UTC offset in 2020-2030, to the second (found independently: 1-hour scan)."""
    tz, out = ZoneInfo(zone), []
    at, before = START, START.astimezone(tz).utcoffset()
    while at < END:
        nxt = at + timedelta(hours=1)
        after = nxt.astimezone(tz).utcoffset()
        if after != before:
            lo, hi = at, nxt
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(tz).utcoffset() == before else (lo, mid)
            out.append(hi.replace(microsecond=0))
        at, before = nxt, after
    return tuple(out)


def check(instants: list[datetime], zones: list[str]) -> None:
    starts = window_starts(pl.Series(instants, dtype=pl.Datetime("us", "UTC")), pl.Series(zones))
    for g in GRANULARITIES:
        got = starts[g].to_list()
        want = [window_start(ts, g, ZoneInfo(z)) for ts, z in zip(instants, zones, strict=True)]
        bad = [(ts, z, a, b) for ts, z, a, b in zip(instants, zones, got, want, strict=True) if a != b]
        assert not bad, f"{g}: {bad[:5]}"
        assert all(s.tzinfo is not None and s.utcoffset() == timedelta(0) for s in got[:1])


def test_the_zones_have_the_transitions_the_tests_are_about() -> None:
    assert len(transitions("America/New_York")) == 22
    assert len(transitions("Australia/Lord_Howe")) == 22
    assert transitions("Asia/Kolkata") == transitions("UTC") == ()
    assert datetime(2026, 3, 8, 5, tzinfo=UTC) in transitions("America/Havana")  # midnight -> 01:00


@pytest.mark.parametrize("zone", ZONES)
def test_every_transition_of_2020_to_2030_swept(zone: str) -> None:
    """Instants every 7 min 13.5 s from 5 hours before to 5 hours after each change of offset, at once."""
    step = timedelta(minutes=7, seconds=13, microseconds=500_000)
    instants = [t - timedelta(hours=5) + step * i for t in transitions(zone) for i in range(84)]
    instants += [START + timedelta(hours=37 * i, seconds=i) for i in range(2600)]  # and 11 years, sparsely
    check(instants, [zone] * len(instants))


def test_the_repeated_fall_back_hour_is_its_own_window() -> None:
    ny = "America/New_York"
    instants = [datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC)]  # both 01:30
    starts = window_starts(pl.Series(instants), ny)
    assert starts["hour"].to_list() == [datetime(2026, 11, 1, 5, tzinfo=UTC), datetime(2026, 11, 1, 6, tzinfo=UTC)]
    assert starts["day"].to_list() == [datetime(2026, 11, 1, 4, tzinfo=UTC)] * 2  # a 25-hour day
    check(instants, [ny, ny])


def test_lord_howe_hour_windows_are_the_row_paths() -> None:
    """The second 01:45 (+10:30) of the April change: the row path puts it in the hour window 14:00 UTC
    (01:00 +11), whose 60 minutes do not contain it (tests/unit/test_windows.py pins that as xfail)."""
    ts = datetime(2026, 4, 4, 15, 15, tzinfo=UTC)
    assert window_starts(pl.Series([ts]), "Australia/Lord_Howe")["hour"].to_list() == [
        datetime(2026, 4, 4, 14, tzinfo=UTC)
    ]


def test_mixed_zones_and_milliseconds_in_one_batch() -> None:
    instants = [datetime(2026, 3, 29, 0, 59, 59, 999_000, tzinfo=UTC) + timedelta(minutes=17 * i) for i in range(40)]
    zones = [ZONES[i % len(ZONES)] for i in range(40)]
    check(instants, zones)
    ms = window_starts(pl.Series(instants, dtype=pl.Datetime("ms", "UTC")), pl.Series(zones))
    assert ms.equals(window_starts(pl.Series(instants, dtype=pl.Datetime("us", "UTC")), pl.Series(zones)))


def test_zone_column_looks_each_tenant_up_once() -> None:
    asked: list[str] = []

    def zone_of(tenant: str) -> ZoneInfo:
        asked.append(tenant)
        return ZoneInfo({"a": "Asia/Kolkata", "b": "UTC"}[tenant])

    zones = zone_column(pl.Series(["a", "b", "a", "a"]), zone_of)
    assert zones.to_list() == ["Asia/Kolkata", "UTC", "Asia/Kolkata", "Asia/Kolkata"]
    assert asked == ["a", "b"]


def test_null_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="null"):
        window_starts(pl.Series([datetime(2026, 1, 1, tzinfo=UTC), None], dtype=pl.Datetime("us", "UTC")), "UTC")


_near = st.builds(
    lambda zone, i, delta: (zone, transitions(zone)[i % len(transitions(zone))] + timedelta(microseconds=delta)),
    st.sampled_from([z for z in ZONES if z not in ("UTC", "Asia/Kolkata", "Asia/Kathmandu")]),
    st.integers(0, 10_000),
    st.integers(-6 * 3600 * 10**6, 6 * 3600 * 10**6),
)
_anywhere = st.builds(
    lambda zone, delta: (zone, START + timedelta(microseconds=delta)),
    st.sampled_from(ZONES),
    st.integers(0, int((END - START) / timedelta(microseconds=1))),
)


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.lists(st.one_of(_near, _anywhere), min_size=1, max_size=40))
def test_random_instants_in_random_zones(pairs: list[tuple[str, datetime]]) -> None:
    check([ts for _, ts in pairs], [zone for zone, _ in pairs])
