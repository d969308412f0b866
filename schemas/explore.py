"""Explore: what a tenant may filter, group and aggregate by, for any event type (pure, no SQL).

The vocabulary is derived, not listed: each event type's fields are the contract's field names mapped
to stored columns by `schemas.type_columns.TYPE_COLUMNS`; a text column is a *dimension* (filter, group
by), a numeric one a *measure* (aggregate; filters compare numbers), per `schemas.ddl.EVENTS_COLUMNS`.
Every type also has the common dimensions (`domain`, `feature`, `model`, `provider`, `session_id`,
`end_user_id`) and `properties.<key>`. Custom events add their own: any other name is one of the
event's `dimensions` (in a filter or a group) or `measures` (in an aggregate); `dimensions.<key>` and
`measures.<key>` say so explicitly (for a key that is also a common field's name).

A query (`ExploreQuery`) is resolved into `Resolved` against that vocabulary, or refused with an
`ExploreError` naming the parameter and what would be accepted. The compact text forms used in URLs
(`parse_filter`, `parse_measure`, `parse_order`) and the JSON body share the same model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.ddl import EVENTS_COLUMNS
from schemas.type_columns import TYPE_COLUMNS

ANY: Final = "any"
"""Every event type at once: the common dimensions only (active users, sessions, events of a domain)."""
EVENT_TYPES: Final = (*TYPE_COLUMNS, ANY)
COMMON_DIMENSIONS: Final = ("domain", "feature", "model", "provider", "session_id", "end_user_id")
"""Dimensions of every event type (empty where a type does not fill them)."""
MAPS: Final = {"dimensions": "dimensions", "measures": "measures", "properties": "properties"}
"""`<map>.<key>` field names and the column holding them."""

Aggregation = Literal["count", "sum", "avg", "min", "max", "last", "p50", "p95", "p99", "users", "sessions", "rate"]
AGGREGATIONS: Final[dict[str, str]] = {
    "count": "events",
    "sum": "sum of a measure",
    "avg": "mean of a measure (events that carry it)",
    "min": "smallest value of a measure",
    "max": "largest value of a measure",
    "last": "the value of the latest event (by timestamp): gauges such as a queue depth",
    "p50": "median (exact, linear between the closest ranks)",
    "p95": "95th percentile (exact, linear between the closest ranks)",
    "p99": "99th percentile (exact, linear between the closest ranks)",
    "users": "distinct end users (exact)",
    "sessions": "distinct sessions (exact; a conversion's attributed session counts)",
    "rate": "share of events matching a condition, 0..1: rate(status=ok)",
}
NO_FIELD: Final = frozenset({"count", "users", "sessions"})
Op = Literal["eq", "ne", "contains", "gt", "ge", "lt", "le"]
TEXT_OPS: Final = {"=": "eq", "!=": "ne", "~": "contains"}
NUMBER_OPS: Final = {">": "gt", ">=": "ge", "<": "lt", "<=": "le"}
_OP_TOKENS: Final = ("!=", ">=", "<=", "=", "~", ">", "<")

MAX_FILTERS: Final = 20
MAX_VALUES: Final = 100
MAX_GROUPS: Final = 2
MAX_MEASURES: Final = 10
MAX_LIMIT: Final = 100
MAX_NAME: Final = 128
MAX_VALUE: Final = 256


class ExploreError(ValueError):
    """A query the vocabulary refuses; `param` names the parameter (answered as a 422)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True, slots=True)
class ExploreField:
    """A resolved field: a stored column, or one key of a map column."""

    name: str
    kind: Literal["dimension", "measure"]
    column: str
    key: str | None = None
    """For a map column (`dimensions`, `measures`, `properties`): the key."""
    decimal: bool = False
    """Money (Decimal): summed exactly, never as a float."""
    money: str | None = None
    """The column naming its currency, when amounts in different currencies must never be added."""


_TYPES: Final = dict(EVENTS_COLUMNS)


def _kind(column: str) -> Literal["dimension", "measure"] | None:
    ch_type = _TYPES[column]
    if "String" in ch_type:
        return "dimension"
    if ch_type.startswith(("UInt", "Int", "Float", "Decimal")):
        return "measure"
    return None  # maps: custom events' own fields, by key


