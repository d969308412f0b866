"""Period resolution: bucket-aligned ranges in a zone, previous periods, automatic bucket sizes, errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from views_api.periods import (
    BUCKETS,
    EARLIEST,
    LATEST,
    MAX_BUCKETS,
    MAX_SPAN,
    PERIODS,
    PeriodError,
    floor,
    resolve,
    shift,
    source_granularity,
    zone,
)

NOW = datetime(2026, 3, 18, 15, 30, 12, tzinfo=UTC)  # a Wednesday
UTCZ, PARIS, KOLKATA = ZoneInfo("UTC"), ZoneInfo("Europe/Paris"), ZoneInfo("Asia/Kolkata")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "since", "until", "bucket", "prev_since", "count"),
    [
        ({"period": "7d"}, at(2026, 3, 12), at(2026, 3, 19), "day", at(2026, 3, 5), 7),
        ({"days": 1}, at(2026, 3, 17, 16), at(2026, 3, 18, 16), "hour", at(2026, 3, 16, 16), 24),
        ({"period": "24h"}, at(2026, 3, 17, 16), at(2026, 3, 18, 16), "hour", at(2026, 3, 16, 16), 24),
        ({"period": "1h"}, at(2026, 3, 18, 14, 31), at(2026, 3, 18, 15, 31), "minute", at(2026, 3, 18, 13, 31), 60),
        ({"period": "30d"}, at(2026, 2, 17), at(2026, 3, 19), "day", at(2026, 1, 18), 30),
        ({"period": "90d"}, at(2025, 12, 22), at(2026, 3, 23), "week", at(2025, 9, 22), 13),
        ({"period": "1y"}, at(2025, 4, 1), at(2026, 4, 1), "month", at(2024, 4, 1), 12),
        ({"days": 7, "granularity": "hour"}, at(2026, 3, 11, 16), at(2026, 3, 18, 16), "hour", at(2026, 3, 4, 16), 168),
    ],
)
def test_periods_end_with_the_current_bucket(
    kwargs: dict[str, object], since: datetime, until: datetime, bucket: str, prev_since: datetime, count: int
) -> None:
    p = resolve(NOW, tz=UTCZ, **kwargs)  # type: ignore[arg-type]
    assert (p.since, p.until, p.bucket, p.prev_since, len(p.buckets)) == (since, until, bucket, prev_since, count)


def test_days_are_local_days_across_a_dst_change() -> None:
    # Paris moves its clocks forward on 2026-03-29: that day lasts 23 hours
    p = resolve(NOW, from_="2026-03-28", to="2026-03-30", tz=PARIS)
    assert (p.since, p.until, p.bucket) == (at(2026, 3, 27, 23), at(2026, 3, 30, 22), "day")
    assert [b.astimezone(PARIS).hour for b in p.buckets] == [0, 0, 0]
    assert [(b2 - b1) / timedelta(hours=1) for b1, b2 in zip(p.buckets, [*p.buckets[1:], p.until], strict=True)] == [
        24,
        23,
        24,
    ]
    assert p.prev_since == at(2026, 3, 24, 23)


def test_from_to_datetimes_widen_to_whole_buckets() -> None:
    p = resolve(NOW, from_="2026-03-10T10:15:00Z", to="2026-03-10T13:05:00+00:00", tz=UTCZ, granularity="hour")
    assert (p.since, p.until, len(p.buckets)) == (at(2026, 3, 10, 10), at(2026, 3, 10, 14), 4)
    naive = resolve(NOW, from_="2026-03-10T10:00", to="2026-03-10T12:00", tz=PARIS, granularity="hour")
    assert naive.since == at(2026, 3, 10, 9)  # a time without offset is read in the zone


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"period": "7d", "days": 3}, "days"),
        ({"days": 0}, "days"),
        ({"period": "2w"}, "period"),
        ({"from_": "2026-03-01"}, "to"),
        ({"to": "2026-03-01"}, "from"),
        ({"from_": "2026-03-05", "to": "2026-03-01"}, "to"),
        ({"from_": "March 1", "to": "2026-03-02"}, "from"),
        ({"from_": "2020-01-01", "to": "2026-03-02"}, "from"),
        ({"period": "1y", "granularity": "minute"}, "granularity"),
        ({"granularity": "fortnight"}, "granularity"),
    ],
)
def test_wrong_parameters_are_named(kwargs: dict[str, object], param: str) -> None:
    with pytest.raises(PeriodError) as err:
        resolve(NOW, tz=UTCZ, **kwargs)  # type: ignore[arg-type]
    assert err.value.param == param


def test_floor_and_shift_in_a_zone() -> None:
    assert floor(NOW, "week", PARIS) == at(2026, 3, 15, 23)  # Monday 16 March, Paris midnight
    assert floor(NOW, "month", PARIS) == at(2026, 2, 28, 23)
    assert shift(at(2026, 2, 28, 23), "month", 1, PARIS) == at(2026, 3, 31, 22)  # April starts in summer time
    assert floor(NOW, "hour", KOLKATA) == at(2026, 3, 18, 15, 30)  # 21:00 in Kolkata


def test_source_granularity_reads_the_coarsest_aligned_windows() -> None:
    assert source_granularity("day", PARIS, PARIS, NOW) == "day"
    assert source_granularity("month", PARIS, PARIS, NOW) == "day"
    assert source_granularity("day", UTCZ, PARIS, NOW) == "hour"  # Paris day windows are not UTC days
    assert source_granularity("hour", PARIS, UTCZ, NOW) == "hour"
    assert source_granularity("day", UTCZ, KOLKATA, NOW) == "minute"  # half-hour offset: hours do not tile
    assert source_granularity("minute", UTCZ, UTCZ, NOW) == "minute"


@pytest.mark.parametrize(
    ("kwargs", "tz", "param"),
    [
        ({"from_": "0001-01-01", "to": "2026-03-01"}, PARIS, "from"),  # year 1 in Paris is before datetime.min UTC
        ({"from_": "9999-12-30", "to": "9999-12-31"}, UTCZ, "from"),  # and `to` inclusive would be year 10000
        ({"from_": "2026-03-01", "to": "9999-12-31"}, UTCZ, "to"),
        ({"from_": "0001-01-01T00:00:00+01:00", "to": "2026-03-01"}, UTCZ, "from"),
        ({"from_": "9999-12-31T23:59:59-01:00", "to": "2026-03-01"}, UTCZ, "from"),
        ({"from_": "1960-01-01", "to": "1960-02-01"}, UTCZ, "from"),
        ({"from_": "2030-01-01", "to": "2101-01-01"}, UTCZ, "to"),
        ({"days": 10**12}, UTCZ, "days"),
        ({"days": -5}, UTCZ, "days"),
    ],
)
def test_dates_out_of_range_are_named_not_overflowed(kwargs: dict[str, object], tz: ZoneInfo, param: str) -> None:
    with pytest.raises(PeriodError) as err:
        resolve(NOW, tz=tz, **kwargs)  # type: ignore[arg-type]
    assert err.value.param == param, err.value.message


@pytest.mark.parametrize("name", ["Europe", "Nowhere/City", "../etc/passwd", "a\x00b", "x" * 300, "zone1970.tab"])
def test_nonsense_zones_are_named(name: str) -> None:
    with pytest.raises(PeriodError) as err:
        zone(name, "UTC")
    assert err.value.param == "tz"


ZONES = ["UTC", "Europe/Paris", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/St_Johns"]
EDGE_DAYS = [date.min, date.max, date(1, 1, 2), date(9999, 12, 30), date(1979, 12, 31), date(1980, 1, 1)]
EDGE_DAYS += [date(2099, 12, 31), date(2100, 1, 1), date(2026, 3, 29)]
instant_texts = st.one_of(
    st.sampled_from(EDGE_DAYS).map(date.isoformat),
    st.dates().map(date.isoformat),
    st.datetimes(timezones=st.none() | st.timezones()).map(datetime.isoformat),
    st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59.999999-14:00", "2026-03-01Z", " 2026-03-01 "]),
    st.text(max_size=40),
)


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(
    now=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
    period=st.none() | st.sampled_from([*PERIODS, "2w", ""]),
    days=st.none() | st.integers(min_value=-(10**6), max_value=10**6) | st.sampled_from([1, 1830, 1831]),
    from_=st.none() | instant_texts,
    to=st.none() | instant_texts,
    tz=st.sampled_from(ZONES).map(ZoneInfo),
    granularity=st.none() | st.sampled_from([*BUCKETS, "fortnight"]),
)
def test_resolve_returns_a_valid_period_or_names_a_parameter(
    now: datetime,
    period: str | None,
    days: int | None,
    from_: str | None,
    to: str | None,
    tz: ZoneInfo,
    granularity: str | None,
) -> None:
    try:
        p = resolve(now, period=period, days=days, from_=from_, to=to, tz=tz, granularity=granularity)
    except PeriodError as err:  # never OverflowError, ValueError or anything else
        assert err.param in ("period", "days", "from", "to", "granularity"), err.param
        return
    assert EARLIEST - MAX_SPAN <= p.prev_since < p.since < p.until <= LATEST + timedelta(days=31)
    assert p.bucket in BUCKETS and 1 <= len(p.buckets) <= MAX_BUCKETS
    assert floor(p.since, p.bucket, tz) == p.since and floor(p.until, p.bucket, tz) == p.until
