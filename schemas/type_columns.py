"""Which events-table column each event type fills, from which of its fields: declared once.

The worker reads it two ways (`processors.event_columns`: one event, or a batch of one type) and the
views read it to name what a tenant may filter, group and aggregate by (`schemas.explore`): the field
names of the contract (`reason`, `duration_ms`, `category` ...) map to the stored columns here.
A column a type does not declare holds its empty value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

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
        _s("product_category", "category", fill="text"),
    ),
    "feedback": (_s("rating", fill="count"), _s("thumbs", fill="thumbs"), _s("comment_chars", fill="count")),
    "custom": (_s("name"), _s("dimensions"), _s("measures")),
}
"""Per event type, the events-table columns it fills and from which of its fields."""
