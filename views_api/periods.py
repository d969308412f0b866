"""Reporting periods: `period=`, `days=` or `from`/`to`, a time zone and a bucket size (pure).

Every time-series view resolves its query parameters here into a `Period`: a half-open range
[since, until) whose ends fall on bucket boundaries in the requested zone, the bucket size
(`minute` .. `month`), and the previous period of the same number of buckets for comparisons.

Ends on bucket boundaries make rollup reads exact: a bucket is a whole number of stored windows
(`source_granularity` picks the coarsest stored granularity aligned with the buckets in the
requested zone), so no window is cut in two. "Last 7 days" is the 7 calendar days ending with
today in the zone, today included; "last 24h" is the 24 clock hours ending with the current one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Bucket = Literal["minute", "hour", "day", "week", "month"]
BUCKETS: Final[tuple[Bucket, ...]] = ("minute", "hour", "day", "week", "month")
PERIODS: Final[dict[str, timedelta]] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
    "1y": timedelta(days=365),
}
MAX_SPAN: Final = timedelta(days=1830)
MAX_BUCKETS: Final = 2000
EARLIEST: Final = datetime(1980, 1, 1, tzinfo=UTC)
"""The earliest `from` (with the previous period, reads stay after 1970, where stored windows start)."""
LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)
"""The latest `to` (reads stay before 2106, where stored windows end)."""


class PeriodError(ValueError):
    """A period parameter is wrong; `param` names it (answered as a 422)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True)
class Period:
    """A resolved reporting period."""

    since: datetime
    """First instant (UTC, inclusive)."""
    until: datetime
    """End (UTC, exclusive)."""
    bucket: Bucket
    tz: ZoneInfo
    prev_since: datetime
    """Start of the previous period (same number of buckets, ending at `since`)."""
    label: str
    """How the period was asked for (`7d`, `days=30`, `from/to`)."""

    @property
    def buckets(self) -> list[datetime]:
        """Start (UTC) of every bucket of the period, in order."""
        return bucket_starts(self.since, self.until, self.bucket, self.tz)

    @property
    def hours(self) -> float:
        return (self.until - self.since).total_seconds() / 3600


