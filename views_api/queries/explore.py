"""Explore's SQL over the raw events table, from a query resolved against the vocabulary (pure).

Every name in the SQL comes from our own declarations (`schemas.explore`: stored columns); every value a
tenant sent — a custom dimension's key, a filter value, the top groups — travels as a `{name:Type}`
parameter. A query reads one tenant's events of one type in a time range: the sort key of `events`
(tenant_id, type, ts, ...) bounds what is read. Four statements answer one explore request:

- `groups`: per group of the `group_by` fields, every measure over the period, best first (limit + 1
  rows, to know whether an `other` row exists);
- `other`: every measure over the events of the groups not shown (exact: distinct counts and
  percentiles are computed over those events, not added up from groups);
- `totals`: every measure over the period and over the previous period of the same length;
- `series`: every measure per bucket, per shown group and `other`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from schemas.ddl import ch_datetime64, check_identifier
from schemas.explore import ANY, ExploreField, Resolved, ResolvedFilter, ResolvedMeasure
from views_api.queries.base import Query, raw_table

BUCKET_SQL: Final[dict[str, str]] = {
    "minute": "toUnixTimestamp(toStartOfMinute(ts))",
    "hour": "toUnixTimestamp(toStartOfHour(toTimeZone(ts, {tz:String})))",
    "day": "toUnixTimestamp(toStartOfDay(toTimeZone(ts, {tz:String})))",
    "week": "toUnixTimestamp(toDateTime(toMonday(toTimeZone(ts, {tz:String})), {tz:String}))",
    "month": "toUnixTimestamp(toDateTime(toStartOfMonth(toTimeZone(ts, {tz:String})), {tz:String}))",
}
"""Bucket start (Unix seconds) of an event, buckets aligned in the zone `tz` (weeks start on Monday)."""
_QUANTILES: Final = {"p50": "0.5", "p95": "0.95", "p99": "0.99"}
_SESSION: Final = "if(session_id != '', session_id, attributed_session_id)"
"""A conversion sent with only its attributed session counts for that session."""


@dataclass
class _Params:
    values: dict[str, Any] = field(default_factory=dict)

    def add(self, value: Any, ch_type: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"{{{name}:{ch_type}}}"


def _column(f: ExploreField, params: _Params) -> str:
    column = check_identifier(f.column)
    return column if f.key is None else f"{column}[{params.add(f.key, 'String')}]"


def _present(f: ExploreField, params: _Params) -> str | None:
    """When only some events carry the field (a custom measure): the condition that one does."""
    if f.column == "measures" and f.key is not None:
        return f"mapContains(measures, {params.add(f.key, 'String')})"
    return None


def _number_type(f: ExploreField) -> str:
    return "Decimal(38, 12)" if f.decimal else "Float64"


def filter_sql(f: ResolvedFilter, params: _Params) -> str:
    x = _column(f.field, params)
    if f.field.kind == "dimension":
        if f.op == "contains":
            return f"positionCaseInsensitiveUTF8({x}, {params.add(str(f.values[0]), 'String')}) > 0"
        values = params.add([str(v) for v in f.values], "Array(String)")
        return f"{x} {'NOT IN' if f.op == 'ne' else 'IN'} {values}"
    ch_type = _number_type(f.field)
    cast = [format(v, "f") if f.field.decimal else float(v) for v in f.values]
    present = _present(f.field, params)
    if f.op in ("eq", "ne"):  # one parameter per number: an Array(Decimal) parameter's text is not portable
        listed = ", ".join(params.add(v, ch_type) for v in cast)
        condition = f"{x} {'NOT IN' if f.op == 'ne' else 'IN'} ({listed})"
    else:
        op = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}[f.op]
        condition = f"{x} {op} {params.add(cast[0], ch_type)}"
    return condition if present is None else f"({present} AND {condition})"


def measure_sql(m: ResolvedMeasure, params: _Params) -> str:
    """One aggregate; NULL where no event carries what it reads (never a made-up 0)."""
    if m.agg == "count":
        return "count()"
    if m.agg == "users":
        return "uniqExactIf(end_user_id, end_user_id != '')"
    if m.agg == "sessions":
        return f"uniqExactIf({_SESSION}, {_SESSION} != '')"
    if m.agg == "rate":
        assert m.where is not None
        return f"if(count() = 0, NULL, countIf({filter_sql(m.where, params)}) / count())"
    assert m.field is not None
    x = _column(m.field, params)
    present = _present(m.field, params)
    seen = "count()" if present is None else f"countIf({present})"
    if m.agg == "sum":
        return f"sum({x})" if present is None else f"sumIf({x}, {present})"
    if m.agg in _QUANTILES:
        level = _QUANTILES[m.agg]
        value = f"toFloat64({x})"
        agg = (
            f"quantileExactInclusive({level})({value})"
            if present is None
            else f"quantileExactInclusiveIf({level})({value}, {present})"
        )
    elif m.agg == "last":  # the latest event's value; the id breaks a tie of timestamps
        agg = f"argMax({x}, (ts, event_id))" if present is None else f"argMaxIf({x}, (ts, event_id), {present})"
    else:  # avg, min, max
        agg = f"{m.agg}({x})" if present is None else f"{m.agg}If({x}, {present})"
    return f"if({seen} = 0, NULL, {agg})"


@dataclass(frozen=True)
class Span:
    tenant_id: str
    since: datetime
    until: datetime
    prev_since: datetime
    tz: str
    bucket: str | None
    """Series bucket size; None: totals only."""


class ExploreSql:
    """The statements of one explore request."""

    def __init__(self, database: str, query: Resolved, span: Span) -> None:
        self.query, self.span = query, span
        self.table = raw_table(database)

    def _base(self, params: _Params, since: datetime) -> str:
        q, s = self.query, self.span
        params.values.update(
            tenant_id=s.tenant_id, type=q.event, since=ch_datetime64(since), until=ch_datetime64(s.until)
        )
        parts = [
            "tenant_id = {tenant_id:String}",
            *(["type = {type:String}"] if q.event != ANY else []),
            "ts >= {since:DateTime64(3)}",
            "ts < {until:DateTime64(3)}",
        ]
        if q.name is not None:
            parts.append(f"name = {params.add(q.name, 'String')}")
        parts += [filter_sql(f, params) for f in q.where]
        return " AND ".join(parts)

    def _measures(self, params: _Params) -> list[str]:
        return [f"{measure_sql(m, params)} AS m{i}" for i, m in enumerate(self.query.measures)]

    def _groups(self, params: _Params) -> list[str]:
        return [_column(g, params) for g in self.query.group_by]

    def groups(self) -> Query:
        """Per group, every measure over the period, in the requested order; limit + 1 rows."""
        params = _Params()
        groups = self._groups(params)
        measures = self._measures(params)
        where = self._base(params, self.span.since)
        names = [f"g{i}" for i in range(len(groups))]
        order_name, descending = self.query.order
        labels = [m.label for m in self.query.measures]
        if order_name in labels:
            order = f"m{labels.index(order_name)} {'DESC' if descending else 'ASC'} NULLS LAST"
        else:
            order = f"g{[g.name for g in self.query.group_by].index(order_name)} {'DESC' if descending else 'ASC'}"
        select = ", ".join([*(f"{g} AS {n}" for g, n in zip(groups, names, strict=True)), *measures])
        params.values["limit"] = self.query.limit + 1
        sql = (
            f"SELECT {select} FROM {self.table} FINAL WHERE {where} "
            f"GROUP BY {', '.join(names)} ORDER BY {order}, {', '.join(names)} LIMIT {{limit:UInt32}}"
        )
        return Query(sql, params.values)

    def _in_top(self, top: list[tuple[str, ...]], params: _Params) -> str:
        groups = self._groups(params)
        if len(groups) == 1:
            return f"{groups[0]} IN {params.add([t[0] for t in top], 'Array(String)')}"
        columns = [params.add([t[i] for t in top], "Array(String)") for i in range(len(groups))]
        return f"has(arrayZip({', '.join(columns)}), tuple({', '.join(groups)}))"

    def other(self, top: list[tuple[str, ...]]) -> Query:
        """Every measure over the events of the groups not in `top`."""
        params = _Params()
        measures = self._measures(params)
        where = self._base(params, self.span.since)
        sql = f"SELECT {', '.join(measures)} FROM {self.table} FINAL WHERE {where} AND NOT {self._in_top(top, params)}"
        return Query(sql, params.values)

    def totals(self) -> Query:
        """Every measure over the period (`current` = 1) and the previous period (`current` = 0)."""
        params = _Params()
        measures = self._measures(params)
        where = self._base(params, self.span.prev_since)
        params.values["current_since"] = ch_datetime64(self.span.since)
        sql = (
            f"SELECT ts >= {{current_since:DateTime64(3)}} AS current, {', '.join(measures)} "
            f"FROM {self.table} FINAL WHERE {where} GROUP BY current"
        )
        return Query(sql, params.values)

    def series(self, top: list[tuple[str, ...]], others: bool) -> Query:
        """Every measure per bucket; with groups, per group of `top` and one `other` (when `others`)."""
        assert self.span.bucket is not None
        params = _Params()
        measures = self._measures(params)
        where = self._base(params, self.span.since)
        params.values["tz"] = self.span.tz
        bucket = BUCKET_SQL[self.span.bucket]
        if not self.query.group_by:
            sql = (
                f"SELECT {bucket} AS bucket, {', '.join(measures)} FROM {self.table} FINAL WHERE {where} "
                "GROUP BY bucket ORDER BY bucket"
            )
            return Query(sql, params.values)
        in_top = self._in_top(top, params) if top else "0"
        groups = self._groups(params)
        names = [f"g{i}" for i in range(len(groups))]
        shown = [f"if(in_top, {g}, '') AS {n}" for g, n in zip(groups, names, strict=True)]
        keep = "" if others else " AND in_top"
        sql = (
            f"SELECT {bucket} AS bucket, {in_top} AS in_top, {', '.join(shown)}, {', '.join(measures)} "
            f"FROM {self.table} FINAL WHERE {where}{keep} "
            f"GROUP BY bucket, in_top, {', '.join(names)} ORDER BY bucket, in_top DESC, {', '.join(names)}"
        )
        return Query(sql, params.values)


def value_of(value: Any) -> int | float | Decimal | str | None:
    """A measure's value as read (the engine's NaN never leaves: it is None)."""
    if isinstance(value, float) and value != value:
        return None
    return value  # type: ignore[no-any-return]
