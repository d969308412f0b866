"""Tumbling windows and their aggregates (pure: no I/O).

Every stored event adds to three windows — its minute, hour and day in the tenant's time zone —
under the key (tenant, granularity, window start, type, d1, d2, d3, domain), the dimension slots
filled as the registry declares for the type (`schemas.registry`). `Agg` is what one key
accumulates: one value per registry measure; `merge` is associative and commutative, so partial
aggregates of any split of the events add up to the same totals. `Aggregation` derives everything
from a registry (`REGISTRY` by default; tests pass toy copies): an event's keys, what it adds
(precomputed per type: the measures that apply, their sources and merge functions), the stored row.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from schemas.registry import REGISTRY, SLOTS, Measure, Registry, latency_bucket, search_key
from schemas.rollups import GRANULARITIES

Row = dict[str, Any]
Key = tuple[str, str, datetime, str, str, str, str, str]
"""(tenant_id, granularity, window_start (UTC), type, d1, d2, d3, domain)"""

_MONEY = Context(prec=60)
"""Sums of Decimal(38, 12) amounts need more than the default 28 significant digits."""
UTC_ZONE = ZoneInfo("UTC")
"""The zone of tenants without one (`ZoneInfo` caches instances: `ZoneInfo("UTC") is UTC_ZONE`)."""


def window_start(ts: datetime, granularity: str, tz: ZoneInfo) -> datetime:
    """Start (as a UTC instant) of the `granularity` window holding `ts`, windows aligned in `tz`.

    Day windows run from local midnight to local midnight (23 or 25 hours across DST changes).
    """
    if tz is UTC_ZONE and ts.tzinfo is UTC:  # the common case, without time zone arithmetic
        if granularity == "minute":
            return ts.replace(second=0, microsecond=0)
        if granularity == "hour":
            return ts.replace(minute=0, second=0, microsecond=0)
        if granularity == "day":
            return ts.replace(hour=0, minute=0, second=0, microsecond=0)
    local = ts.astimezone(tz)
    if granularity == "minute":
        start = local.replace(second=0, microsecond=0)
    elif granularity == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
    elif granularity == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        raise ValueError(f"unknown granularity {granularity!r}")
    # `replace` keeps the offset of `local`; rebuild the wall time in `tz` for the right one. Minute and
    # hour windows keep `fold`, so the repeated hour of a DST fall-back is its own window.
    fold = local.fold if granularity != "day" else 0
    wall = datetime(start.year, start.month, start.day, start.hour, start.minute, tzinfo=tz, fold=fold)
    return wall.astimezone(UTC)


def window_end(start: datetime, granularity: str, tz: ZoneInfo) -> datetime:
    """End (exclusive, UTC) of the window starting at `start`."""
    if granularity == "minute":
        return start + timedelta(minutes=1)
    if granularity == "hour":
        return start + timedelta(hours=1)
    local = start.astimezone(tz)
    next_day = (local.replace(tzinfo=None) + timedelta(days=1)).replace(hour=0, minute=0)
    return next_day.replace(tzinfo=tz).astimezone(UTC)


Op = Callable[[Any, Any], Any]

__all__ = [
    "UTC_ZONE", "Agg", "Aggregation", "Key", "Row", "dimensions", "keys_of", "latency_bucket", "rollup_row",
    "search_key", "window_end", "window_start",
]  # fmt: skip


def _set_add(s: set[Any], v: Any) -> set[Any]:
    s.add(v)
    return s


def _array_add(a: list[int], v: tuple[int, int]) -> list[int]:
    a[v[0]] += v[1]
    return a


def _array_sum(a: list[Any], b: list[Any]) -> list[Any]:
    return [x + y for x, y in zip(a, b, strict=True)]


def _map_add(a: dict[str, float], v: Mapping[str, float]) -> dict[str, float]:
    for name, value in v.items():
        a[name] = a.get(name, 0.0) + value
    return a


def _extreme(pick: Callable[[Any, Any], Any]) -> Op:
    return lambda a, b: b if a is None else a if b is None else pick(a, b)


def _later(a: Any, b: Any) -> Any:
    """The (time, value) with the later time (ties: the larger value, so the merge stays commutative)."""
    if a is None or a[1] is None:
        return b if b is not None and (a is None or b[0] >= a[0]) else a
    if b is None or b[1] is None:
        return a
    return b if (b[0], b[1]) > (a[0], a[1]) else a


def _zero(m: Measure) -> Callable[[], Any]:
    """A factory of the measure's empty value."""
    if m.merge == "union":
        return set
    if m.merge == "sum_array":
        return lambda: [0] * m.size
    if m.merge == "sum_map":
        return dict
    if m.merge == "sum":
        value: Any = Decimal(0) if m.ch_type.startswith("Decimal") else 0.0 if m.ch_type.startswith("Float") else 0
        return lambda: value
    return lambda: None  # max, min, last: nothing yet (stored as NULL)


