"""Which events-table column each event type fills, from which field: declared once, read two ways.

`TYPE_COLUMNS` is the one declaration. `type_columns(event)` reads it for one event (the row path,
`processors.rows.event_row`, which reconcile and the differential tests use as the reference), and
`type_frame(tag, columns)` reads it for a whole batch of one type at once (the columnar hot path,
`processors.event_frame`). A column a type does not declare holds its empty value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import polars as pl

Fill = Literal["as_is", "text", "count", "thumbs"]
"""How a field's value becomes the column's: as it is; None -> ''; None -> 0; 'up'/'down'/None -> 1/-1/0."""


@dataclass(frozen=True, slots=True)
class Source:
    column: str
    fields: tuple[str, ...]
    """The event field read; with several, the first that is neither None nor ''."""
    fill: Fill = "as_is"


def _s(column: str, *fields: str, fill: Fill = "as_is") -> Source:
    return Source(column, fields or (column,), fill)


TYPE_COLUMNS: Final[dict[str, tuple[Source, ...]]] = {
    "llm_call": (
        _s("operation"),
        _s("provider"),
        _s("model"),
        _s("input_tokens"),
        _s("output_tokens"),
        _s("cached_input_tokens"),
        _s("reasoning_tokens"),
        _s("audio_seconds"),
        _s("latency_ms"),
        _s("status"),
        _s("error_type", fill="text"),
        _s("feature", fill="text"),
    ),
    "message": (_s("role"), _s("content_chars", fill="count")),
    "session_started": (_s("channel", fill="text"),),
    "session_ended": (_s("end_reason", "reason"), _s("latency_ms", "duration_ms", fill="count")),
    "tool_call": (_s("tool_name"), _s("latency_ms"), _s("status"), _s("error_type", fill="text")),
    "product_event": (
        _s("product_action", "action"),
        _s("product_id"),
        _s("product_name", fill="text"),
        _s("product_category", "category", fill="text"),
        _s("feature", fill="text"),
    ),
    "search": (_s("search_query", "query"), _s("results_count"), _s("latency_ms")),
    "conversion": (
        _s("order_id"),
        _s("revenue"),
        _s("currency"),
        _s("attributed_session_id", "attributed_session_id", "session_id", fill="text"),
        _s("feature", fill="text"),
    ),
    "feedback": (_s("rating", fill="count"), _s("thumbs", fill="thumbs"), _s("comment_chars", fill="count")),
    "custom": (_s("name"), _s("dimensions"), _s("measures")),
}
"""Per event type, the events-table columns it fills and from which of its fields."""

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
