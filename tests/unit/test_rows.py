from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import pytest

from processors.dedup import classify
from processors.pricing import PriceBook
from processors.rows import Batch, Record, build_batch, event_row
from schemas.ddl import EVENTS_COLUMN_NAMES
from schemas.events import parse_event
from schemas.records import EVENTS_BATCH_V1
from schemas.tenancy import PriceOverride
from tests.factories import llm_call, message

TS = datetime(2026, 11, 21, 10, 30, 0, 123456, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 10, 31, tzinfo=UTC)
BOOK = PriceBook()


def first_copies(batch: Batch) -> tuple[list[Any], int]:
    """The rows counted when nothing is stored yet, and how many later copies of an id were dropped."""
    classified = classify(batch.rows, {})
    return classified.new, classified.batch_duplicates


def rec(event: dict[str, Any]) -> tuple[bytes, bytes]:
    return event["tenant_id"].encode(), orjson.dumps(event)


def event(type_: str, tenant_id: str = "acme", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "tenant_id": tenant_id,
        "timestamp": TS.isoformat(),
        **fields,
    }


def one_row(doc: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    batch = build_batch([rec(doc)], BOOK, NOW, **kwargs)
    assert batch.dead == [], [d.reason for d in batch.dead]
    (row,) = batch.rows
    return row


#: One valid event of every type (with its optional fields set).
EVERY_TYPE: dict[str, dict[str, Any]] = {
    "session_started": event("session_started", session_id="s-1", channel="whatsapp"),
    "session_ended": event("session_ended", session_id="s-1", reason="timeout", duration_ms=65_000),
    "message": message("acme", TS, role="assistant", content_chars=12),
    "llm_call": llm_call("acme", TS),
    "tool_call": event("tool_call", session_id="s-1", tool_name="order_status", latency_ms=33),
    "product_event": event("product_event", action="clicked", product_id="SKU-1"),
    "search": event("search", query="red shoes", results_count=0, latency_ms=12),
    "conversion": event("conversion", session_id="s-1", order_id="o-1", revenue="19.99"),
    "feedback": event("feedback", rating=4),
    "custom": event("custom", name="build.completed", dimensions={"status": "ok"}, measures={"duration_s": 12.5}),
}

#: The empty value of every column, the way an event type that does not use it leaves it.
EMPTY = {
    "session_id": "",
    "end_user_id": "",
    "domain": "",
    "feature": "",
    "operation": "",
    "provider": "",
    "model": "",
    "input_tokens": 0,
    "output_tokens": 0,
    "cached_input_tokens": 0,
    "reasoning_tokens": 0,
    "audio_seconds": 0,
    "latency_ms": 0,
    "status": "",
    "error_type": "",
    "role": "",
    "content_chars": 0,
    "channel": "",
    "end_reason": "",
    "tool_name": "",
    "product_action": "",
    "product_id": "",
    "product_name": "",
    "product_category": "",
    "search_query": "",
    "results_count": 0,
    "order_id": "",
    "revenue": Decimal(0),
    "currency": "",
    "attributed_session_id": "",
    "rating": 0,
    "thumbs": 0,
    "comment_chars": 0,
    "name": "",
    "dimensions": {},
    "measures": {},
    "properties": {},
    # a bare (key, value) record has no position: 0 / 0
    "source_partition": 0,
    "source_offset": 0,
    "source_index": 0,
}

#: The columns each type fills (beyond the common ones).
FILLED: dict[str, dict[str, Any]] = {
    "session_started": {"session_id": "s-1", "channel": "whatsapp"},
    "session_ended": {"session_id": "s-1", "end_reason": "timeout", "latency_ms": 65_000},
    "message": {"session_id": "s-1", "role": "assistant", "content_chars": 12},
    "llm_call": {
        "session_id": "s-1",
        "operation": "chat",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 1000,
        "output_tokens": 500,
        "latency_ms": 420,
        "status": "ok",
    },
    "tool_call": {"session_id": "s-1", "tool_name": "order_status", "latency_ms": 33, "status": "ok"},
    "product_event": {"product_action": "clicked", "product_id": "SKU-1"},
    "search": {"search_query": "red shoes", "results_count": 0, "latency_ms": 12},
    "conversion": {
        "session_id": "s-1",
        "order_id": "o-1",
        "revenue": Decimal("19.99"),
        "currency": "USD",
        "attributed_session_id": "s-1",
    },
    "feedback": {"rating": 4},
    "custom": {"name": "build.completed", "dimensions": {"status": "ok"}, "measures": {"duration_s": 12.5}},
}


def test_every_type_is_covered() -> None:
    from schemas.events import EVENT_TYPES

    assert set(EVERY_TYPE) == set(EVENT_TYPES) == set(FILLED)
    assert set(EMPTY) | {"tenant_id", "event_id", "type", "ts", "cost_usd", "price_status"} | {
        "schema_version",
        "ingested_at",
    } == set(EVENTS_COLUMN_NAMES)


@pytest.mark.parametrize("type_", list(EVERY_TYPE))
def test_row_keys_are_the_events_columns_in_order(type_: str) -> None:
    row = one_row(EVERY_TYPE[type_])
    assert tuple(row) == EVENTS_COLUMN_NAMES


@pytest.mark.parametrize("type_", list(EVERY_TYPE))
def test_each_type_fills_its_columns_and_leaves_the_rest_empty(type_: str) -> None:
    doc = EVERY_TYPE[type_]
    row = one_row(doc)
    assert row["tenant_id"] == "acme"
    assert row["event_id"] == doc["event_id"]
    assert row["type"] == type_
    assert row["ts"] == "2026-11-21 10:30:00.123"
    assert row["ingested_at"] == "2026-11-21 10:31:00.000"
    assert row["schema_version"] == 1
    expected = {**EMPTY, **FILLED[type_]}
    assert {k: row[k] for k in expected} == expected


@pytest.mark.parametrize("type_", [t for t in EVERY_TYPE if t != "llm_call"])
def test_only_llm_calls_are_priced(type_: str) -> None:
    row = one_row(EVERY_TYPE[type_])
    assert (row["cost_usd"], row["price_status"]) == (Decimal("0E-12"), "not_applicable")


def test_llm_call_becomes_a_priced_row_with_every_column() -> None:
    doc = llm_call("acme", TS, cached_input_tokens=200, reasoning_tokens=50, feature="chat", properties={"k": "v"})
    batch = build_batch([rec(doc)], PriceBook(), NOW)
    assert batch.dead == [] and batch.unknown_model == 0 and batch.duplicates == 0
    (row,) = batch.rows
    assert tuple(row) == EVENTS_COLUMN_NAMES
    assert row["ts"] == "2026-11-21 10:30:00.123"
    assert row["ingested_at"] == "2026-11-21 10:31:00.000"
    assert row["cost_usd"] == Decimal("0.000435000000")
    assert row["price_status"] == "priced"
    assert (row["input_tokens"], row["cached_input_tokens"], row["reasoning_tokens"]) == (1000, 200, 50)
    assert (row["feature"], row["error_type"], row["role"], row["properties"]) == ("chat", "", "", {"k": "v"})


def test_llm_call_error_columns() -> None:
    row = one_row(llm_call("acme", TS, status="error", error_type="RateLimitError"))
    assert (row["status"], row["error_type"]) == ("error", "RateLimitError")


def test_transcription_keeps_operation_and_audio_seconds_and_is_priced_by_duration() -> None:
    doc = llm_call(
        "acme", TS, operation="transcription", model="whisper-1", input_tokens=0, output_tokens=0, audio_seconds=30
    )
    row = one_row(doc)
    assert (row["operation"], row["model"], row["audio_seconds"]) == ("transcription", "whisper-1", 30.0)
    assert (row["cost_usd"], row["price_status"]) == (Decimal("0.003000000000"), "priced")


def test_common_optional_columns() -> None:
    row = one_row(message("acme", TS, end_user_id="u-9", domain="shop.example", properties={"lang": "fr"}))
    assert (row["end_user_id"], row["domain"], row["properties"]) == ("u-9", "shop.example", {"lang": "fr"})


def test_timestamp_with_offset_is_stored_in_utc() -> None:
    row = one_row(message("acme", TS, timestamp="2026-11-21T12:30:00.5+02:00"))
    assert row["ts"] == "2026-11-21 10:30:00.500"


def test_message_row_is_not_priced() -> None:
    batch = build_batch([rec(message("acme", TS, role="assistant", content_chars=12))], PriceBook(), NOW)
    (row,) = batch.rows
    assert (row["type"], row["role"], row["content_chars"]) == ("message", "assistant", 12)
    assert (row["cost_usd"], row["price_status"]) == (Decimal(0), "not_applicable")


def test_session_ended_default_reason_and_no_duration() -> None:
    row = one_row(event("session_ended", session_id="s-2"))
    assert (row["end_reason"], row["latency_ms"], row["session_id"]) == ("completed", 0, "s-2")


def test_tool_call_error() -> None:
    row = one_row(event("tool_call", tool_name="search_catalog", status="error", error_type="Timeout"))
    assert (row["tool_name"], row["status"], row["error_type"], row["latency_ms"]) == (
        "search_catalog",
        "error",
        "Timeout",
        0,
    )


def test_product_event_optional_columns() -> None:
    row = one_row(
        event(
            "product_event",
            action="added_to_cart",
            product_id="SKU-2",
            product_name="Red shoes",
            category="shoes",
            feature="recommendations",
        )
    )
    assert (row["product_action"], row["product_id"], row["product_name"], row["product_category"]) == (
        "added_to_cart",
        "SKU-2",
        "Red shoes",
        "shoes",
    )
    assert row["feature"] == "recommendations"


def test_conversion_revenue_is_exact() -> None:
    row = one_row(event("conversion", order_id="o-2", revenue="12345678901234.123456789012", currency="EUR"))
    assert row["revenue"] == Decimal("12345678901234.123456789012")
    assert str(row["revenue"]) == "12345678901234.123456789012"
    assert row["currency"] == "EUR"


def test_conversion_revenue_sent_as_a_json_number() -> None:
    row = one_row(event("conversion", order_id="o-3", revenue=19.99))
    assert row["revenue"] == Decimal("19.99")


def test_conversion_attributed_session_defaults_to_session_id() -> None:
    row = one_row(event("conversion", session_id="s-7", order_id="o-4", revenue="1"))
    assert row["attributed_session_id"] == "s-7"


def test_conversion_explicit_attributed_session_wins() -> None:
    row = one_row(
        event("conversion", session_id="s-7", attributed_session_id="s-3", order_id="o-5", revenue="1", feature="chat")
    )
    assert (row["session_id"], row["attributed_session_id"], row["feature"]) == ("s-7", "s-3", "chat")


def test_conversion_category_fills_the_product_category_column() -> None:
    row = one_row(event("conversion", order_id="o-7", revenue="5", category="pumps"))
    assert (row["product_category"], row["product_id"]) == ("pumps", "")
    assert one_row(event("conversion", order_id="o-8", revenue="5"))["product_category"] == ""


def test_conversion_without_any_session_has_empty_attribution() -> None:
    row = one_row(event("conversion", order_id="o-6", revenue="0"))
    assert (row["attributed_session_id"], row["revenue"]) == ("", Decimal(0))


@pytest.mark.parametrize(
    ("score", "rating", "thumbs"),
    [
        ({"rating": 1}, 1, 0),
        ({"rating": 5}, 5, 0),
        ({"thumbs": "up"}, 0, 1),
        ({"thumbs": "down"}, 0, -1),
    ],
)
def test_feedback_rating_and_thumbs(score: dict[str, Any], rating: int, thumbs: int) -> None:
    row = one_row(event("feedback", comment_chars=80, **score))
    assert (row["rating"], row["thumbs"], row["comment_chars"]) == (rating, thumbs, 80)


def test_custom_event_columns() -> None:
    row = one_row(
        event(
            "custom",
            name="deploy:finished",
            dimensions={"site_type": "shop", "industry": "retail"},
            measures={"pages": 3, "duration_s": -1.25},
        )
    )
    assert row["name"] == "deploy:finished"
    assert row["dimensions"] == {"site_type": "shop", "industry": "retail"}
    assert row["measures"] == {"pages": 3.0, "duration_s": -1.25}


def test_custom_event_without_dimensions_or_measures() -> None:
    row = one_row(event("custom", name="signup"))
    assert (row["name"], row["dimensions"], row["measures"]) == ("signup", {}, {})


def test_unknown_model_rows_are_kept_and_counted() -> None:
    records = [rec(llm_call("acme", TS, model="mystery-1")), rec(llm_call("acme", TS, model="mystery-1"))]
    batch = build_batch(records, PriceBook(), NOW)
    assert [r["price_status"] for r in batch.rows] == ["unknown_model", "unknown_model"]
    assert [r["cost_usd"] for r in batch.rows] == [Decimal(0), Decimal(0)]
    assert batch.unknown_model == 2
    assert first_copies(batch)[1] == 0


def test_repeated_event_in_one_batch_is_dropped_and_counted() -> None:
    doc = llm_call("acme", TS)
    other = message("acme", TS)
    batch = build_batch([rec(doc), rec(other), rec(doc), rec(doc)], PriceBook(), NOW)
    assert len(batch.rows) == 4  # copies are told apart once the batch is checked against what is stored
    rows, copies = first_copies(batch)
    assert [r["event_id"] for r in rows] == [doc["event_id"], other["event_id"]]
    assert copies == 2
    assert batch.dead == []


def test_same_event_id_is_a_duplicate_even_if_the_body_differs() -> None:
    first = llm_call("acme", TS, input_tokens=10)
    second = {**first, "input_tokens": 20}
    batch = build_batch([rec(first), rec(second)], PriceBook(), NOW)
    rows, copies = first_copies(batch)
    assert [r["input_tokens"] for r in rows] == [10]
    assert copies == 1


def test_same_event_id_of_two_tenants_is_not_a_duplicate() -> None:
    doc = message("acme", TS)
    batch = build_batch([rec(doc), rec({**doc, "tenant_id": "globex"})], PriceBook(), NOW)
    rows, copies = first_copies(batch)
    assert [r["tenant_id"] for r in rows] == ["acme", "globex"]
    assert copies == 0


def test_dead_letters_do_not_mark_an_event_as_seen() -> None:
    doc = message("acme", TS)
    batch = build_batch([(b"globex", orjson.dumps(doc)), rec(doc)], PriceBook(), NOW)
    assert len(batch.rows) == 1
    assert first_copies(batch)[1] == 0
    assert [d.reason for d in batch.dead] == ["record key is not the event's tenant_id"]


def test_duplicate_unknown_model_is_counted_once() -> None:
    doc = llm_call("acme", TS, model="mystery-2")
    batch = build_batch([rec(doc), rec(doc)], PriceBook(), NOW)
    rows, copies = first_copies(batch)
    assert (len(rows), copies) == (1, 1)
    assert [r["price_status"] for r in rows] == ["unknown_model"]


def test_record_without_a_key_is_accepted() -> None:
    batch = build_batch([(None, orjson.dumps(message("acme", TS)))], PriceBook(), NOW)
    assert len(batch.rows) == 1 and batch.dead == []


def test_empty_batch() -> None:
    batch = build_batch([], PriceBook(), NOW)
    assert (batch.rows, batch.dead, batch.unknown_model, batch.duplicates) == ([], [], 0, 0)
    assert (batch.times, batch.arrivals) == ([], [])


# --- record positions, event times and arrivals ------------------------------------------------

ARRIVAL = datetime(2026, 11, 21, 10, 30, 5, 250000, tzinfo=UTC)


def test_record_position_goes_into_the_row_and_times_and_arrivals_are_filled() -> None:
    doc = llm_call("acme", TS)
    record = Record(b"acme", orjson.dumps(doc), partition=7, offset=123_456_789_012, timestamp=ARRIVAL)
    batch = build_batch([record], PriceBook(), NOW)
    assert batch.dead == []
    (row,) = batch.rows
    assert tuple(row) == EVENTS_COLUMN_NAMES
    assert (row["source_partition"], row["source_offset"]) == (7, 123_456_789_012)
    assert (row["event_id"], row["ts"]) == (doc["event_id"], "2026-11-21 10:30:00.123")
    assert batch.times == [TS]
    assert batch.arrivals == [ARRIVAL]


def test_record_fields_and_defaults() -> None:
    assert Record._fields == ("key", "value", "partition", "offset", "timestamp", "format")
    assert Record(b"k", b"v") == (b"k", b"v", 0, 0, None, None)
    assert Batch() == Batch([], [], [], [], 0, 0)


def test_bare_pair_has_position_zero_and_no_arrival() -> None:
    batch = build_batch([rec(message("acme", TS))], PriceBook(), NOW)
    (row,) = batch.rows
    assert (row["source_partition"], row["source_offset"]) == (0, 0)
    assert batch.times == [TS]
    assert batch.arrivals == [None]


def test_records_and_bare_pairs_can_be_mixed() -> None:
    first, second = message("acme", TS), llm_call("acme", TS)
    batch = build_batch([Record(b"acme", orjson.dumps(first), 3, 40), rec(second)], PriceBook(), NOW)
    assert [(r["event_id"], r["source_partition"], r["source_offset"]) for r in batch.rows] == [
        (first["event_id"], 3, 40),
        (second["event_id"], 0, 0),
    ]
    assert batch.arrivals == [None, None]


def test_times_are_the_event_timestamps_in_utc() -> None:
    docs = [
        message("acme", TS, timestamp="2026-11-21T12:30:00.5+02:00"),
        message("acme", TS, timestamp="2026-11-20T23:59:59Z"),
    ]
    batch = build_batch([Record(b"acme", orjson.dumps(d), 0, i) for i, d in enumerate(docs)], PriceBook(), NOW)
    assert batch.times == [
        datetime(2026, 11, 21, 10, 30, 0, 500000, tzinfo=UTC),
        datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC),
    ]
    assert [t.utcoffset() for t in batch.times] == [timedelta(0), timedelta(0)]


