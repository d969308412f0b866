"""The shapes the rollup registry is made of (`schemas.registry` declares the registry itself):
dimensions, event rollups, measures, their merges and read SQL, and the `Registry` that derives
their lookups."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from types import ModuleType
from typing import Any, Final, Literal

Row = Mapping[str, Any]
Merge = Literal["sum", "max", "min", "last", "union", "sum_array", "sum_map"]
"""How two partial aggregates of a measure combine: sum; max; min; the value of the latest time
(`last`, values are (time, value)); set union (distinct counts); element-wise sum of arrays; sum per
map key. Every merge is associative and commutative, so any split of the events adds up the same."""

ColumnExpr = Callable[[ModuleType], Any]
"""A columnar source: (the polars module) -> a polars expression over a batch frame of event rows
(the events table's columns, `schemas.arrow`). Passing the module keeps polars out of this module's imports."""


@dataclass(frozen=True)
class Columnar:
    """How the columnar path (`processors.columnar_rollups`) reads a dimension or a measure from a batch frame.

    It must agree with the row source on every event (tests/unit/test_columnar_rollups.py checks it):
    `expr` (a column name or a `ColumnExpr`) gives each row's value, null for "adds nothing"; `each`, if
    set, is a pure function applied to each distinct value of `expr` in the batch, in Python (once per
    distinct value: hashes, search keys, URL-encoded maps), null values staying null; `each_many`, if
    set, is `each` over a list of values at once (the same results, without a call per value)."""

    expr: str | ColumnExpr
    each: Callable[[Any], Any] | None = None
    each_many: Callable[[list[Any]], list[Any]] | None = None


SLOTS: Final = ("d1", "d2", "d3")
"""The dimension columns of the rollups table, in key order."""

LATENCY_BOUNDS_MS: Final = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 20_000, 60_000)
"""Upper bounds (exclusive) of the latency buckets; one more bucket holds everything slower."""

_READ_SQL: Final[dict[str, str]] = {
    "sum": "sum({c})",
    "max": "max({c})",
    "min": "min({c})",
    "last": "argMax({c}.2, {c}.1)",
    "union": "uniqExactArray({c})",
    "sum_array": "sumForEach({c})",
    "sum_map": "sumMap({c})",
}
"""Default SQL aggregate reading a measure, by merge (`{c}`: the qualified column)."""

_COMBINE_SQL: Final[dict[str, str]] = {"sum": "sum({c})", "sum_array": "sumForEach({c})", "sum_map": "sumMap({c})"}
"""SQL folding stored rows into one value of the column (reconcile); other merges are idempotent."""


@dataclass(frozen=True)
class Dimension:
    """One named dimension of an event type (it occupies the slot of its position)."""

    name: str
    """The column name queries return (`provider`, `model` ...)."""
    source: str | Callable[[Row], str]
    """The event row's field, or a pure function of the row."""
    label: str = ""
    """What it holds, for people (the series view's `dimensions`); the name when empty."""
    columnar: Columnar | None = None
    """The same value on a batch frame (a String column); by default the column named by `source`."""

    def read(self) -> Callable[[Row], str]:
        return itemgetter(self.source) if isinstance(self.source, str) else self.source

    def column(self) -> Columnar:
        """The columnar source (ValueError if a function source declares none)."""
        return _columnar(self.name, self.source, self.columnar)


def _columnar(name: str, source: str | Callable[[Row], Any], columnar: Columnar | None) -> Columnar:
    if columnar is not None:
        return columnar
    if isinstance(source, str):
        return Columnar(source)
    raise ValueError(f"{name}: a function source needs its columnar form (`columnar=Columnar(...)`)")


@dataclass(frozen=True)
class EventRollup:
    """How events of one type enter the rollups: their dimensions, in slot order (at most three)."""

    type: str
    dimensions: tuple[Dimension, ...] = ()
    doc: str = ""

    def __post_init__(self) -> None:
        if len(self.dimensions) > len(SLOTS):
            raise ValueError(f"{self.type}: at most {len(SLOTS)} dimensions")

    def slot(self, name: str) -> str | None:
        """The column (`d1`..`d3`) holding dimension `name`, None if the type has no such dimension."""
        return next((s for s, d in zip(SLOTS, self.dimensions, strict=False) if d.name == name), None)

    def labels(self) -> tuple[str, str, str]:
        padded = [d.label or d.name for d in self.dimensions] + [""] * (len(SLOTS) - len(self.dimensions))
        return padded[0], padded[1], padded[2]


@dataclass(frozen=True)
class Measure:
    """One measure column of the rollups table."""

    name: str
    ch_type: str
    merge: Merge
    source: str | Callable[[Row], Any]
    """What one event contributes: a row field or a pure function; None adds nothing. By merge: a
    number (sum, max, min), (time, value) (last), one element (union), (index, amount) (sum_array),
    a name -> amount mapping (sum_map)."""
    types: frozenset[str] | None = None
    """The event types it applies to; None: every type."""
    doc: str = ""
    size: int = 0
    """Length of a `sum_array` measure's array."""
    read_sql: str = ""
    """SQL aggregate reading it (`{c}`: the column); by default from its merge."""
    columnar: Columnar | None = None
    """The same contribution on a batch frame, null for none (by default the column named by `source`).
    By merge: a number (sum, max, min), a struct {time, value} (last), one element (union), a bucket
    index or a struct {index, amount} (sum_array), a Map column (sum_map)."""

    def __post_init__(self) -> None:
        if self.merge == "sum_array" and self.size < 1:
            raise ValueError(f"{self.name}: a sum_array measure needs its size")

    @property
    def read(self) -> str:
        return self.read_sql or _READ_SQL[self.merge]

    def sql(self, column: str) -> str:
        """The SQL aggregate reading this measure from `column` (e.g. `r.cost_usd`)."""
        return self.read.replace("{c}", column)

    def combine_sql(self, column: str) -> str | None:
        """SQL folding stored rows into one value of the column, None for idempotent merges."""
        template = _COMBINE_SQL.get(self.merge)
        return template.replace("{c}", column) if template else None

    def value(self) -> Callable[[Row], Any]:
        return itemgetter(self.source) if isinstance(self.source, str) else self.source

    def column(self) -> Columnar:
        """The columnar source (ValueError if a function source declares none)."""
        return _columnar(self.name, self.source, self.columnar)

    def applies_to(self, type_: str) -> bool:
        return self.types is None or type_ in self.types


@dataclass(frozen=True)
class Registry:
    """The event types and measures of the rollups (`REGISTRY`; tests build toy copies)."""

    types: Mapping[str, EventRollup]
    measures: tuple[Measure, ...]
    late: str = "late"
    """The type that counts events too late for the stream (its dimension: the event's type)."""

    def __post_init__(self) -> None:
        names = [m.name for m in self.measures]
        if len(set(names)) != len(names):
            raise ValueError("measure names must be unique")

    def with_measure(self, measure: Measure) -> Registry:
        """A copy with one more measure."""
        return Registry(self.types, (*self.measures, measure), self.late)

    def measure(self, name: str) -> Measure:
        return self.by_name[name]

    @cached_property
    def by_name(self) -> dict[str, Measure]:
        return {m.name: m for m in self.measures}

    @cached_property
    def dimension_names(self) -> tuple[str, ...]:
        """Every dimension name, in first-seen order."""
        return tuple(dict.fromkeys(d.name for t in self.types.values() for d in t.dimensions))

    def slots_of(self, name: str, types: Sequence[str] = ()) -> dict[str, tuple[str, ...]]:
        """slot -> the types (of `types`, or all) whose dimension `name` is in that slot."""
        out: dict[str, list[str]] = {}
        for t in types or tuple(self.types):
            slot = self.types[t].slot(name) if t in self.types else None
            if slot is not None:
                out.setdefault(slot, []).append(t)
        return {s: tuple(ts) for s, ts in out.items()}

    def dimension_sql(self, name: str, types: Sequence[str] = (), table: str = "r") -> str:
        """SQL reading dimension `name` of the rows of `types` (all when empty) from the slot columns.

        When every one of `types` keeps it in one slot: that column; otherwise the slot of each
        row's type ('' for types without it). ValueError if no type has it.
        """
        slots = self.slots_of(name, types)
        if not slots:
            raise ValueError(f"no event type has a dimension {name!r}")
        if types and len(slots) == 1 and len(next(iter(slots.values()))) == len(set(types)):
            return f"{table}.{next(iter(slots))}"
        arms = ", ".join(
            f"{table}.type IN ({', '.join(repr(t) for t in ts)}), {table}.{slot}" for slot, ts in slots.items()
        )
        return f"multiIf({arms}, '')"
