"""Tumbling windows and their aggregates (pure: no I/O).

Every stored event adds to three windows — its minute, hour and day in the tenant's time zone —
under the key (tenant, granularity, window start, type, d1, d2, d3, domain) (see
`schemas.rollups.ROLLUP_DIMENSIONS`). `Agg` is what one key accumulates; `merge` is associative
and commutative, so partial aggregates of any split of the events add up to the same totals.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from schemas.rollups import GRANULARITIES, LATENCY_BOUNDS_MS

Row = dict[str, Any]
Key = tuple[str, str, datetime, str, str, str, str, str]
"""(tenant_id, granularity, window_start (UTC), type, d1, d2, d3, domain)"""

_ZERO = Decimal(0)
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


def latency_bucket(latency_ms: int) -> int:
    """Index of the latency bucket holding `latency_ms`."""
    return bisect.bisect_right(LATENCY_BOUNDS_MS, latency_ms)


def _latency_buckets() -> list[int]:
    return [0] * (len(LATENCY_BOUNDS_MS) + 1)


@dataclass(slots=True)
class Agg:
    """The measures of one rollup key."""

    events: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    audio_seconds: float = 0.0
    cost_usd: Decimal = _ZERO
    unpriced: int = 0
    latency_ms_sum: int = 0
    latency_buckets: list[int] = field(default_factory=_latency_buckets)
    content_chars: int = 0
    revenue: Decimal = _ZERO
    rating_sum: int = 0
    rating_count: int = 0
    thumbs_up: int = 0
    thumbs_down: int = 0
    zero_results: int = 0
    sessions: set[str] = field(default_factory=set)
    end_users: set[str] = field(default_factory=set)
    measures: dict[str, float] = field(default_factory=dict)

    def merge(self, other: Agg) -> Agg:
        """Add `other` into this aggregate (returns self)."""
        self.events += other.events
        self.errors += other.errors
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cached_input_tokens += other.cached_input_tokens
        self.reasoning_tokens += other.reasoning_tokens
        self.audio_seconds += other.audio_seconds
        self.cost_usd = _MONEY.add(self.cost_usd, other.cost_usd)
        self.unpriced += other.unpriced
        self.latency_ms_sum += other.latency_ms_sum
        self.latency_buckets = [a + b for a, b in zip(self.latency_buckets, other.latency_buckets, strict=True)]
        self.content_chars += other.content_chars
        self.revenue = _MONEY.add(self.revenue, other.revenue)
        self.rating_sum += other.rating_sum
        self.rating_count += other.rating_count
        self.thumbs_up += other.thumbs_up
        self.thumbs_down += other.thumbs_down
        self.zero_results += other.zero_results
        self.sessions |= other.sessions
        self.end_users |= other.end_users
        for name, value in other.measures.items():
            self.measures[name] = self.measures.get(name, 0.0) + value
        return self

    def add_row(self, row: Mapping[str, Any]) -> None:
        """Count one stored event (a warehouse row of `processors.rows`)."""
        kind = row["type"]
        self.events += 1
        if row["status"] == "error" or row["end_reason"] == "error":
            self.errors += 1
        if row["session_id"]:
            self.sessions.add(row["session_id"])
        if row["end_user_id"]:
            self.end_users.add(row["end_user_id"])
        if kind in ("llm_call", "tool_call", "search", "session_ended") and row["latency_ms"] > 0:
            # 0 means "not measured" (a session_ended without duration_ms, a search without latency)
            self.latency_ms_sum += row["latency_ms"]
            self.latency_buckets[latency_bucket(row["latency_ms"])] += 1
        if kind == "llm_call":
            self.input_tokens += row["input_tokens"]
            self.output_tokens += row["output_tokens"]
            self.cached_input_tokens += row["cached_input_tokens"]
            self.reasoning_tokens += row["reasoning_tokens"]
            self.audio_seconds += row["audio_seconds"]
            self.cost_usd = _MONEY.add(self.cost_usd, row["cost_usd"])
            self.unpriced += row["price_status"] == "unknown_model"
        elif kind == "message":
            self.content_chars += row["content_chars"]
        elif kind == "conversion":
            self.revenue = _MONEY.add(self.revenue, row["revenue"])
        elif kind == "feedback":
            if row["rating"]:
                self.rating_sum += row["rating"]
                self.rating_count += 1
            self.thumbs_up += row["thumbs"] == 1
            self.thumbs_down += row["thumbs"] == -1
        elif kind == "search":
            self.zero_results += row["results_count"] == 0
        elif kind == "custom":
            for name, value in row["measures"].items():
                self.measures[name] = self.measures.get(name, 0.0) + value


def dimensions(row: Mapping[str, Any]) -> tuple[str, str, str]:
    """(d1, d2, d3) of a row's rollup key (see `schemas.rollups.ROLLUP_DIMENSIONS`)."""
    kind = row["type"]
    if kind == "llm_call":
        return row["provider"], row["model"], row["feature"]
    if kind == "message":
        return row["role"], row["properties"].get("language", ""), ""
    if kind == "session_started":
        return row["channel"], "", ""
    if kind == "session_ended":
        return row["end_reason"], "", ""
    if kind == "tool_call":
        return row["tool_name"], row["status"], ""
    if kind == "product_event":
        return row["product_action"], row["product_id"], row["product_name"]
    if kind == "search":
        return "zero" if row["results_count"] == 0 else "found", search_key(row["search_query"]), ""
    if kind == "conversion":
        return row["currency"], row["feature"], ""
    if kind == "custom":
        return row["name"], urlencode(sorted(row["dimensions"].items())), ""
    return "", "", ""