def test_times_and_arrivals_stay_parallel_to_rows_when_records_are_dropped() -> None:
    kept_a = llm_call("acme", TS)
    kept_b = message("acme", TS, timestamp="2026-11-21T09:00:00Z")
    arrival = [datetime(2026, 11, 21, 10, 30, s, tzinfo=UTC) for s in range(6)]
    records = [
        Record(b"acme", b"{not json", 2, 10, arrival[0]),
        Record(b"acme", orjson.dumps(kept_a), 2, 11, arrival[1]),
        Record(b"globex", orjson.dumps(message("acme", TS)), 2, 12, arrival[2]),  # wrong key
        Record(b"acme", orjson.dumps(kept_a), 2, 13, arrival[3]),  # duplicate of offset 11
        Record(b"acme", orjson.dumps(kept_b), 2, 14, arrival[4]),
        Record(b"acme", orjson.dumps(llm_call("acme", TS, timestamp="2026-11-23T00:00:00Z")), 2, 15, arrival[5]),
    ]
    batch = build_batch(records, PriceBook(), NOW)
    assert [(r["event_id"], r["source_offset"]) for r in batch.rows] == [
        (kept_a["event_id"], 11),
        (kept_a["event_id"], 13),  # a copy: classify keeps the first place not stored (or the stored one)
        (kept_b["event_id"], 14),
    ]
    assert batch.times == [TS, TS, datetime(2026, 11, 21, 9, 0, tzinfo=UTC)]
    assert batch.arrivals == [arrival[1], arrival[3], arrival[4]]
    assert [(r["source_offset"]) for r in first_copies(batch)[0]] == [11, 14]
    assert [d.reason.split(":")[0] for d in batch.dead] == [
        "not JSON",
        "record key is not the event's tenant_id",
        "timestamp more than a day in the future",
    ]


