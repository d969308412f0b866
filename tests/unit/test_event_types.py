from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from schemas.events import (
    EVENT_MODELS,
    EVENT_TYPES,
    Conversion,
    CustomEvent,
    Feedback,
    LlmCall,
    Message,
    ProductEvent,
    Search,
    SessionEnded,
    SessionStarted,
    ToolCall,
    describe_validation_error,
    event_to_json,
    parse_event,
    parse_event_json,
)
from tests.factories import llm_call, message

TS = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
EVENT_ID = "7b1b7a2e-6f1e-4a55-9a57-2f8f3c7f4d10"


def base(type_: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": EVENT_ID, "type": type_, "tenant_id": "acme", "timestamp": "2026-11-21T10:30:00Z", **fields}


def error_of(doc: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        parse_event(doc)
    return describe_validation_error(info.value)


#: The smallest valid event of each type and its model.
MINIMAL: dict[str, tuple[dict[str, Any], type]] = {
    "session_started": (base("session_started", session_id="s-1"), SessionStarted),
    "session_ended": (base("session_ended", session_id="s-1"), SessionEnded),
    "message": (base("message", session_id="s-1", role="user"), Message),
    "llm_call": (base("llm_call", provider="openai", model="gpt-4o-mini", latency_ms=10), LlmCall),
    "tool_call": (base("tool_call", tool_name="lookup"), ToolCall),
    "product_event": (base("product_event", action="recommended", product_id="SKU-1"), ProductEvent),
    "search": (base("search", query="", results_count=0), Search),
    "conversion": (base("conversion", order_id="o-1", revenue="0"), Conversion),
    "feedback": (base("feedback", thumbs="up"), Feedback),
    "custom": (base("custom", name="x"), CustomEvent),
}

#: Every type with all its optional fields set.
FULL: dict[str, dict[str, Any]] = {
    "session_started": base(
        "session_started", session_id="s-1", channel="web", end_user_id="u-1", domain="shop.example"
    ),
    "session_ended": base("session_ended", session_id="s-1", reason="abandoned", duration_ms=1234),
    "message": base("message", session_id="s-1", role="system", content_chars=99, properties={"lang": "fr"}),
    "llm_call": base(
        "llm_call",
        session_id="s-1",
        operation="transcription",
        provider="groq",
        model="whisper-large-v3",
        input_tokens=10,
        output_tokens=20,
        cached_input_tokens=5,
        reasoning_tokens=3,
        audio_seconds=12.75,
        latency_ms=900,
        status="error",
        error_type="Timeout",
        feature="voice",
    ),
    "tool_call": base("tool_call", tool_name="order_status", latency_ms=44, status="error", error_type="E"),
    "product_event": base(
        "product_event",
        action="added_to_cart",
        product_id="SKU-1",
        product_name="Red shoes",
        category="shoes",
        feature="reco",
    ),
    "search": base("search", query="red shoes", results_count=7, latency_ms=12),
    "conversion": base(
        "conversion",
        session_id="s-1",
        order_id="o-1",
        revenue="1234.560000000001",
        currency="EUR",
        attributed_session_id="s-0",
        feature="chat",
        category="pumps",
    ),
    "feedback": base("feedback", rating=3, comment_chars=140),
    "custom": base(
        "custom",
        name="build.completed",
        dimensions={"status": "ok", "site_type": "shop"},
        measures={"duration_s": 12.5, "pages": 3.0},
    ),
}


def test_event_types_lists_the_ten_types_in_order() -> None:
    assert EVENT_TYPES == (
        "session_started",
        "session_ended",
        "message",
        "llm_call",
        "tool_call",
        "product_event",
        "search",
        "conversion",
        "feedback",
        "custom",
    )
    assert len(EVENT_MODELS) == 10
    assert set(MINIMAL) == set(FULL) == set(EVENT_TYPES)


@pytest.mark.parametrize("type_", list(MINIMAL))
def test_minimal_event_of_each_type_parses_to_its_model(type_: str) -> None:
    doc, model = MINIMAL[type_]
    event = parse_event(doc)
    assert type(event) is model
    assert event.type == type_
    assert str(event.event_id) == EVENT_ID
    assert event.timestamp == TS
    assert event.schema_version == 1


@pytest.mark.parametrize("type_", list(FULL))
def test_every_type_round_trips_through_its_wire_form(type_: str) -> None:
    event = parse_event(FULL[type_])
    wire = event_to_json(event)
    assert parse_event_json(wire) == event
    assert parse_event(orjson.loads(wire)) == event


@pytest.mark.parametrize("type_", list(MINIMAL))
def test_minimal_events_round_trip_without_nulls(type_: str) -> None:
    event = parse_event(MINIMAL[type_][0])
    decoded = orjson.loads(event_to_json(event))
    assert None not in decoded.values()
    assert parse_event_json(event_to_json(event)) == event


def test_wire_form_values() -> None:
    event = parse_event(FULL["conversion"])
    assert orjson.loads(event_to_json(event)) == {
        "schema_version": 1,
        "event_id": EVENT_ID,
        "tenant_id": "acme",
        "timestamp": "2026-11-21T10:30:00Z",
        "session_id": "s-1",
        "properties": {},
        "type": "conversion",
        "order_id": "o-1",
        "revenue": "1234.560000000001",
        "currency": "EUR",
        "attributed_session_id": "s-0",
        "feature": "chat",
        "category": "pumps",
    }


def test_defaults() -> None:
    ended = parse_event(MINIMAL["session_ended"][0])
    assert isinstance(ended, SessionEnded) and (ended.reason, ended.duration_ms) == ("completed", None)
    call = parse_event(MINIMAL["llm_call"][0])
    assert isinstance(call, LlmCall)
    assert (call.operation, call.status, call.audio_seconds, call.input_tokens) == ("chat", "ok", 0, 0)
    tool = parse_event(MINIMAL["tool_call"][0])
    assert isinstance(tool, ToolCall) and (tool.latency_ms, tool.status) == (0, "ok")
    conversion = parse_event(MINIMAL["conversion"][0])
    assert isinstance(conversion, Conversion) and (conversion.currency, conversion.category) == ("USD", None)
    custom = parse_event(MINIMAL["custom"][0])
    assert isinstance(custom, CustomEvent) and (custom.dimensions, custom.measures) == ({}, {})


def test_conversion_revenue_is_an_exact_decimal() -> None:
    event = parse_event(base("conversion", order_id="o", revenue="0.000000000001"))
    assert isinstance(event, Conversion)
    assert event.revenue == Decimal("0.000000000001")


def test_events_are_frozen() -> None:
    event = parse_event(MINIMAL["message"][0])
    with pytest.raises(ValidationError, match="frozen"):
        event.role = "assistant"  # type: ignore[misc]


# --- required fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "field"),
    [
        ("session_started", "session_id"),
        ("session_ended", "session_id"),
        ("message", "session_id"),
        ("message", "role"),
        ("llm_call", "provider"),
        ("llm_call", "model"),
        ("llm_call", "latency_ms"),
        ("tool_call", "tool_name"),
        ("product_event", "action"),
        ("product_event", "product_id"),
        ("search", "query"),
        ("search", "results_count"),
        ("conversion", "order_id"),
        ("conversion", "revenue"),
        ("custom", "name"),
    ],
)
def test_required_fields(type_: str, field: str) -> None:
    doc = dict(MINIMAL[type_][0])
    del doc[field]
    assert error_of(doc) == f"{type_}.{field}: Field required"


@pytest.mark.parametrize("field", ["event_id", "tenant_id", "timestamp"])
def test_common_required_fields(field: str) -> None:
    doc = dict(MINIMAL["message"][0])
    del doc[field]
    assert error_of(doc) == f"message.{field}: Field required"


def test_missing_type() -> None:
    doc = dict(MINIMAL["message"][0])
    del doc["type"]
    assert error_of(doc) == "(event): Unable to extract tag using discriminator 'type'"


def test_unknown_type_lists_the_known_ones() -> None:
    assert error_of(base("telepathy")) == (
        "(event): Input tag 'telepathy' found using 'type' does not match any of the expected tags: "
        "'session_started', 'session_ended', 'message', 'llm_call', 'tool_call', 'product_event', "
        "'search', 'conversion', 'feedback', 'custom'"
    )


@pytest.mark.parametrize("type_", ["session_started", "session_ended", "message"])
def test_session_id_must_not_be_empty_where_required(type_: str) -> None:
    doc = {**MINIMAL[type_][0], "session_id": ""}
    assert error_of(doc) == f"{type_}.session_id: String should have at least 1 character"


# --- clear error messages ---------------------------------------------------------------------------

FEEDBACK_ERROR = "feedback: Value error, feedback needs exactly one of rating (1-5) or thumbs (up/down)"


@pytest.mark.parametrize(
    ("doc", "error"),
    [
        (base("feedback", rating=5, thumbs="up"), FEEDBACK_ERROR),
        (base("feedback"), FEEDBACK_ERROR),
        (base("feedback", comment_chars=3), FEEDBACK_ERROR),
        (base("feedback", rating=0), "feedback.rating: Input should be greater than or equal to 1"),
        (base("feedback", rating=6), "feedback.rating: Input should be less than or equal to 5"),
        (base("feedback", thumbs="sideways"), "feedback.thumbs: Input should be 'up' or 'down'"),
        (
            base("conversion", order_id="o", revenue="1", currency="usd"),
            "conversion.currency: String should match pattern '^[A-Z]{3}$'",
        ),
        (
            base("conversion", order_id="o", revenue="1", currency="USDT"),
            "conversion.currency: String should match pattern '^[A-Z]{3}$'",
        ),
        (
            base("conversion", order_id="o", revenue="-0.01"),
            "conversion.revenue: Input should be greater than or equal to 0",
        ),
        (
            base("conversion", order_id="o", revenue="0.0000000000001"),
            "conversion.revenue: Decimal input should have no more than 12 decimal places",
        ),
        (base("conversion", order_id="", revenue="1"), "conversion.order_id: String should have at least 1 character"),
        (
            base("conversion", order_id="o", revenue="1", category="c" * 257),
            "conversion.category: String should have at most 256 characters",
        ),
        (
            base("conversion", order_id="o", revenue="1", category=["pumps"]),
            "conversion.category: Input should be a valid string",
        ),
        (
            base("custom", name="build done"),
            "custom.name: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'",
        ),
        (
            base("custom", name=".hidden"),
            "custom.name: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.:-]*$'",
        ),
        (base("custom", name=""), "custom.name: String should have at least 1 character"),
        (
            base("custom", name="x", measures={"load": "heavy"}),
            "custom.measures.load: Input should be a valid number, unable to parse string as a number",
        ),
        (base("custom", name="x", dimensions={"n": 1}), "custom.dimensions.n: Input should be a valid string"),
        (
            base("custom", name="x", measures={"big": 1e16}),
            "custom.measures.big: Input should be less than or equal to 1000000000000000",
        ),
        (base("custom", name="x", bogus=1), "custom.bogus: Extra inputs are not permitted"),
        (
            base("session_ended", session_id="s", reason="bored"),
            "session_ended.reason: Input should be 'completed', 'abandoned', 'timeout' or 'error'",
        ),
        (base("message", session_id="s", role="bot"), "message.role: Input should be 'user', 'assistant' or 'system'"),
        (
            base("llm_call", provider="p", model="m", latency_ms=1, operation="dance"),
            "llm_call.operation: Input should be 'chat', 'completion', 'embeddings', 'transcription', 'speech' or 'other'",
        ),
        (
            base("llm_call", provider="p", model="m", latency_ms=1, audio_seconds=-1),
            "llm_call.audio_seconds: Input should be greater than or equal to 0",
        ),
        (
            base("llm_call", provider="p", model="m", latency_ms=1, audio_seconds=86_401),
            "llm_call.audio_seconds: Input should be less than or equal to 86400",
        ),
        (
            base("llm_call", provider="p", model="m", latency_ms=1, input_tokens=1, cached_input_tokens=2),
            "llm_call: Value error, cached_input_tokens must not exceed input_tokens (input_tokens counts cached ones)",
        ),
        (
            base("product_event", action="bought", product_id="p"),
            "product_event.action: Input should be 'recommended', 'inquired', 'clicked' or 'added_to_cart'",
        ),
        (base("search", query="x" * 1025, results_count=1), "search.query: String should have at most 1024 characters"),
        (
            base("search", query="x", results_count=-1),
            "search.results_count: Input should be greater than or equal to 0",
        ),
        (base("tool_call", tool_name="t", status="fine"), "tool_call.status: Input should be 'ok' or 'error'"),
        (base("message", session_id="s", role="user", schema_version=2), "message.schema_version: Input should be 1"),
        (
            base("message", session_id="s", role="user", timestamp="2026-11-21T10:30:00"),
            "message.timestamp: Value error, timestamp must carry a UTC offset (RFC 3339), e.g. 2026-01-31T12:00:00Z",
        ),
    ],
)
def test_error_messages(doc: dict[str, Any], error: str) -> None:
    assert error_of(doc) == error


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_measures_must_be_finite(value: float) -> None:
    assert (
        error_of(base("custom", name="x", measures={"m": value}))
        == "custom.measures.m: Input should be a finite number"
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_audio_seconds_must_be_finite(value: float) -> None:
    doc = base("llm_call", provider="p", model="m", latency_ms=1, audio_seconds=value)
    assert error_of(doc) == "llm_call.audio_seconds: Input should be a finite number"


def test_nan_in_json_text_is_rejected() -> None:
    raw = orjson.dumps(base("custom", name="x")).replace(b'"name":"x"', b'"name":"x","measures":{"m":NaN}')
    with pytest.raises(ValidationError):
        parse_event_json(raw)


@pytest.mark.parametrize("type_", list(MINIMAL))
def test_every_type_forbids_unknown_fields(type_: str) -> None:
    doc = {**MINIMAL[type_][0], "surprise": 1}
    assert error_of(doc) == f"{type_}.surprise: Extra inputs are not permitted"


@pytest.mark.parametrize("name", ["build.completed", "deploy:prod", "a-b_c", "X", "9lives"])
def test_valid_custom_names(name: str) -> None:
    event = parse_event(base("custom", name=name))
    assert isinstance(event, CustomEvent) and event.name == name


@pytest.mark.parametrize("fields", [{"rating": 1}, {"rating": 5}, {"thumbs": "up"}, {"thumbs": "down"}])
def test_feedback_with_exactly_one_score_is_valid(fields: dict[str, Any]) -> None:
    event = parse_event(base("feedback", **fields))
    assert isinstance(event, Feedback)


def test_several_errors_are_joined() -> None:
    doc = base("search")
    assert error_of(doc) == "search.query: Field required; search.results_count: Field required"


def test_factories_build_valid_events() -> None:
    assert isinstance(parse_event(llm_call("acme", TS)), LlmCall)
    assert isinstance(parse_event(message("acme", TS)), Message)


def test_event_id_is_a_uuid() -> None:
    event = parse_event(MINIMAL["message"][0])
    assert event.event_id == uuid.UUID(EVENT_ID)
