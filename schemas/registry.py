"""Rollups declared once: every event type's named dimensions and every measure, in one registry.

The rollups table is generic (one table for every type, `schemas.rollups`): its key holds three
dimension slots `d1`, `d2`, `d3` whose meaning depends on the row's `type`. This module is the only
place that knows that meaning. Per event type, `EventRollup` names its dimensions (in slot order),
says how each is derived from an event row (`processors.rows`) and documents it. Per measure,
`Measure` gives its column name and ClickHouse type, how the worker merges two partial aggregates
(`Merge`), the SQL aggregate that reads it, the event types it applies to and its source (what one
event contributes). Everything else is derived from `REGISTRY`:

- the rollup DDL (`schemas.rollups`, `schemas.ddl_cluster`): the measure columns;
- the worker's aggregation (`processors.windows`): the rollup key of an event and what it adds;
- reconcile (`processors.reconcile`): how stored rows are combined and subtracted;
- the views (`views_api.queries.rollups`, `views_api.routes.series`): measure SQL, the series
  whitelist, and named dimension columns (`provider`, `model`, ...) instead of `d1`/`d2`/`d3`;
- the alert metrics (`processors.alerts.metrics`).

Adding a measure is one `Measure(...)` in `MEASURES` (and a test): no DDL, worker or query edit.

Distinct counts (`sessions`, `end_users`) hold 64-bit hashes, not the ids: `distinct_key(id)` is
ClickHouse's `halfMD5(id)` (the first 8 bytes of MD5, big-endian), so an existing store's string
arrays convert in SQL (`schemas.rollups.DISTINCT_UPGRADE`). Counting hashes is exact unless two
different ids of one count collide: with n distinct ids the chance of any collision is about
n² / 2^65 (1e-8 for a million ids).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Mapping
from functools import lru_cache
from types import ModuleType
from typing import Any, Final
from urllib.parse import urlencode

from schemas.rollup_model import (
    LATENCY_BOUNDS_MS,
    SLOTS,
    Columnar,
    ColumnExpr,
    Dimension,
    EventRollup,
    Measure,
    Merge,
    Registry,
    Row,
)

__all__ = [
    "DISTINCT_MEASURES",
    "EVENT_ROLLUPS",
    "LATENCY_BOUNDS_MS",
    "MEASURES",
    "REGISTRY",
    "SLOTS",
    "ColumnExpr",
    "Columnar",
    "Dimension",
    "EventRollup",
    "Measure",
    "Merge",
    "Registry",
    "Row",
    "dimensions_key",
    "distinct_key",
    "distinct_keys",
    "latency_bucket",
    "search_key",
]


# --- sources: pure functions of an event row (processors.rows) ----------------------------------


@lru_cache(maxsize=1 << 16)
def distinct_key(value: str) -> int:
    """The 64-bit hash distinct counts store: ClickHouse's `halfMD5(value)`."""
    return int.from_bytes(hashlib.md5(value.encode(), usedforsecurity=False).digest()[:8], "big")


def distinct_keys(values: list[str]) -> list[int]:
    """`distinct_key` of each value, in order (a batch's distinct ids: no cache to fill)."""
    md5, from_bytes = hashlib.md5, int.from_bytes
    return [from_bytes(md5(v.encode(), usedforsecurity=False).digest()[:8], "big") for v in values]


def latency_bucket(latency_ms: int) -> int:
    """Index of the latency bucket holding `latency_ms`."""
    return bisect.bisect_right(LATENCY_BOUNDS_MS, latency_ms)


def search_key(query: str) -> str:
    """A search query as rollups group it: lower case, whitespace collapsed, at most 200 characters."""
    return " ".join(query.lower().split())[:200]


def _session(row: Row) -> int | None:
    return distinct_key(row["session_id"]) if row["session_id"] else None


def _end_user(row: Row) -> int | None:
    return distinct_key(row["end_user_id"]) if row["end_user_id"] else None


def _latency(row: Row) -> int | None:
    return row["latency_ms"] or None  # 0 means "not measured" (a session_ended without duration_ms ...)