def test_bad_records_become_dead_letters_with_reasons() -> None:
    good = llm_call("acme", TS)
    records = [
        (b"acme", b"{not json"),
        rec(llm_call("acme", TS, input_tokens=-5)),
        (b"other-tenant", orjson.dumps(good)),
        rec(good),
    ]
    batch = build_batch(records, PriceBook(), NOW)
    assert len(batch.rows) == 1
    reasons = [d.reason for d in batch.dead]
    assert reasons[0].startswith("not JSON")
    assert reasons[1].startswith("invalid event: llm_call.input_tokens: Input should be greater than or equal to 0")
    assert reasons[2] == "record key is not the event's tenant_id"
    assert batch.dead[0].value == b"{not json"
    assert batch.dead[2].key == b"other-tenant"


def test_invalid_new_type_fields_become_dead_letters() -> None:
    records = [
        rec(event("feedback", rating=4, thumbs="up")),
        rec(event("conversion", order_id="o", revenue="1", currency="usd")),
    ]
    batch = build_batch(records, PriceBook(), NOW)
    assert batch.rows == []
    assert [d.reason for d in batch.dead] == [
        "invalid event: feedback: Value error, feedback needs exactly one of rating (1-5) or thumbs (up/down)",
        "invalid event: conversion.currency: String should match pattern '^[A-Z]{3}$'",
    ]