def zone(name: str | None, default: str, param: str = "tz") -> ZoneInfo:
    """The IANA zone `name` (or `default`), or a PeriodError naming `param`."""
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder (`Europe`), a name too long
        raise PeriodError(param, f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from None


def auto_bucket(span: timedelta) -> Bucket:
    """Bucket size for a span: minutes up to 6 h, hours up to 2 days, days up to 60, weeks up to 180, then months."""
    if span <= timedelta(hours=6):
        return "minute"
    if span <= timedelta(days=2):
        return "hour"
    if span <= timedelta(days=60):
        return "day"
    if span <= timedelta(days=180):
        return "week"
    return "month"


def floor(ts: datetime, bucket: Bucket, tz: ZoneInfo) -> datetime:
    """Start (UTC) of the `bucket` holding `ts`, buckets aligned in `tz` (weeks start on Monday)."""
    local = ts.astimezone(tz)
    if bucket == "minute":
        return ts.astimezone(UTC).replace(second=0, microsecond=0)  # every zone's offset is whole minutes
    if bucket == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
        return datetime(start.year, start.month, start.day, start.hour, tzinfo=tz, fold=local.fold).astimezone(UTC)
    day = local.date()
    if bucket == "week":
        day -= timedelta(days=day.weekday())
    elif bucket == "month":
        day = day.replace(day=1)
    return local_midnight(day, tz)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant of 00:00 on `day` in `tz`."""
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def shift(start: datetime, bucket: Bucket, n: int, tz: ZoneInfo) -> datetime:
    """The bucket start `n` buckets after (or before, n < 0) the bucket start `start`."""
    if bucket == "minute":
        return start + timedelta(minutes=n)
    if bucket == "hour":
        return start + timedelta(hours=n)
    day = start.astimezone(tz).date()
    if bucket == "day":
        return local_midnight(day + timedelta(days=n), tz)
    if bucket == "week":
        return local_midnight(day + timedelta(weeks=n), tz)
    months = day.year * 12 + day.month - 1 + n
    return local_midnight(date(months // 12, months % 12 + 1, 1), tz)


def bucket_starts(since: datetime, until: datetime, bucket: Bucket, tz: ZoneInfo) -> list[datetime]:
    starts, current = [], since
    while current < until:
        starts.append(current)
        current = shift(current, bucket, 1, tz)
    return starts


def _parse_instant(value: str, param: str, tz: ZoneInfo, end: bool) -> datetime:
    """An ISO date (local midnight in `tz`; the day after for an inclusive `to`) or date-time, between
    EARLIEST and LATEST."""
    text = value.strip()
    instant: datetime | None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            instant = local_midnight(day + timedelta(days=1) if end else day, tz)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            instant = (parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)).astimezone(UTC)
    except ValueError:
        raise PeriodError(param, f"{param} must be an ISO date (2026-01-31) or date-time, not {value!r}") from None
    except OverflowError:  # next to year 1 or 9999, moved by a day or a zone's offset
        instant = None
    if instant is None or not EARLIEST <= instant <= LATEST:
        raise PeriodError(param, f"{param} must fall between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}, not {value!r}")
    return instant


def resolve(
    now: datetime,
    *,
    period: str | None = None,
    days: int | None = None,
    from_: str | None = None,
    to: str | None = None,
    tz: ZoneInfo,
    granularity: str | None = None,
    default: str = "7d",
) -> Period:
    """Resolve a view's period parameters (at most one of `period`, `days`, `from`/`to`)."""
    given = [name for name, value in (("period", period), ("days", days), ("from", from_ or to)) if value]
    if len(given) > 1:
        raise PeriodError(given[1], f"give one of period, days or from/to, not both {given[0]} and {given[1]}")
    if granularity is not None and granularity not in BUCKETS:
        raise PeriodError("granularity", f"granularity must be one of {', '.join(BUCKETS)}, not {granularity!r}")
    if from_ or to:
        if not (from_ and to):
            raise PeriodError("to" if from_ else "from", "from and to go together")
        start, end = _parse_instant(from_, "from", tz, False), _parse_instant(to, "to", tz, True)
        if end <= start:
            raise PeriodError("to", "to must be after from")
        if end - start > MAX_SPAN:
            raise PeriodError("from", f"a period spans at most {MAX_SPAN.days} days")
        bucket: Bucket = granularity or auto_bucket(end - start)  # type: ignore[assignment]
        since = floor(start, bucket, tz)
        until = floor(end, bucket, tz)
        if until < end:
            until = shift(until, bucket, 1, tz)
        label = "from/to"
    else:
        if days is not None:
            if not 1 <= days <= MAX_SPAN.days:
                raise PeriodError("days", f"days must be between 1 and {MAX_SPAN.days}, not {days}")
            span, label = timedelta(days=days), f"days={days}"
        else:
            name = period or default
            if name not in PERIODS:
                raise PeriodError("period", f"period must be one of {', '.join(PERIODS)}, not {name!r}")
            span, label = PERIODS[name], name
        bucket = granularity or auto_bucket(span)  # type: ignore[assignment]
        until = shift(floor(now, bucket, tz), bucket, 1, tz)
        count = max(1, round(span / _nominal(bucket)))
        since = shift(until, bucket, -count, tz)
    n = len(bucket_starts(since, until, bucket, tz)) if bucket in ("day", "week", "month") else None
    count = n if n is not None else round((until - since) / _nominal(bucket))
    if count > MAX_BUCKETS:
        raise PeriodError(
            "granularity", f"{bucket} buckets over this period make {count} points; at most {MAX_BUCKETS}"
        )
    return Period(
        since=since,
        until=until,
        bucket=bucket,
        tz=tz,
        prev_since=shift(since, bucket, -count, tz),
        label=label,
    )


def last(now: datetime, bucket: Bucket, n: int, tz: ZoneInfo) -> Period:
    """The last `n` buckets in `tz`, the current one included."""
    until = shift(floor(now, bucket, tz), bucket, 1, tz)
    since = shift(until, bucket, -n, tz)
    return Period(since, until, bucket, tz, shift(since, bucket, -n, tz), f"{n} {bucket}s")


def _nominal(bucket: Bucket) -> timedelta:
    return {
        "minute": timedelta(minutes=1),
        "hour": timedelta(hours=1),
        "day": timedelta(days=1),
        "week": timedelta(weeks=1),
        "month": timedelta(days=365 / 12),
    }[bucket]


def source_granularity(bucket: Bucket, tz: ZoneInfo, tenant_tz: ZoneInfo, at: datetime) -> str:
    """The coarsest stored window size (`minute`, `hour`, `day`) whose windows tile `bucket` in `tz`.

    Stored hour and day windows are aligned in the tenant's zone: day windows serve day, week and
    month buckets only in that zone; hour windows serve any zone whose offset differs by whole
    hours (checked at `at`).
    """
    if bucket == "minute":
        return "minute"
    same_zone = tz.key == tenant_tz.key
    if bucket != "hour" and same_zone:
        return "day"
    a, b = at.astimezone(tz).utcoffset(), at.astimezone(tenant_tz).utcoffset()
    if same_zone or (a is not None and b is not None and (a - b) % timedelta(hours=1) == timedelta()):
        return "hour"
    return "minute"