def _built_in(event_type: str) -> dict[str, ExploreField]:
    fields = {name: ExploreField(name, "dimension", name) for name in COMMON_DIMENSIONS}
    if event_type == ANY:
        return fields | {"type": ExploreField("type", "dimension", "type")}
    for source in TYPE_COLUMNS[event_type]:
        kind = _kind(source.column)
        if kind is None:
            continue
        name = source.fields[0]
        decimal = _TYPES[source.column].startswith("Decimal")
        money = "currency" if source.column == "revenue" else None
        fields[name] = ExploreField(name, kind, source.column, decimal=decimal, money=money)
    if event_type == "llm_call":
        fields["cost_usd"] = ExploreField("cost_usd", "measure", "cost_usd", decimal=True)
        fields["price_status"] = ExploreField("price_status", "dimension", "price_status")
    return fields


FIELDS: Final[dict[str, dict[str, ExploreField]]] = {t: _built_in(t) for t in EVENT_TYPES}
"""Per event type, its named fields (custom events' own dimensions and measures come by key)."""


def resolve_field(event_type: str, name: str, kind: Literal["dimension", "measure"], param: str) -> ExploreField:
    """The field `name` of `event_type` used as a `kind`, or an ExploreError naming `param`."""
    if not name or len(name) > MAX_NAME:
        raise ExploreError(param, f"a field name is 1 to {MAX_NAME} characters")
    known = FIELDS[event_type].get(name)
    if known is not None:
        if known.kind != kind:
            raise ExploreError(param, f"{name!r} is a {known.kind} of {event_type} events, not a {kind}")
        return known
    prefix, dot, key = name.partition(".")
    if dot and prefix in MAPS and key:
        column = MAPS[prefix]
        map_kind: Literal["dimension", "measure"] = "measure" if column == "measures" else "dimension"
        if column in ("dimensions", "measures") and event_type != "custom":
            raise ExploreError(param, f"only custom events have {column}; {event_type} events have properties")
        if map_kind != kind:
            raise ExploreError(param, f"{name!r} is a {map_kind}, not a {kind}")
        return ExploreField(name, kind, column, key)
    if event_type == "custom":  # the event's own dimension or measure, by key
        return ExploreField(name, kind, "measures" if kind == "measure" else "dimensions", name)
    choices = sorted(n for n, f in FIELDS[event_type].items() if f.kind == kind)
    raise ExploreError(
        param, f"unknown {kind} {name!r} of {event_type} events; choose from {', '.join(choices)} or properties.<key>"
    )


Text = Annotated[str, Field(max_length=MAX_VALUE)]


class Filter(BaseModel):
    """One condition: `field op value(s)`; several values of `eq` mean any of them, of `ne` none of them."""

    model_config = ConfigDict(extra="forbid")

    field: Annotated[str, Field(min_length=1, max_length=MAX_NAME + 16)]
    op: Op = "eq"
    values: Annotated[list[Text], Field(min_length=1, max_length=MAX_VALUES)]

    @model_validator(mode="after")
    def _one_value_unless_listed(self) -> Filter:
        if self.op not in ("eq", "ne") and len(self.values) != 1:
            raise ValueError(f"{self.op} takes one value (several values: eq or ne)")
        return self


class MeasureSpec(BaseModel):
    """One aggregate: `agg(field)`, `count`, `users`, `sessions`, or `rate(field=value)`."""

    model_config = ConfigDict(extra="forbid")

    agg: Aggregation
    field: Annotated[str | None, Field(max_length=MAX_NAME + 16)] = None
    where: Filter | None = None
    """For `rate`: the condition whose share is measured."""

    @property
    def label(self) -> str:
        """The measure's name in results, as written in a URL: `p95(duration_ms)`, `rate(status=ok)`."""
        if self.agg == "rate" and self.where is not None:
            return f"rate({filter_text(self.where)})"
        return self.agg if self.field is None else f"{self.agg}({self.field})"