# --- tenant price overrides ---------------------------------------------------------------------

OVERRIDE = PriceOverride(
    input_per_mtok=Decimal("1"), cached_input_per_mtok=Decimal("0.5"), output_per_mtok=Decimal("2")
)


def acme_gpt_4o_mini(tenant_id: str, provider: str, model: str) -> PriceOverride | None:
    return OVERRIDE if (tenant_id, provider, model) == ("acme", "openai", "gpt-4o-mini") else None


def test_tenant_override_replaces_the_list_price() -> None:
    row = one_row(llm_call("acme", TS, cached_input_tokens=200), overrides=acme_gpt_4o_mini)
    # 800 x $1/M + 200 x $0.5/M + 500 x $2/M
    assert (row["cost_usd"], row["price_status"]) == (Decimal("0.001900000000"), "tenant_price")


def test_override_lookup_receives_tenant_provider_and_model() -> None:
    seen: list[tuple[str, str, str]] = []

    def lookup(tenant_id: str, provider: str, model: str) -> PriceOverride | None:
        seen.append((tenant_id, provider, model))
        return None

    records = [rec(llm_call("acme", TS, provider="anthropic", model="claude-x")), rec(message("acme", TS))]
    build_batch(records, PriceBook(), NOW, overrides=lookup)
    assert seen == [("acme", "anthropic", "claude-x")]


