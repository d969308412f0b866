"""The columnar aggregation (processors.columnar_rollups) against the row path, the reference.

Random batches of every event type go through (a) keys_of + RangeBook.add per event, as
processors.pipeline does, and (b) aggregate + RangeBook.add_partials; the touched keys, their
aggregates and versions, and the rollup rows must be the same, batch after batch.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.columnar_rollups import ColumnarAggregation, Ordered, aggregate, late_column, partials
from processors.columnar_windows import zone_column
from processors.pricing import PriceBook
from processors.ranges import RangeBook, RangeUpdate
from processors.rows import Batch, Record, build_batch
from processors.windows import AGGREGATION, Agg, Aggregation, rollup_row
from schemas.arrow import TABLE_SCHEMAS, arrow_table
from schemas.ddl import EVENTS_COLUMN_NAMES
from schemas.registry import DISTINCT_MEASURES, REGISTRY, Columnar, Measure

NOW = datetime(2026, 11, 1, 7, tzinfo=UTC)  # New York's fall-back was an hour ago
LATENESS = timedelta(hours=1)
ZONES = {
    "t-utc": "UTC",
    "t-ny": "America/New_York",
    "t-paris": "Europe/Paris",
    "t-kolkata": "Asia/Kolkata",
    "t-lordhowe": "Australia/Lord_Howe",
    "t-havana": "America/Havana",
}
MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("anthropic", "claude-3-5-sonnet"),
    ("groq", "whisper-large-v3"),
]
MODELS += [("openai", "not-a-model")]

_text = st.sampled_from(["", "a", "b", "web", "Éa", "x y", "&=?"])
_word = st.sampled_from(["a", "b", "c", "build.done"])


def _fields(type_: str) -> st.SearchStrategy[dict[str, Any]]:
    opt = st.one_of(st.none(), _text)
    session = st.sampled_from(["s-1", "s-2", "s-3", "sess-" + "x" * 30])
    if type_ == "llm_call":
        return st.builds(
            lambda pm, i, o, c, r, a, lat, status, f, op: {
                "provider": pm[0],
                "model": pm[1],
                "input_tokens": i + c,
                "cached_input_tokens": c,
                "output_tokens": o + r,
                "reasoning_tokens": r,
                "audio_seconds": a,
                "latency_ms": lat,
                "status": status,
                "feature": f,
                "operation": op,
            },
            st.sampled_from(MODELS),
            st.integers(0, 5000),
            st.integers(0, 2000),
            st.integers(0, 500),
            st.integers(0, 300),
            st.sampled_from([0, 0, 0.1, 12.75, 1e-7, 3.3]),
            st.sampled_from([0, 1, 49, 50, 420, 60_000, 86_400_000]),
            st.sampled_from(["ok", "error"]),
            opt,
            st.sampled_from(["chat", "transcription"]),
        )
    if type_ == "message":
        props = st.dictionaries(st.sampled_from(["language", "lang", "x"]), _text, max_size=2)
        return st.fixed_dictionaries(
            {"session_id": session, "role": st.sampled_from(["user", "assistant"]), "properties": props},
            optional={"content_chars": st.integers(0, 10_000)},
        )
    if type_ == "session_started":
        return st.fixed_dictionaries({"session_id": session}, optional={"channel": opt})
    if type_ == "session_ended":
        reasons = st.sampled_from(["completed", "abandoned", "timeout", "error"])
        return st.fixed_dictionaries(
            {"session_id": session}, optional={"reason": reasons, "duration_ms": st.integers(0, 10**6)}
        )
    if type_ == "tool_call":
        return st.fixed_dictionaries(
            {"tool_name": _word},
            optional={"latency_ms": st.integers(0, 9000), "status": st.sampled_from(["ok", "error"])},
        )
    if type_ == "product_event":
        return st.fixed_dictionaries(
            {"action": st.sampled_from(["recommended", "clicked"]), "product_id": _word},
            optional={"product_name": opt},
        )
    if type_ == "search":
        queries = st.sampled_from(["", "Red  Shoes", "red shoes ", "\x1cRED\tshoes", "ß" * 250, "İstanbul"])
        return st.fixed_dictionaries(
            {"query": queries, "results_count": st.integers(0, 3)}, optional={"latency_ms": st.integers(0, 99)}
        )
    if type_ == "conversion":
        revenue = st.sampled_from(["0", "129.90", "0.000000000001", "99999999999999.999999999999"])
        return st.fixed_dictionaries(
            {"order_id": _word, "revenue": revenue},
            optional={"currency": st.sampled_from(["USD", "EUR"]), "feature": opt, "category": opt},
        )
    if type_ == "feedback":
        return st.one_of(
            st.fixed_dictionaries({"rating": st.integers(1, 5)}),
            st.fixed_dictionaries({"thumbs": st.sampled_from(["up", "down"])}),
        )
    assert type_ == "custom"
    floats = st.sampled_from([0.0, 1.0, 0.1, 0.2, 0.3, -2.5, 1e15, 1e-9, 1 / 3])
    return st.fixed_dictionaries(
        {"name": _word},
        optional={
            "dimensions": st.dictionaries(st.sampled_from(["k", "a b", "z"]), _text, max_size=3),
            "measures": st.dictionaries(st.sampled_from(["m", "n", "duration_s"]), floats, max_size=3),
        },
    )


TYPES = ("llm_call", "message", "session_started", "session_ended", "tool_call", "product_event", "search")
TYPES += ("conversion", "feedback", "custom")


@st.composite
def events(draw: st.DrawFn, hot: bool = False) -> tuple[dict[str, Any], datetime]:
    """(a wire event, its record's Kafka timestamp): every type, several tenants and zones, some late.
    `hot`: a few keys get many events (LLM calls and custom events of two tenants within a minute)."""
    type_ = draw(st.sampled_from(("llm_call", "custom") if hot else TYPES))
    tenant = draw(st.sampled_from(["t-ny", "t-lordhowe"] if hot else sorted(ZONES)))
    ago = (
        st.integers(0, 50) if hot else st.one_of(st.integers(0, 120), st.integers(0, 7200), st.integers(0, 3 * 86_400))
    )
    ts = NOW - timedelta(seconds=draw(ago), microseconds=draw(st.integers(0, 999_999)))
    arrival = ts + timedelta(seconds=draw(st.sampled_from([0, 1, 3599, 3600, 3601, 86_400])))
    doc = {"event_id": str(uuid.uuid4()), "type": type_, "tenant_id": tenant, "timestamp": ts.isoformat()}
    doc.update(draw(_fields(type_)))
    if hot:  # one key per tenant, type and window
        doc.update({"feature": None, "model": "whisper-large-v3", "provider": "groq"} if type_ == "llm_call" else {})
        doc.update({"name": "a", "dimensions": {}} if type_ == "custom" else {})
    elif draw(st.booleans()):
        doc.update(end_user_id=draw(st.sampled_from(["u-1", "u-2", ""])), domain=draw(_text))
    return doc, arrival


def zone_of(tenant: str) -> ZoneInfo:
    return ZoneInfo(ZONES[tenant])


def frame_of(batch: Batch, positions: Sequence[int], span: int) -> pl.DataFrame:
    """The batch as the columnar path gets it: the events table's Arrow batch plus the window columns."""
    columns: dict[str, Any] = {name: [row[name] for row in batch.rows] for name in EVENTS_COLUMN_NAMES}
    columns["ts"] = batch.times
    columns["ingested_at"] = [NOW] * len(batch.rows)
    frame = pl.from_arrow(arrow_table(TABLE_SCHEMAS["events"], columns))
    assert isinstance(frame, pl.DataFrame)
    frame = frame.with_columns(
        ts=pl.Series(batch.times, dtype=pl.Datetime("us", "UTC")),  # the event time at full precision
        arrival=pl.Series(batch.arrivals, dtype=pl.Datetime("us", "UTC")),
        position=pl.Series(positions, dtype=pl.UInt64),
        range_id=pl.Series([p // span for p in positions], dtype=pl.UInt64),
        zone=zone_column(frame["tenant_id"], zone_of),
    )
    return frame.with_columns(late_column(pl.col("ts"), pl.col("arrival"), LATENESS))


@dataclass
class Paths:
    """The same stream through both paths, each with its own ranges."""

    span: int
    aggregation: Aggregation = AGGREGATION

    def __post_init__(self) -> None:
        self.rows_book, self.columns_book = RangeBook(self.span), RangeBook(self.span)

    def by_rows(self, records: list[Record], batch: Batch) -> RangeUpdate:
        """processors.pipeline's `_aggregate` (every record counted)."""
        update = RangeUpdate()
        for record, row, ts, arrival in zip(records, batch.rows, batch.times, batch.arrivals, strict=True):
            current = self.rows_book.advance(record.partition, record.offset, update)
            zone = zone_of(row["tenant_id"])
            late = arrival is not None and arrival - ts > LATENESS
            keys = (
                self.aggregation.keys_of(row, arrival, zone, "late")
                if late
                else self.aggregation.keys_of(row, ts, zone)
            )
            if self.aggregation is AGGREGATION:
                self.rows_book.add(current, record.partition, record.offset, keys, row, update)
                continue
            for key in keys:  # RangeBook.add, with a toy registry's aggregation
                agg = current.aggs.get(key)
                if agg is None:
                    agg = current.aggs[key] = Agg(self.aggregation)
                agg.add_row(row)
                update.touched[(record.partition, current.range_id, key)] = (agg, record.offset)
        return update

    def by_columns(self, records: list[Record], batch: Batch) -> RangeUpdate:
        frame = frame_of(batch, [r.offset for r in records], self.span)
        by_range = partials(aggregate(frame, self.aggregation), self.aggregation)
        update = RangeUpdate()
        for i, record in enumerate(records):
            current = self.columns_book.advance(record.partition, record.offset, update)
            nxt = records[i + 1] if i + 1 < len(records) else None
            if nxt is None or (nxt.partition, nxt.offset // self.span) != (record.partition, current.range_id):
                self.columns_book.add_partials(
                    current, record.partition, by_range.pop((record.partition, current.range_id)), update
                )
        assert not by_range
        return update


def records_of(
    drawn: list[tuple[dict[str, Any], datetime]], partitions: list[int], offsets: dict[int, int]
) -> list[Record]:
    """Records of the drawn events on the drawn partitions, offsets continuing each partition's, in
    (partition, offset) order (as the pipeline walks them)."""
    out = []
    for (doc, arrival), partition in zip(drawn, partitions, strict=True):
        offset = offsets.get(partition, 0)
        offsets[partition] = offset + 1
        out.append(Record(doc["tenant_id"].encode(), orjson.dumps(doc), partition, offset, arrival))
    return sorted(out, key=lambda r: (r.partition, r.offset))


def _batch(records: list[Record]) -> Batch:
    batch = build_batch(records, PriceBook(), NOW)
    assert not batch.dead and len(batch.rows) == len(records)
    return batch


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A rollup row with its distinct-count arrays sorted (a set's list order is not part of its value)."""
    return {k: sorted(v) if k in DISTINCT_MEASURES else v for k, v in row.items()}


def assert_same(by_rows: RangeUpdate, by_columns: RangeUpdate) -> None:
    assert by_rows.touched.keys() == by_columns.touched.keys()
    assert (by_rows.ack_below, by_rows.restarted) == (by_columns.ack_below, by_columns.restarted)
    for where, (agg, version) in by_rows.touched.items():
        other, other_version = by_columns.touched[where]
        assert (agg.values, version) == (other.values, other_version), where
        assert [type(v) for v in agg.values] == [type(v) for v in other.values], where
    rows = [
        sorted((_plain(rollup_row(key, agg, p, r, v)) for (p, r, key), (agg, v) in u.touched.items()), key=repr)
        for u in (by_rows, by_columns)
    ]
    assert rows[0] == rows[1]


Drawn = list[tuple[tuple[dict[str, Any], datetime], int]]
stream = st.lists(st.tuples(events(), st.integers(0, 2)), min_size=1, max_size=60)
hot_stream = st.lists(st.tuples(events(hot=True), st.integers(0, 1)), min_size=20, max_size=80)


@settings(max_examples=120, derandomize=True, deadline=None)
@given(drawn=stream, cuts=st.lists(st.integers(0, 60), max_size=3), span=st.sampled_from([2, 7, 25, 5000]))
def test_the_columnar_path_counts_what_the_row_path_counts(drawn: Drawn, cuts: list[int], span: int) -> None:
    """Batch after batch (so partials also merge into ranges already holding values), both paths touch
    the same keys with the same aggregates and versions, and write the same rollup rows."""
    compare(drawn, cuts, span)


@settings(max_examples=60, derandomize=True, deadline=None)
@given(drawn=hot_stream, cuts=st.lists(st.integers(0, 80), min_size=1, max_size=4), span=st.sampled_from([9, 5000]))
def test_hot_keys_merge_float_sums_and_custom_measures_in_event_order(drawn: Drawn, cuts: list[int], span: int) -> None:
    """Many events per key over several batches: float sums (0.1 + 0.2 + 0.3 ...) come out bit for bit."""
    compare(drawn, cuts, span)


def compare(drawn: Drawn, cuts: list[int], span: int, aggregation: Aggregation = AGGREGATION) -> None:
    paths, offsets = Paths(span, aggregation), dict[int, int]()
    bounds = [0, *sorted(c % (len(drawn) + 1) for c in cuts), len(drawn)]
    for lo, hi in itertools.pairwise(bounds):
        if lo == hi:
            continue
        part = drawn[lo:hi]
        records = records_of([e for e, _ in part], [p for _, p in part], offsets)
        batch = _batch(records)
        assert_same(paths.by_rows(records, batch), paths.by_columns(records, batch))


# --- the registry's columnar sources agree with its row sources, event by event ---------------------


@settings(max_examples=60, derandomize=True, deadline=None)
@given(drawn=st.lists(events(), min_size=1, max_size=40))
def test_every_columnar_source_gives_the_row_sources_value(drawn: list[tuple[dict[str, Any], datetime]]) -> None:
    records = records_of(drawn, [0] * len(drawn), {})
    batch = _batch(records)
    inputs = ColumnarAggregation()._inputs(frame_of(batch, [r.offset for r in records], 5000))
    for j, row in enumerate(batch.rows):
        late = inputs["late"][j]
        for type_, rollup in REGISTRY.types.items():
            own = (type_ == REGISTRY.late) == late and (late or type_ == row["type"])
            for slot, dimension in zip(("d1", "d2", "d3"), rollup.dimensions, strict=False):
                got = inputs[f"_{type_}_{slot}"][j]
                assert got == (dimension.read()(row) if own else None), (type_, dimension.name, row)
        for i, m in enumerate(REGISTRY.measures):
            got = inputs[f"_m{i}"][j]
            want = m.value()(row) if m.applies_to(row["type"]) else None
            if m.merge == "sum_array" and want is not None:
                want = want[0]  # (bucket, 1): the column holds the bucket
            assert (got == want and type(got) is type(want)) or (got == want == 0), (m.name, got, want, row)


def test_a_wrong_columnar_source_is_caught() -> None:
    """The differential check fails on a source that disagrees (here: errors without session_ended's)."""
    wrong = Measure(
        "errors", "UInt64", "sum", REGISTRY.measure("errors").source,
        columnar=Columnar(lambda pl: (pl.col("status") == "error").cast(pl.UInt64)),
    )  # fmt: skip
    registry = type(REGISTRY)(REGISTRY.types, tuple(wrong if m.name == "errors" else m for m in REGISTRY.measures))
    paths = Paths(5000, Aggregation(registry))
    doc = {"event_id": str(uuid.uuid4()), "type": "session_ended", "tenant_id": "t-ny", "timestamp": NOW.isoformat()}
    records = records_of([({**doc, "session_id": "s", "reason": "error"}, NOW)], [0], {})
    batch = _batch(records)
    with pytest.raises(AssertionError):
        assert_same(paths.by_rows(records, batch), paths.by_columns(records, batch))


# --- other merges (a toy registry): max, min, last, sum_array with amounts --------------------------

TOY = REGISTRY.with_measure(
    Measure("slowest", "UInt32", "max", "latency_ms", frozenset({"llm_call", "tool_call"}))
).with_measure(
    Measure("fastest", "UInt32", "min", lambda r: r["latency_ms"] or None, columnar=Columnar(lambda pl: pl.when(pl.col("latency_ms") > 0).then(pl.col("latency_ms"))))
).with_measure(
    Measure(
        "last_model", "Tuple(DateTime64(3), String)", "last", lambda r: (r["ts"], r["model"]), frozenset({"llm_call"}),
        columnar=Columnar(lambda pl: pl.struct(pl.col("ts").dt.strftime("%Y-%m-%d %H:%M:%S%.3f").alias("time"), pl.col("model").alias("value"))),
    )
).with_measure(
    Measure(
        "tokens_by_status", "Array(UInt64)", "sum_array", lambda r: (int(r["status"] == "error"), r["input_tokens"]),
        frozenset({"llm_call"}), size=2,
        columnar=Columnar(lambda pl: pl.struct((pl.col("status") == "error").cast(pl.Int64).alias("index"), pl.col("input_tokens").alias("amount"))),
    )
)  # fmt: skip


@settings(max_examples=40, derandomize=True, deadline=None)
@given(drawn=stream, cuts=st.lists(st.integers(0, 60), max_size=2))
def test_max_min_last_and_weighted_arrays_of_a_toy_registry(drawn: Drawn, cuts: list[int]) -> None:
    compare(drawn, cuts, 25, Aggregation(TOY))


def test_ordered_contributions_replay_in_event_order() -> None:
    assert 0.1 + Ordered([0.2, 0.3]) == (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3)
    assert list(Ordered([{"a": 1.0}, {"a": 2.0, "b": 0.0}]).items()) == [("a", 1.0), ("a", 2.0), ("b", 0.0)]
