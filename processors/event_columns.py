"""Which events-table column each event type fills, read two ways (the declaration: schemas.type_columns).

`type_columns(event)` reads it for one event (the row path,
`processors.rows.event_row`, which reconcile and the differential tests use as the reference), and
`type_frame(tag, columns)` reads it for a whole batch of one type at once (the columnar hot path,
`processors.event_frame`). A column a type does not declare holds its empty value.
"""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from schemas.type_columns import TYPE_COLUMNS, Fill, Source

_THUMBS: Final = {"up": 1, "down": -1}


def _first(values: list[Any]) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    return values[-1] if len(values) == 1 else None


def _filled(value: Any, fill: Fill) -> Any:
    if fill == "text":
        return "" if value is None else value
    if fill == "count":
        return 0 if value is None else value
    if fill == "thumbs":
        return _THUMBS.get(value, 0)
    return value


def type_columns(event: Any) -> dict[str, Any]:
    """The type-specific columns of one event (an object with the type's fields as attributes)."""
    return {s.column: _filled(_first([getattr(event, f) for f in s.fields]), s.fill) for s in TYPE_COLUMNS[event.type]}


def _expression(source: Source) -> pl.Expr:
    if len(source.fields) == 1:
        value = pl.col(source.fields[0])
    else:
        given = [pl.col(f) for f in source.fields]
        value = pl.coalesce([pl.when(c.is_not_null() & (c.cast(pl.String) != "")).then(c) for c in given])
    if source.fill == "text":
        return value.fill_null("")
    if source.fill == "count":
        return value.fill_null(0)
    if source.fill == "thumbs":
        return value.cast(pl.String).replace_strict(_THUMBS, default=0, return_dtype=pl.Int8)
    return value


def type_frame(tag: str, fields: pl.DataFrame) -> pl.DataFrame:
    """The type-specific columns of a batch of one type's events, given one column per field."""
    return fields.select(*(_expression(s).alias(s.column) for s in TYPE_COLUMNS[tag]))
