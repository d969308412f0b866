"""A batch's rollups as columns: every key's partial aggregate from one `group_by`, derived from the registry.

The row path (`processors.windows` `keys_of` + `Agg.add_row`, `RangeBook.add`) stays the reference;
this computes the same thing for a whole batch frame (`aggregate`) and turns it into one partial
`Agg` per key (`partials`), which `RangeBook.add_partials` merges into the open range's state: the
range's aggregates, versions and touched keys come out exactly as if the events were added one by one
(tests/unit/test_columnar_rollups.py checks it on random batches of every event type).

The frame: one row per counted event, in any order, with
- the event columns the registry's columnar sources read (as polars reads the events table's Arrow
  batch, `schemas.arrow`: strings, unsigned integers, Float64, Decimal(38, 12), Map),
  `tenant_id`, `type`, `domain` and `source_partition`;
- `ts` (Datetime, UTC): the event time; `arrival` (Datetime, UTC, may be null) and `late` (Boolean):
  a late event counts under the registry's late type in the window of its arrival (`late_column`);
- `zone` (String): the IANA zone of the row's tenant (`columnar_windows.zone_column`);
- `range_id` and `position` (UInt64, increasing within a partition): a key's version is the greatest
  position of its events in the batch.

Merges, by measure kind: sum, max, min in polars (integers and Decimal sums are exact whatever the
order); `last` by (time, value), the greatest; union: the distinct elements per key (the registry's
`each` maps distinct ids to their hashes once per batch); sum_array: one sum per index. Float sums
and sum_map (custom measures) are kept as the key's contributions in event order (`Ordered`): the
row path adds floats one event at a time, and float addition is not associative, so the merge
replays them in order onto the range's value, bit for bit (zero float contributions are skipped:
x + 0.0 == x; map entries are all kept, a 0.0 entry creates its name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

from processors.columnar_windows import from_us, window_starts
from processors.windows import AGGREGATION, Agg, Aggregation, Key
from schemas.arrow import TABLE_SCHEMAS, arrow_table
from schemas.registry import SLOTS, Columnar, Measure
from schemas.rollups import GRANULARITIES, ROLLUPS_TABLE

__all__ = ["ColumnarAggregation", "Ordered", "Partial", "aggregate", "late_column", "partials"]

Partial = tuple[Key, Agg, int, bool]
"""(key, the batch's partial aggregate of the key, version, ordered): `ordered` when the partial holds
`Ordered` contributions, so it must be merged into an aggregate (a fresh one for a new key), not kept."""

GROUP = ("source_partition", "range_id", "tenant_id", "granularity", "window_start", "key_type", *SLOTS, "domain")
"""The columns of a partial's group: (partition, range) then the rollup key, in `Key` order."""


class Ordered(list[Any]):
    """One key's contributions to a float sum or a sum_map measure in the batch, in event order.

    Merging it into an aggregate's value adds them one at a time, as the row path does: `value + o`
    (float sums, `Agg.merge`'s `operator.add`) and `.items()` (sum_map, `_map_add`)."""

    __slots__ = ()

    def __radd__(self, other: float) -> float:
        for value in self:
            other = other + value
        return other

    def items(self) -> Iterator[tuple[str, float]]:
        for entries in self:
            yield from entries.items()


def late_column(ts: pl.Expr, arrival: pl.Expr, lateness: timedelta) -> pl.Expr:
    """Whether an event is too late for its windows: arrival - ts > lateness (as the worker decides per event)."""
    return ((arrival - ts) > pl.lit(lateness)).fill_null(False).alias("late")


def _source(columnar: Columnar) -> pl.Expr:
    expr = columnar.expr
    return pl.col(expr) if isinstance(expr, str) else expr(pl)


def _each(series: pl.Series, columnar: Columnar) -> pl.Series:
    """`each` of every non-null value (computed once per distinct value, by `each_many` if declared)."""
    each = columnar.each
    assert each is not None
    if series.dtype.is_nested() or series.dtype == pl.Object:  # maps: row by row (custom events only)
        return pl.Series(series.name, [None if v is None else each(v) for v in series.to_list()])
    distinct = series.drop_nulls().unique()
    if not len(distinct):
        return pl.Series(series.name, [None] * len(series), dtype=pl.String)
    values = distinct.to_list()
    mapped = pl.Series(columnar.each_many(values) if columnar.each_many else [each(v) for v in values])
    return series.replace_strict(distinct, mapped, default=None)


_SUM_TYPES: dict[str, Any] = {"UInt64": pl.UInt64, "Int64": pl.Int64}
"""Integer measure types and the polars type their sums are computed in (sources may be narrower)."""


def _is_float(m: Measure) -> bool:
    return m.merge == "sum" and m.ch_type.startswith("Float")


class ColumnarAggregation:
    """The columnar form of an `Aggregation` (its registry's columnar sources)."""

    def __init__(self, aggregation: Aggregation = AGGREGATION) -> None:
        self.aggregation = aggregation
        registry = aggregation.registry
        self._late_type = registry.late
        gated: list[tuple[str, pl.Expr, Columnar]] = []  # (column, gate, source)
        slots: list[list[str]] = [[] for _ in SLOTS]
        late_slots: list[str | None] = [None] * len(SLOTS)
        for type_, rollup in registry.types.items():
            gate = pl.col("late") if type_ == registry.late else (pl.col("type") == type_) & ~pl.col("late")
            for s, dimension in enumerate(rollup.dimensions):
                column = f"_{type_}_{SLOTS[s]}"
                gated.append((column, gate, dimension.column()))
                (slots[s].append(column) if type_ != registry.late else late_slots.__setitem__(s, column))
        self._measures: list[tuple[int, Measure, str]] = []
        for i, m in enumerate(registry.measures):
            gate = pl.lit(True) if m.types is None else pl.col("type").is_in(sorted(m.types))
            gated.append((f"_m{i}", gate, m.column()))
            self._measures.append((i, m, f"_m{i}"))
        self._gated = gated
        self._slots = [
            pl.coalesce(*(pl.col(c) for c in columns + ([late] if late else [])), pl.lit("")).alias(slot)
            for slot, columns, late in zip(SLOTS, slots, late_slots, strict=True)
        ]
        self._aggs = [agg for _, m, c in self._measures for agg in self._agg(m, c)]

    @staticmethod
    def _agg(m: Measure, c: str) -> list[pl.Expr]:
        column = pl.col(c)
        if _is_float(m):
            return [column.filter(column != 0)]
        if m.merge == "sum" and m.ch_type in _SUM_TYPES:  # summed in the measure's width: a UInt32 column wraps
            return [column.cast(_SUM_TYPES[m.ch_type]).sum()]
        if m.merge in ("sum", "max", "min"):
            return [getattr(column, m.merge)()]
        if m.merge == "union":
            return [column.drop_nulls().unique()]
        if m.merge == "sum_map":
            return [column.drop_nulls()]
        if m.merge == "sum_array":
            amounts = pl.col(f"{c}_a").cast(pl.UInt64)
            return [amounts.filter(pl.col(f"{c}_i") == b).sum().alias(f"{c}_{b}") for b in range(m.size)]
        # last: the (time, value) with the greatest time, then value; nulls sort first
        order = [pl.col(f"{c}_t"), pl.col(f"{c}_v")]
        return [pl.col(f"{c}_t").sort_by(order).last(), pl.col(f"{c}_v").sort_by(order).last()]

    def _inputs(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The frame with every source column (gated: null where it does not apply), `each` applied."""
        frame = frame.with_columns(pl.col("late").fill_null(False))
        frame = frame.with_columns(
            pl.when(gate).then(_source(columnar)).alias(column) for column, gate, columnar in self._gated
        )
        mapped = [_each(frame[column], columnar).alias(column) for column, _, columnar in self._gated if columnar.each]
        frame = frame.with_columns(mapped) if mapped else frame
        split = []
        for _, m, c in self._measures:
            if m.merge == "sum_array":
                value = pl.col(c)
                is_struct = isinstance(frame.schema[c], pl.Struct)
                split += [
                    (value.struct.field("index") if is_struct else value).alias(f"{c}_i"),
                    (value.struct.field("amount") if is_struct else pl.lit(1, pl.UInt64)).alias(f"{c}_a"),
                ]
            elif m.merge == "last":
                valued = pl.col(c).struct.field("value").is_not_null()
                split += [
                    pl.when(valued).then(pl.col(c).struct.field("time")).alias(f"{c}_t"),
                    pl.when(valued).then(pl.col(c).struct.field("value")).alias(f"{c}_v"),
                ]
        return frame.with_columns(split) if split else frame

    def aggregate(self, frame: pl.DataFrame) -> pl.DataFrame:
        """One row per (partition, range, key) of the batch: its measures' partial values and `version`."""
        frame = self._inputs(frame.sort("source_partition", "position", maintain_order=True))
        times = frame.select(pl.when(pl.col("late")).then(pl.col("arrival")).otherwise(pl.col("ts"))).to_series()
        starts = window_starts(times, frame["zone"])
        measures = [c for c in frame.columns if c.startswith("_m")]
        base = frame.select(
            "source_partition",
            "range_id",
            "tenant_id",
            pl.when(pl.col("late")).then(pl.lit(self._late_type)).otherwise(pl.col("type")).alias("key_type"),
            *self._slots,
            "domain",
            "position",
            *measures,
        ).with_columns(starts)
        long = pl.concat(
            [
                base.with_columns(granularity=pl.lit(g), window_start=pl.col(g).dt.epoch("us")).drop(GRANULARITIES)
                for g in GRANULARITIES
            ]
        )
        return long.group_by(GROUP, maintain_order=True).agg(pl.col("position").max().alias("version"), *self._aggs)

    def partials(self, grouped: pl.DataFrame) -> dict[tuple[int, int], list[Partial]]:
        """(partition, range_id) -> its keys' partials (one Python step per key), from `aggregate`'s frame."""
        n = grouped.height
        ordered = [False] * n
        values: list[list[Any]] = []
        for _, m, c in self._measures:
            values.append(self._values(m, c, grouped, ordered))
        keys = zip(*(grouped[c].to_list() for c in GROUP[2:]), strict=True)
        aggregation = self.aggregation
        out: dict[tuple[int, int], list[Partial]] = {}
        new = Agg.__new__
        for p, r, (tenant, g, start, type_, d1, d2, d3, domain), version, flag, row in zip(
            grouped["source_partition"].to_list(),
            grouped["range_id"].to_list(),
            keys,
            grouped["version"].to_list(),
            ordered,
            zip(*values, strict=True),
            strict=True,
        ):
            agg = new(Agg)
            agg.aggregation = aggregation
            agg.values = list(row)
            key: Key = (tenant, g, from_us(start), type_, d1, d2, d3, domain)
            bucket = out.get((p, r))
            if bucket is None:
                bucket = out[(p, r)] = []
            bucket.append((key, agg, version, flag))
        return out

    @staticmethod
    def _values(m: Measure, c: str, grouped: pl.DataFrame, ordered: list[bool]) -> list[Any]:
        """Every key's partial value of measure `m` (an `Agg` value, or `Ordered` contributions)."""
        if _is_float(m) or m.merge == "sum_map":
            empty: Callable[[], Any] = float if _is_float(m) else dict
            out = []
            for j, contributions in enumerate(grouped[c].to_list()):
                if contributions:
                    ordered[j] = True
                    out.append(Ordered(contributions))
                else:
                    out.append(empty())
            return out
        if m.merge == "union":
            return [set(elements) for elements in grouped[c].to_list()]
        if m.merge == "sum_array":
            return [
                list(counts) for counts in zip(*(grouped[f"{c}_{b}"].to_list() for b in range(m.size)), strict=True)
            ]
        if m.merge == "last":
            times, latest = grouped[f"{c}_t"].to_list(), grouped[f"{c}_v"].to_list()
            return [None if v is None else (t, v) for t, v in zip(times, latest, strict=True)]
        return grouped[c].to_list()

    def complete(self) -> bool:
        """Whether `rows` can write every measure of the registry (not `last`: stored as a tuple)."""
        return all(m.merge != "last" for _, m, _ in self._measures)

    def rows(self, grouped: pl.DataFrame) -> pa.Table:
        """`aggregate`'s rows as the rollups table's Arrow batch, each partial taken as a whole range's
        aggregate (a batch record's own range: `processors.ranges`), as `rollup_row` writes it: float sums
        and custom measures added in event order from zero, distinct hashes unique, buckets as one array."""
        schema = TABLE_SCHEMAS[ROLLUPS_TABLE]
        columns: dict[str, Any] = {
            "tenant_id": grouped["tenant_id"],
            "granularity": grouped["granularity"],
            "window_start": grouped["window_start"] // 1_000_000,  # µs -> DateTime seconds
            "type": grouped["key_type"],
            **{slot: grouped[slot] for slot in SLOTS},
            "domain": grouped["domain"],
            "source_partition": grouped["source_partition"],
            "range_id": grouped["range_id"],
            "version": grouped["version"],
        }
        for _, m, c in self._measures:
            column = grouped[c] if c in grouped.columns else None
            if _is_float(m):
                assert column is not None
                columns[m.name] = column.list.eval(pl.element().cum_sum()).list.last().fill_null(0.0)
            elif m.merge == "sum_array":
                columns[m.name] = grouped.select(pl.concat_list(f"{c}_{b}" for b in range(m.size))).to_series()
            elif m.merge == "sum_map":
                columns[m.name] = _map_sums(grouped, c)
            else:
                assert column is not None
                columns[m.name] = column
        return arrow_table(schema, {k: v if isinstance(v, pa.Array) else v.to_arrow() for k, v in columns.items()})


def _map_sums(grouped: pl.DataFrame, c: str) -> pa.Array:
    """Per row, the sums of a custom-measure column's contributions (lists of maps) as an Arrow map:
    each name's values added in event order (`cum_sum`), names in order of first appearance."""
    kind = pa.map_(pa.string(), pa.float64())
    if not grouped.select(pl.col(c).list.len().sum()).item():  # no custom events in the batch: empty maps
        empty = pa.array([], pa.string()), pa.array([], pa.float64())
        return pa.MapArray.from_arrays(pa.array([0] * (grouped.height + 1), pa.int32()), *empty, type=kind)
    entries = (
        grouped.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"), pl.col(c))
        .explode(c)
        .drop_nulls(c)
        .with_columns(pl.col(c).map.entries())
        .explode(c)
        .drop_nulls(c)
        .unnest(c)
    )
    sums = entries.group_by("_row", "key", maintain_order=True).agg(pl.col("value").cum_sum().last())
    per_row = sums.group_by("_row", maintain_order=True).agg(pl.struct("key", "value").alias(c))
    pairs = (
        pl.DataFrame({"_row": pl.int_range(grouped.height, dtype=pl.UInt32, eager=True)})
        .join(per_row, on="_row", how="left", maintain_order="left")
        .get_column(c)
        .to_arrow()
    )
    pairs = pairs.fill_null(pa.scalar([], pairs.type)) if pairs.null_count else pairs
    return pa.MapArray.from_arrays(
        pairs.offsets.cast(pa.int32()),
        pairs.values.field("key").cast(pa.string()),
        pairs.values.field("value").cast(pa.float64()),
        type=kind,
    )


_DEFAULT: dict[int, ColumnarAggregation] = {}


def _of(aggregation: Aggregation) -> ColumnarAggregation:
    columnar = _DEFAULT.get(id(aggregation))
    if columnar is None or columnar.aggregation is not aggregation:
        columnar = _DEFAULT[id(aggregation)] = ColumnarAggregation(aggregation)
    return columnar


def aggregate(frame: pl.DataFrame, aggregation: Aggregation = AGGREGATION) -> pl.DataFrame:
    """One row per (partition, range, key) of the batch `frame`: partial measures and `version`."""
    return _of(aggregation).aggregate(frame)


def partials(grouped: pl.DataFrame, aggregation: Aggregation = AGGREGATION) -> dict[tuple[int, int], list[Partial]]:
    """(partition, range_id) -> the partials of its keys, ready for `RangeBook.add_partials`."""
    return _of(aggregation).partials(grouped)