def test_other_tenants_and_models_keep_the_list_price() -> None:
    records = [rec(llm_call("globex", TS)), rec(llm_call("acme", TS, model="gpt-4o"))]
    batch = build_batch(records, PriceBook(), NOW, overrides=acme_gpt_4o_mini)
    assert [r["price_status"] for r in batch.rows] == ["priced", "priced"]
    assert batch.rows[0]["cost_usd"] == Decimal("0.000450000000")  # 1000 x $0.15/M + 500 x $0.60/M


def test_override_prices_a_model_genai_prices_does_not_know() -> None:
    def lookup(tenant_id: str, provider: str, model: str) -> PriceOverride | None:
        return OVERRIDE if model == "in-house-7b" else None

    records = [rec(llm_call("acme", TS, model="in-house-7b")), rec(llm_call("acme", TS, model="mystery-3"))]
    batch = build_batch(records, PriceBook(), NOW, overrides=lookup)
    assert [(r["cost_usd"], r["price_status"]) for r in batch.rows] == [
        (Decimal("0.002000000000"), "tenant_price"),
        (Decimal(0), "unknown_model"),
    ]
    assert batch.unknown_model == 1


def test_event_row_directly() -> None:
    parsed = parse_event(EVERY_TYPE["search"])
    row = event_row(parsed, BOOK, "2026-11-21 10:31:00.000")
    assert tuple(row) == EVENTS_COLUMN_NAMES
    assert (row["search_query"], row["results_count"], row["ingested_at"]) == (
        "red shoes",
        0,
        "2026-11-21 10:31:00.000",
    )