def search_key(query: str) -> str:
    """A search query as rollups group it: lower case, whitespace collapsed, at most 200 characters."""
    return " ".join(query.lower().split())[:200]


def keys_of(row: Mapping[str, Any], ts: datetime, tz: ZoneInfo, kind: str | None = None) -> list[Key]:
    """The rollup keys (one per granularity) an event adds to; `kind` overrides the type ('late')."""
    d1, d2, d3 = dimensions(row) if kind is None else (row["type"], "", "")
    tenant, domain, type_ = row["tenant_id"], row["domain"], kind or row["type"]
    return [(tenant, g, window_start(ts, g, tz), type_, d1, d2, d3, domain) for g in GRANULARITIES]


@lru_cache(maxsize=4096)
def _ch_seconds(start: datetime) -> str:
    return start.strftime("%Y-%m-%d %H:%M:%S")


def rollup_row(key: Key, agg: Agg, source_partition: int, range_id: int, version: int) -> Row:
    """The rollups-table row of one key's aggregate over one range (keys: `ROLLUP_COLUMN_NAMES`)."""
    tenant_id, granularity, start, type_, d1, d2, d3, domain = key
    return {
        "tenant_id": tenant_id,
        "granularity": granularity,
        "window_start": _ch_seconds(start),
        "type": type_,
        "d1": d1,
        "d2": d2,
        "d3": d3,
        "domain": domain,
        "source_partition": source_partition,
        "range_id": range_id,
        "events": agg.events,
        "errors": agg.errors,
        "input_tokens": agg.input_tokens,
        "output_tokens": agg.output_tokens,
        "cached_input_tokens": agg.cached_input_tokens,
        "reasoning_tokens": agg.reasoning_tokens,
        "audio_seconds": agg.audio_seconds,
        "cost_usd": agg.cost_usd,
        "unpriced": agg.unpriced,
        "latency_ms_sum": agg.latency_ms_sum,
        "latency_buckets": list(agg.latency_buckets),
        "content_chars": agg.content_chars,
        "revenue": agg.revenue,
        "rating_sum": agg.rating_sum,
        "rating_count": agg.rating_count,
        "thumbs_up": agg.thumbs_up,
        "thumbs_down": agg.thumbs_down,
        "zero_results": agg.zero_results,
        "sessions": list(agg.sessions),
        "end_users": list(agg.end_users),
        "measures": dict(agg.measures),
        "version": version,
    }