def _latency_bucket(row: Row) -> tuple[int, int] | None:
    return (latency_bucket(row["latency_ms"]), 1) if row["latency_ms"] > 0 else None


def _flag(condition: Callable[[Row], bool]) -> Callable[[Row], int]:
    return lambda row: 1 if condition(row) else 0


def dimensions_key(dimensions: Mapping[str, str]) -> str:
    """A custom event's dimensions as one rollup dimension: URL-encoded in key order (k1=v1&k2=v2)."""
    return urlencode(sorted(dimensions.items()))


# --- columnar sources: the same values as polars expressions (processors.columnar_rollups) ---------


def _nonzero(column: str) -> ColumnExpr:
    """The column where it is not 0, null elsewhere (`row[column] or None`)."""
    return lambda pl: pl.when(pl.col(column) != 0).then(pl.col(column))


def _count(condition: ColumnExpr) -> Columnar:
    """1 where `condition` holds, else 0 (`_flag`)."""
    return Columnar(lambda pl: condition(pl).cast(pl.UInt64))


def _distinct(column: str) -> Columnar:
    """`distinct_key` of the column where it is not empty (`_session`, `_end_user`)."""
    return Columnar(lambda pl: pl.when(pl.col(column) != "").then(pl.col(column)), distinct_key, distinct_keys)


def _latency_bucket_column(pl: ModuleType) -> Any:
    """`latency_bucket` (bisect_right: how many bounds are <= the latency) where the latency is > 0."""
    latency = pl.col("latency_ms")
    index = pl.sum_horizontal(*((latency >= bound).cast(pl.Int64) for bound in LATENCY_BOUNDS_MS))
    return pl.when(latency > 0).then(index)


# --- the registry -------------------------------------------------------------------------------

_LLM = frozenset({"llm_call"})
_TIMED = frozenset({"llm_call", "tool_call", "search", "session_ended"})
_FEEDBACK = frozenset({"feedback"})

EVENT_ROLLUPS: Final[dict[str, EventRollup]] = {
    e.type: e
    for e in (
        EventRollup(
            "llm_call",
            (Dimension("provider", "provider"), Dimension("model", "model"), Dimension("feature", "feature")),
        ),
        EventRollup(
            "message",
            (
                Dimension("role", "role"),
                Dimension(
                    "language",
                    lambda r: r["properties"].get("language", ""),
                    "language (the `language` property, if sent)",
                    Columnar(lambda pl: pl.col("properties").map.get("language").fill_null("")),
                ),
            ),
        ),
        EventRollup("session_started", (Dimension("channel", "channel"),)),
        EventRollup("session_ended", (Dimension("end_reason", "end_reason"),)),
        EventRollup("tool_call", (Dimension("tool_name", "tool_name"), Dimension("status", "status"))),
        EventRollup(
            "product_event",
            (
                Dimension("action", "product_action"),
                Dimension("product_id", "product_id"),
                Dimension("product_name", "product_name"),
            ),
        ),
        EventRollup(
            "search",
            (
                Dimension(
                    "outcome",
                    lambda r: "zero" if r["results_count"] == 0 else "found",
                    "found|zero",
                    Columnar(
                        lambda pl: pl.when(pl.col("results_count") == 0).then(pl.lit("zero")).otherwise(pl.lit("found"))
                    ),
                ),
                Dimension(
                    "query",
                    lambda r: search_key(r["search_query"]),
                    "query (lower case, whitespace collapsed, 200 characters)",
                    Columnar("search_query", each=search_key),
                ),
            ),
        ),
        EventRollup(
            "conversion",
            (
                Dimension("currency", "currency"),
                Dimension("feature", "feature"),
                Dimension("category", "product_category", "product category ('' before conversions carried one)"),
            ),
        ),
        EventRollup("feedback"),
        EventRollup(
            "custom",
            (
                Dimension("name", "name"),
                Dimension(
                    "dimensions",
                    lambda r: dimensions_key(r["dimensions"]),
                    "dimensions, URL-encoded in key order (k1=v1&k2=v2)",
                    Columnar("dimensions", each=dimensions_key),
                ),
            ),
        ),
        EventRollup(
            "late", (Dimension("event_type", "type", "type of the late event"),), "events too late for the stream"
        ),
    )
}