class ExploreQuery(BaseModel):
    """What `GET`/`POST .../explore` asks (the period comes with the usual period parameters)."""

    model_config = ConfigDict(extra="forbid")

    event: Annotated[str, Field(max_length=32)]
    """An event type (`EVENT_TYPES`); custom: a tenant's own events; any: all of them."""
    name: Annotated[str | None, Field(max_length=MAX_NAME)] = None
    """Custom events: only those of this name."""
    where: Annotated[list[Filter], Field(max_length=MAX_FILTERS)] = []
    group_by: Annotated[list[Annotated[str, Field(max_length=MAX_NAME + 16)]], Field(max_length=MAX_GROUPS)] = []
    measures: Annotated[list[MeasureSpec], Field(min_length=1, max_length=MAX_MEASURES)] = [MeasureSpec(agg="count")]
    order_by: Annotated[str | None, Field(max_length=2 * MAX_NAME)] = None
    """A measure's label or a group field; `-` first for descending. Default: the first measure, descending."""
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT)] = 10
    """Groups shown; the rest are summed up in one `other` row."""
    series: bool = True
    """Every measure per bucket of the period too (the period's `granularity`); false: totals only."""

    @field_validator("event")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EVENT_TYPES:
            raise ValueError(f"unknown event type {value[:40]!r}; choose from {', '.join(EVENT_TYPES)}")
        return value

    @field_validator("group_by")
    @classmethod
    def _distinct_groups(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("group_by names a field twice")
        return value


@dataclass(frozen=True, slots=True)
class ResolvedFilter:
    field: ExploreField
    op: Op
    values: tuple[str | Decimal, ...]


@dataclass(frozen=True, slots=True)
class ResolvedMeasure:
    label: str
    agg: Aggregation
    field: ExploreField | None
    where: ResolvedFilter | None


@dataclass(frozen=True, slots=True)
class Resolved:
    """A query checked against the vocabulary: every name is a field of the event type."""

    event: str
    name: str | None
    where: tuple[ResolvedFilter, ...]
    group_by: tuple[ExploreField, ...]
    measures: tuple[ResolvedMeasure, ...]
    order: tuple[str, bool]
    """(a measure label or group field name, descending)."""
    limit: int
    series: bool
    per_group: frozenset[str] = frozenset()
    """Measures of money whose currency only the groups fix: no total, previous total or `other` value
    (amounts in different currencies are never added)."""


MAX_DECIMAL: Final = Decimal(10) ** 26
"""Money columns are Decimal(38, 12): 26 digits before the point."""


def _places(value: Decimal) -> int:
    with localcontext(prec=100):
        exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _number(text: str, param: str, decimal: bool = False) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise ExploreError(param, f"{text[:40]!r} is not a number") from None
    if not value.is_finite() or not math.isfinite(float(value)):
        raise ExploreError(param, f"{text[:40]!r} is not a finite number")
    if decimal and (abs(value) >= MAX_DECIMAL or _places(value) > 12):
        raise ExploreError(param, f"{text[:40]!r}: amounts have at most 26 digits before the point and 12 after")
    return value


def resolve_filter(event_type: str, f: Filter, param: str) -> ResolvedFilter:
    """A filter on a dimension (=, !=, ~) or a measure (=, !=, >, >=, <, <=: numbers)."""
    kind: Literal["dimension", "measure"] = "measure" if f.op in NUMBER_OPS.values() else "dimension"
    known = FIELDS[event_type].get(f.field)
    if (known is not None and known.kind == "measure") or f.field.startswith("measures."):
        if f.op == "contains":
            raise ExploreError(param, f"{f.field!r} is a number: use =, !=, >, >=, <, <=")
        kind = "measure"  # a measure compared for (in)equality is a number
    field = resolve_field(event_type, f.field, kind, param)
    if kind == "dimension":
        return ResolvedFilter(field, f.op, tuple(f.values))
    return ResolvedFilter(field, f.op, tuple(_number(v, param, field.decimal) for v in f.values))


def resolve(query: ExploreQuery) -> Resolved:
    """`query` checked against its event type's fields, or an ExploreError naming the parameter."""
    event = query.event
    if query.name is not None and event != "custom":
        raise ExploreError("name", "name selects custom events by their name: use it with event=custom")
    where = tuple(resolve_filter(event, f, "where") for f in query.where)
    groups = tuple(resolve_field(event, g, "dimension", "group_by") for g in query.group_by)
    measures = []
    for m in query.measures:
        if m.agg in NO_FIELD:
            if m.field is not None:
                raise ExploreError("measure", f"{m.agg} takes no field")
            measures.append(ResolvedMeasure(m.label, m.agg, None, None))
        elif m.agg == "rate":
            if m.where is None:
                raise ExploreError("measure", "rate needs a condition: rate(status=ok)")
            measures.append(ResolvedMeasure(m.label, m.agg, None, resolve_filter(event, m.where, "measure")))
        else:
            if m.field is None:
                raise ExploreError("measure", f"{m.agg} needs a measure: {m.agg}(<field>)")
            measures.append(ResolvedMeasure(m.label, m.agg, resolve_field(event, m.field, "measure", "measure"), None))
    labels = [rm.label for rm in measures]
    if len(set(labels)) != len(labels):
        raise ExploreError("measure", "a measure is asked twice")
    per_group = set()
    for rm in measures:
        money = rm.field.money if rm.field is not None else None
        if money and not _filtered_to_one(money, where):
            per_group.add(rm.label)
        if money and not _single_valued(money, where, groups):
            raise ExploreError(
                "measure", f"{rm.label}: amounts in different currencies are never added; group_by {money} "
                f"or filter one {money} ({money}=EUR)"
            )  # fmt: skip
    order = parse_order(query.order_by, labels, [g.name for g in groups])
    return Resolved(
        event, query.name, where, groups, tuple(measures), order, query.limit, query.series, frozenset(per_group)
    )


def _filtered_to_one(column: str, where: tuple[ResolvedFilter, ...]) -> bool:
    return any(f.field.column == column and f.field.key is None and f.op == "eq" and len(f.values) == 1 for f in where)


def _single_valued(column: str, where: tuple[ResolvedFilter, ...], groups: tuple[ExploreField, ...]) -> bool:
    return any(g.column == column and g.key is None for g in groups) or _filtered_to_one(column, where)


def parse_order(text: str | None, labels: list[str], groups: list[str]) -> tuple[str, bool]:
    if text is None:
        return labels[0], True
    descending = text.startswith("-")
    name = text[1:] if descending else text
    if name not in labels and name not in groups:
        raise ExploreError("order_by", f"order by a measure asked ({', '.join(labels)}) or a group field")
    return name, descending


def parse_filter(text: str, param: str = "where") -> Filter:
    """`status=failed`, `status!=ok`, `query~shoe`, `duration_ms>=1000` (one value each)."""
    at = [(text.find(op), -len(op), op) for op in _OP_TOKENS if op in text]
    if not at:
        raise ExploreError(param, f"{text[:80]!r}: write field=value (or !=, ~, >, >=, <, <=)")
    position, _, op = min(at)
    field, value = text[:position].strip(), text[position + len(op) :]
    if not field:
        raise ExploreError(param, f"{text[:80]!r}: no field before {op!r}")
    if len(value) > MAX_VALUE:
        raise ExploreError(param, f"a value is at most {MAX_VALUE} characters")
    return Filter(field=field, op=(TEXT_OPS | NUMBER_OPS)[op], values=[value])  # type: ignore[arg-type]


_MEASURE = re.compile(r"^\s*([a-z0-9]+)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def parse_measure(text: str) -> MeasureSpec:
    """`count`, `users`, `sessions`, `sum(cost_usd)`, `p95(duration_ms)`, `last(queue_depth)`, `rate(status=ok)`."""
    match = _MEASURE.match(text)
    if match is None or match.group(1) not in AGGREGATIONS:
        raise ExploreError("measure", f"{text[:80]!r}: write agg(field) with agg one of {', '.join(AGGREGATIONS)}")
    agg, inner = match.group(1), match.group(2)
    if agg == "rate":
        if not inner:
            raise ExploreError("measure", "rate needs a condition: rate(status=ok)")
        return MeasureSpec(agg="rate", where=parse_filter(inner, "measure"))
    return MeasureSpec(agg=agg, field=inner.strip() if inner else None)  # type: ignore[arg-type]


def combine(filters: list[Filter]) -> list[Filter]:
    """Filters of a URL joined: the same field and `=` (or `!=`) repeated means any (none) of the values."""
    out: dict[tuple[str, str], Filter] = {}
    for f in filters:
        key = (f.field, f.op)
        if key in out and f.op in ("eq", "ne"):
            out[key] = Filter(field=f.field, op=f.op, values=[*out[key].values, *f.values][:MAX_VALUES])
        else:
            out[(f.field, f"{f.op}#{len(out)}") if key in out else key] = f
    return list(out.values())


def filter_text(f: Filter) -> str:
    op = {v: k for k, v in (TEXT_OPS | NUMBER_OPS).items()}[f.op]
    return f"{f.field}{op}{'|'.join(f.values)}"
