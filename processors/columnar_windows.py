"""Window starts of a column of instants, equal to `processors.windows.window_start` for every instant and zone.

Per distinct zone of the batch (few), each row's UTC offset comes from the zone itself (zoneinfo,
the reference's rules, not polars' own time zone database): per distinct UTC day the offset is
sampled every 3 hours over the day and 12 hours either side; a day whose samples all agree has one
offset for all its rows, otherwise each transition is found to the second by bisection. Then, with
`local = ts + offset`:

- minute = ts - (local mod 1 minute), hour = ts - (local mod 1 hour): the wall minute/hour start, at
  the row's own offset. This is `window_start` whenever no transition lies within 2 hours plus the
  size of the change of the row (the wall start then has one reading, with the row's offset);
- day = the UTC instant of local midnight, computed once per distinct (zone, local date) in Python
  exactly as `window_start` does (fold 0: the first midnight; a day without one starts where it does);
- rows within that margin of a transition (the hours around a DST change), and every row of a day
  whose change exceeds 10 hours, take `window_start` itself, row by row: the repeated fall-back hour
  (two hour windows with the same wall time), 30-minute changes (Lord Howe) and midnight changes
  (Havana) are the reference's behaviour by construction.

The per-day offsets are kept (bounded) across batches, so a steady stream pays zoneinfo once per zone and day.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from processors.windows import window_start
from schemas.rollups import GRANULARITIES

__all__ = ["from_us", "window_starts", "zone_column"]

US = 1_000_000
MINUTE_US = 60 * US
HOUR_US = 3600 * US
DAY_US = 86_400 * US
_PAD_US = 12 * HOUR_US
_STEP_US = 3 * HOUR_US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})
_WIDE_CHANGE_US = 10 * HOUR_US
"""Beyond this change of offset (none since 2011), every row of the day is computed by the reference."""

Transition = tuple[int, int, int]
"""(instant (µs since the epoch), offset before, offset after) in µs."""


@lru_cache(maxsize=1 << 16)
def from_us(micros: int) -> datetime:
    """An aware UTC datetime (tzinfo `datetime.UTC`, as `window_start` returns) from µs since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def _offset_us(tz: ZoneInfo, micros: int) -> int:
    offset = from_us(micros).astimezone(tz).utcoffset()
    assert offset is not None
    return (offset.days * 86_400 + offset.seconds) * US + offset.microseconds


@lru_cache(maxsize=1 << 14)
def _day(tz: ZoneInfo, day: int) -> tuple[int, tuple[Transition, ...]]:
    """(offset at the start of the sampled span, transitions within it) around UTC day `day`."""
    start = day * DAY_US - _PAD_US
    samples = [(t, _offset_us(tz, t)) for t in range(start, (day + 1) * DAY_US + _PAD_US + 1, _STEP_US)]
    transitions = []
    for (lo, before), (hi, after) in itertools.pairwise(samples):
        if before != after:
            lo_s, hi_s = lo // US, hi // US  # offset(lo) == before, offset(hi) != before: bisect to the second
            while hi_s - lo_s > 1:
                mid = (lo_s + hi_s) // 2
                if _offset_us(tz, mid * US) == before:
                    lo_s = mid
                else:
                    hi_s = mid
            transitions.append((hi_s * US, before, after))
    return samples[0][1], tuple(transitions)


@lru_cache(maxsize=1 << 16)
def _midnight(tz: ZoneInfo, local_day: int) -> int:
    """µs since the epoch of the start of the local day `local_day` (days since 1970-01-01) in `tz`."""
    date = (_EPOCH + timedelta(days=local_day)).date()
    start = datetime(date.year, date.month, date.day, tzinfo=tz).astimezone(UTC)  # fold 0, as window_start
    return (start - _EPOCH) // timedelta(microseconds=1)


def _zone_starts(t: np.ndarray, tz: ZoneInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(minute, hour, day) starts (µs) of the instants `t` (µs, int64) in `tz`."""
    days, inverse = np.unique(t // DAY_US, return_inverse=True)
    offsets = np.empty(len(t), dtype=np.int64)
    exact = np.zeros(len(t), dtype=bool)  # rows computed by window_start itself
    for i, day in enumerate(days.tolist()):
        offset, transitions = _day(tz, day)
        rows = inverse == i
        if not transitions:
            offsets[rows] = offset
            continue
        instants = t[rows]
        row_offsets = np.full(len(instants), offset, dtype=np.int64)
        near = np.zeros(len(instants), dtype=bool)
        for at, before, after in transitions:
            row_offsets[instants >= at] = after
            change = abs(after - before)
            margin = 2 * HOUR_US + change
            near |= (instants >= at - margin) & (instants < at + margin)
            if change > _WIDE_CHANGE_US:
                near[:] = True
        offsets[rows] = row_offsets
        exact[rows] = near
    local = t + offsets
    minute = t - local % MINUTE_US
    hour = t - local % HOUR_US
    local_days, day_inverse = np.unique(local // DAY_US, return_inverse=True)
    day = np.array([_midnight(tz, d) for d in local_days.tolist()], dtype=np.int64)[day_inverse]
    for j in np.flatnonzero(exact).tolist():
        ts = from_us(int(t[j]))
        minute[j], hour[j], day[j] = (
            (window_start(ts, g, tz) - _EPOCH) // timedelta(microseconds=1) for g in GRANULARITIES
        )
    return minute, hour, day


def _utc_starts(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return t - t % MINUTE_US, t - t % HOUR_US, t - t % DAY_US


def window_starts(ts: pl.Series, zones: pl.Series | str) -> pl.DataFrame:
    """Columns `minute`, `hour`, `day` (Datetime µs UTC): the window starts of each instant of `ts`
    (Datetime, UTC) in the zone of its row (`zones`: IANA names, one per row, or one name for all),
    each equal to `window_start(ts, granularity, ZoneInfo(zone))`."""
    t = ts.cast(pl.Datetime("us", "UTC")).to_physical().to_numpy()
    if t.dtype != np.int64 or ts.null_count():
        raise ValueError("window_starts: instants must not be null")
    out = [np.empty(len(t), dtype=np.int64) for _ in range(3)]
    names = [zones] if isinstance(zones, str) else zones.unique(maintain_order=True).to_list()
    for name in names:
        rows = slice(None) if isinstance(zones, str) else (zones == name).to_numpy()
        part = t[rows]
        starts = _utc_starts(part) if name in _UTC_NAMES else _zone_starts(part, ZoneInfo(name))
        for column, values in zip(out, starts, strict=True):
            column[rows] = values
    return pl.DataFrame(
        {g: pl.Series(g, column).cast(pl.Datetime("us", "UTC")) for g, column in zip(GRANULARITIES, out, strict=True)}
    )


def zone_column(tenants: pl.Series, zone_of: Callable[[str], ZoneInfo]) -> pl.Series:
    """Each row's zone name, looked up once per distinct tenant (`zone_of`: the worker's tenant -> zone)."""
    distinct = tenants.unique(maintain_order=True)
    names = [zone_of(tenant).key for tenant in distinct.to_list()]
    return tenants.replace_strict(distinct, pl.Series(names, dtype=pl.String), return_dtype=pl.String).alias("zone")