MEASURES: Final[tuple[Measure, ...]] = (
    Measure(
        "events", "UInt64", "sum", lambda r: 1, doc="events counted", columnar=Columnar(lambda pl: pl.lit(1, pl.UInt64))
    ),
    Measure(
        "errors",
        "UInt64",
        "sum",
        _flag(lambda r: r["status"] == "error" or r["end_reason"] == "error"),
        columnar=_count(lambda pl: (pl.col("status") == "error") | (pl.col("end_reason") == "error")),
    ),
    Measure("input_tokens", "UInt64", "sum", "input_tokens", _LLM),
    Measure("output_tokens", "UInt64", "sum", "output_tokens", _LLM),
    Measure("cached_input_tokens", "UInt64", "sum", "cached_input_tokens", _LLM),
    Measure("reasoning_tokens", "UInt64", "sum", "reasoning_tokens", _LLM),
    Measure("audio_seconds", "Float64", "sum", "audio_seconds", _LLM),
    Measure("cost_usd", "Decimal(38, 12)", "sum", "cost_usd", _LLM, doc="exact, from genai-prices or the tenant's"),
    Measure(
        "unpriced",
        "UInt64",
        "sum",
        _flag(lambda r: r["price_status"] == "unknown_model"),
        _LLM,
        columnar=_count(lambda pl: pl.col("price_status") == "unknown_model"),
    ),
    Measure("latency_ms_sum", "UInt64", "sum", _latency, _TIMED, columnar=Columnar(_nonzero("latency_ms"))),
    Measure(
        "latency_buckets",
        "Array(UInt64)",
        "sum_array",
        _latency_bucket,
        _TIMED,
        size=len(LATENCY_BOUNDS_MS) + 1,
        columnar=Columnar(_latency_bucket_column),
    ),
    Measure("content_chars", "UInt64", "sum", "content_chars", frozenset({"message"})),
    Measure("revenue", "Decimal(38, 12)", "sum", "revenue", frozenset({"conversion"})),
    Measure(
        "rating_sum",
        "UInt64",
        "sum",
        lambda r: r["rating"] or None,
        _FEEDBACK,
        columnar=Columnar(_nonzero("rating")),
    ),
    Measure(
        "rating_count",
        "UInt64",
        "sum",
        _flag(lambda r: bool(r["rating"])),
        _FEEDBACK,
        columnar=_count(lambda pl: pl.col("rating") != 0),
    ),
    Measure(
        "thumbs_up",
        "UInt64",
        "sum",
        _flag(lambda r: r["thumbs"] == 1),
        _FEEDBACK,
        columnar=_count(lambda pl: pl.col("thumbs") == 1),
    ),
    Measure(
        "thumbs_down",
        "UInt64",
        "sum",
        _flag(lambda r: r["thumbs"] == -1),
        _FEEDBACK,
        columnar=_count(lambda pl: pl.col("thumbs") == -1),
    ),
    Measure(
        "zero_results",
        "UInt64",
        "sum",
        _flag(lambda r: r["results_count"] == 0),
        frozenset({"search"}),
        columnar=_count(lambda pl: pl.col("results_count") == 0),
    ),
    Measure(
        "sessions",
        "Array(UInt64)",
        "union",
        _session,
        doc="distinct sessions (hashes, `distinct_key`)",
        columnar=_distinct("session_id"),
    ),
    Measure(
        "end_users",
        "Array(UInt64)",
        "union",
        _end_user,
        doc="distinct end users (hashes, `distinct_key`)",
        columnar=_distinct("end_user_id"),
    ),
    Measure("measures", "Map(String, Float64)", "sum_map", "measures", frozenset({"custom"}), doc="custom measures"),
)

REGISTRY: Final = Registry(EVENT_ROLLUPS, MEASURES)

DISTINCT_MEASURES: Final = tuple(m.name for m in MEASURES if m.merge == "union")
"""Measures holding `distinct_key` hashes."""