# --- batch records (schemas.records) ---------------------------------------------------------------


def batch_record(events: list[bytes], partition: int = 2, offset: int = 40) -> Record:
    return Record(b"acme", b"\n".join(events), partition, offset, NOW, EVENTS_BATCH_V1)


def test_a_batch_record_becomes_one_row_per_event_placed_by_index() -> None:
    docs = [llm_call("acme", TS), message("acme", TS), event("search", query="q", results_count=1, latency_ms=3)]
    batch = build_batch([batch_record([orjson.dumps(d) for d in docs])], BOOK, NOW)
    assert batch.dead == []
    assert [r["event_id"] for r in batch.rows] == [d["event_id"] for d in docs]
    assert [(r["source_partition"], r["source_offset"], r["source_index"]) for r in batch.rows] == [
        (2, 40, 0),
        (2, 40, 1),
        (2, 40, 2),
    ]
    assert batch.arrivals == [NOW] * 3


def test_a_single_event_record_is_at_index_zero() -> None:
    row = one_row(llm_call("acme", TS))
    assert (row["source_partition"], row["source_offset"], row["source_index"]) == (0, 0, 0)


def test_an_invalid_event_in_a_batch_dead_letters_only_itself_with_its_index() -> None:
    good = [orjson.dumps(llm_call("acme", TS)), orjson.dumps(message("acme", TS))]
    bad = orjson.dumps({**llm_call("acme", TS), "input_tokens": -1})
    foreign = orjson.dumps(message("globex", TS))
    batch = build_batch([batch_record([good[0], bad, b"{nope", foreign, good[1]])], BOOK, NOW)
    assert [r["source_index"] for r in batch.rows] == [0, 4]
    assert [(d.index, d.value, d.key, d.format) for d in batch.dead] == [
        (1, bad, b"acme", None),
        (2, b"{nope", b"acme", None),
        (3, foreign, b"acme", None),
    ]
    reasons = [d.reason for d in batch.dead]
    assert reasons[0].startswith("invalid event: llm_call.input_tokens")
    assert reasons[1].startswith("not JSON")
    assert reasons[2] == "record key is not the event's tenant_id"