def _ops(m: Measure) -> tuple[Op, Op]:
    """(add one event's contribution, combine two partial values) of a measure."""
    if m.merge == "sum":
        add: Op = _MONEY.add if m.ch_type.startswith("Decimal") else operator.add
        return add, add
    if m.merge == "union":
        return _set_add, operator.ior
    if m.merge == "sum_array":
        return _array_add, _array_sum
    if m.merge == "sum_map":
        return _map_add, _map_add
    if m.merge == "last":
        return _later, _later
    pick = _extreme(max if m.merge == "max" else min)
    return pick, pick


def _export(m: Measure) -> Callable[[Any], Any] | None:
    """How a value is written to the rollups table (None: as it is)."""
    return {"union": list, "sum_array": list, "sum_map": dict}.get(m.merge)


Plan = tuple[tuple[int, Callable[[Mapping[str, Any]], Any], Op], ...]


class Aggregation:
    """The worker's aggregation, derived from a registry (`REGISTRY` by default)."""

    def __init__(self, registry: Registry = REGISTRY) -> None:
        self.registry = registry
        measures = registry.measures
        self.names = tuple(m.name for m in measures)
        self.index = {name: i for i, name in enumerate(self.names)}
        zeros = [_zero(m) for m in measures]
        self._template = [zero() for zero in zeros]
        self._fresh = tuple((i, zero) for i, (zero, m) in enumerate(zip(zeros, measures, strict=True)) if _export(m))
        ops = [_ops(m) for m in measures]
        self._add = tuple(add for add, _ in ops)
        self._combine = tuple((i, combine) for i, (_, combine) in enumerate(ops))
        self._sources = tuple(m.value() for m in measures)
        self._exports = tuple((m.name, i, _export(m)) for i, m in enumerate(measures))
        self._plans: dict[str, Plan] = {}
        self._dims: dict[str, Callable[[Mapping[str, Any]], tuple[str, str, str]]] = {}
        self._last: tuple[Mapping[str, Any] | None, tuple[tuple[int, Any, Op], ...]] = (None, ())

    def empty(self) -> list[Any]:
        """Every measure's empty value (fresh sets, arrays and maps; shared immutable zeros)."""
        values = self._template.copy()
        for i, zero in self._fresh:
            values[i] = zero()
        return values

    def plan(self, type_: str) -> Plan:
        """(index, source, add) of every measure that applies to events of `type_`."""
        plan = self._plans.get(type_)
        if plan is None:
            plan = self._plans[type_] = tuple(
                (i, self._sources[i], self._add[i]) for i, m in enumerate(self.registry.measures) if m.applies_to(type_)
            )
        return plan

    def combine(self, into: list[Any], other: list[Any]) -> None:
        for i, combine in self._combine:
            into[i] = combine(into[i], other[i])

    def dimensions(self, row: Mapping[str, Any], type_: str | None = None) -> tuple[str, str, str]:
        """(d1, d2, d3) of the row as `type_` (default: its own type) declares them."""
        kind = type_ or row["type"]
        read = self._dims.get(kind)
        if read is None:
            read = self._dims[kind] = self._dimension_reader(kind)
        return read(row)

    def _dimension_reader(self, kind: str) -> Callable[[Mapping[str, Any]], tuple[str, str, str]]:
        rollup = self.registry.types.get(kind)
        dims = rollup.dimensions if rollup else ()
        pad = ("",) * (len(SLOTS) - len(dims))
        fields = [d.source for d in dims]
        if len(fields) > 1 and all(isinstance(f, str) for f in fields):  # plain fields: one C-level getter
            get = operator.itemgetter(*fields)
            return lambda r: (*get(r), *pad)  # type: ignore[return-value]
        readers = tuple(d.read() for d in dims)
        return lambda r: (*(f(r) for f in readers), *pad)  # type: ignore[return-value]

    def contribution(self, row: Mapping[str, Any]) -> tuple[tuple[int, Any, Op], ...]:
        """What one event adds: (measure index, value, add) of each measure it contributes to.

        The last row's contribution is kept (by identity: rows are not changed once built), so the
        three keys of an event (minute, hour, day) compute it once."""
        last = self._last
        if last[0] is row:
            return last[1]
        out = []
        for i, source, add in self.plan(row["type"]):
            value = source(row)
            if value is not None:
                out.append((i, value, add))
        contribution = tuple(out)
        self._last = (row, contribution)
        return contribution

    def keys_of(self, row: Mapping[str, Any], ts: datetime, tz: ZoneInfo, kind: str | None = None) -> list[Key]:
        """The rollup keys (one per granularity) an event adds to; `kind` overrides the type ('late')."""
        d1, d2, d3 = self.dimensions(row, kind)
        tenant, domain, type_ = row["tenant_id"], row["domain"], kind or row["type"]
        return [(tenant, g, window_start(ts, g, tz), type_, d1, d2, d3, domain) for g in GRANULARITIES]

    def rollup_row(self, key: Key, values: list[Any], source_partition: int, range_id: int, version: int) -> Row:
        """The rollups-table row of one key's values over one range (keys: the table's columns)."""
        row: Row = dict(zip(_KEY_NAMES, key, strict=True))
        row["window_start"] = _ch_seconds(key[2])
        row["source_partition"] = source_partition
        row["range_id"] = range_id
        for name, i, export in self._exports:
            row[name] = values[i] if export is None else export(values[i])
        row["version"] = version
        return row

    def rollup_columns(self, entries: list[tuple[Key, list[Any], int, int, int]]) -> dict[str, list[Any]]:
        """The rollups-table columns of (key, values, partition, range_id, version) entries, for an Arrow
        batch (`schemas.arrow.arrow_table`): what `rollup_row` writes, window starts as datetimes."""
        columns: dict[str, list[Any]] = {name: [] for name in _KEY_NAMES}
        for i, name in enumerate(_KEY_NAMES):
            columns[name] = [entry[0][i] for entry in entries]
        columns["source_partition"] = [entry[2] for entry in entries]
        columns["range_id"] = [entry[3] for entry in entries]
        for name, i, export in self._exports:
            values = [entry[1][i] for entry in entries]
            columns[name] = values if export is None else [export(v) for v in values]
        columns["version"] = [entry[4] for entry in entries]
        return columns


_KEY_NAMES = ("tenant_id", "granularity", "window_start", "type", *SLOTS, "domain")
AGGREGATION = Aggregation()
"""The aggregation of the registry (`schemas.registry.REGISTRY`)."""


class Agg:
    """The measures of one rollup key: one value per measure of its aggregation's registry.

    Read a measure as an attribute (`agg.cost_usd`); `Agg(sessions={...})` starts from given values."""

    __slots__ = ("aggregation", "values")

    def __init__(self, aggregation: Aggregation = AGGREGATION, **values: Any) -> None:
        self.aggregation = aggregation
        self.values = aggregation.empty()
        for name, value in values.items():
            self.values[aggregation.index[name]] = value

    def __getattr__(self, name: str) -> Any:
        if name in Agg.__slots__:  # not set yet (copy, unpickling): no measure of that name
            raise AttributeError(name)
        try:
            return self.values[self.aggregation.index[name]]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Agg) and self.aggregation is other.aggregation and self.values == other.values

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Agg({', '.join(f'{n}={v!r}' for n, v in zip(self.aggregation.names, self.values, strict=True))})"

    def __deepcopy__(self, memo: dict[int, Any]) -> Agg:
        copied = Agg(self.aggregation)
        copied.values = copy.deepcopy(self.values, memo)
        return copied

    def merge(self, other: Agg) -> Agg:
        """Add `other` into this aggregate (returns self)."""
        self.aggregation.combine(self.values, other.values)
        return self

    def add_row(self, row: Mapping[str, Any]) -> None:
        """Count one stored event (a warehouse row of `processors.rows`)."""
        values = self.values
        for i, value, add in self.aggregation.contribution(row):
            values[i] = add(values[i], value)


def dimensions(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """(d1, d2, d3) of a row's rollup key (as `schemas.registry.REGISTRY` declares them)."""
    return AGGREGATION.dimensions(row)


def keys_of(row: Mapping[str, Any], ts: datetime, tz: ZoneInfo, kind: str | None = None) -> list[Key]:
    """The rollup keys (one per granularity) an event adds to; `kind` overrides the type ('late')."""
    return AGGREGATION.keys_of(row, ts, tz, kind)


@lru_cache(maxsize=4096)
def _ch_seconds(start: datetime) -> str:
    return start.strftime("%Y-%m-%d %H:%M:%S")


def rollup_row(key: Key, agg: Agg, source_partition: int, range_id: int, version: int) -> Row:
    """The rollups-table row of one key's aggregate over one range (keys: `ROLLUP_COLUMN_NAMES`)."""
    return agg.aggregation.rollup_row(key, agg.values, source_partition, range_id, version)