def test_a_batch_record_with_broken_framing_is_dead_lettered_whole() -> None:
    value = orjson.dumps(llm_call("acme", TS)) + b"\n\n" + orjson.dumps(message("acme", TS))
    record = Record(b"acme", value, 1, 9, NOW, EVENTS_BATCH_V1)
    unknown = Record(b"acme", orjson.dumps(message("acme", TS)), 1, 10, NOW, b"events-batch-v7")
    batch = build_batch([record, unknown, rec(message("acme", TS))], BOOK, NOW)
    assert len(batch.rows) == 1  # the single-event record after them
    assert [(d.value, d.index, d.format) for d in batch.dead] == [
        (value, None, EVENTS_BATCH_V1),
        (unknown.value, None, b"events-batch-v7"),
    ]
    assert batch.dead[0].reason == "bad batch record: line 1 is empty"
    assert batch.dead[1].reason.startswith("bad batch record: unknown tally-format b'events-batch-v7'")


def test_the_same_id_twice_in_one_batch_record_is_kept_once() -> None:
    doc = llm_call("acme", TS)
    batch = build_batch([batch_record([orjson.dumps(doc), orjson.dumps(doc)])], BOOK, NOW)
    rows, copies = first_copies(batch)
    assert ([r["source_index"] for r in rows], copies) == ([0], 1)


def test_single_event_and_batch_records_mix_in_one_batch() -> None:
    a, b, c = llm_call("acme", TS), message("acme", TS), message("acme", TS)
    records = [Record(b"acme", orjson.dumps(a), 2, 39, NOW), batch_record([orjson.dumps(b), orjson.dumps(c)])]
    batch = build_batch(records, BOOK, NOW)
    assert [(r["event_id"], r["source_offset"], r["source_index"]) for r in batch.rows] == [
        (a["event_id"], 39, 0),
        (b["event_id"], 40, 0),
        (c["event_id"], 40, 1),
    ]
