from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from schemas.events import LlmCall, Message, event_to_json, parse_event, parse_event_json
from tests.factories import llm_call, message

TS = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)


def test_llm_call_defaults_and_utc_normalisation() -> None:
    paris = datetime(2026, 11, 21, 11, 30, tzinfo=timezone(timedelta(hours=1)))
    event = parse_event(llm_call("acme", paris))
    assert isinstance(event, LlmCall)
    assert event.timestamp == TS and event.timestamp.tzinfo == UTC
    assert (event.cached_input_tokens, event.reasoning_tokens, event.properties) == (0, 0, {})
    assert event.schema_version == 1


def test_message_round_trips_through_its_wire_form() -> None:
    event = parse_event(message("acme", TS, role="assistant", content_chars=42, properties={"lang": "fr"}))
    assert isinstance(event, Message)
    assert parse_event_json(event_to_json(event)) == event


@pytest.mark.parametrize(
    ("overrides", "field", "reason"),
    [
        ({"timestamp": "2026-11-21T10:30:00"}, "timestamp", "UTC offset"),
        ({"cached_input_tokens": 1001}, "(event)", "cached_input_tokens must not exceed input_tokens"),
        ({"reasoning_tokens": 501}, "(event)", "reasoning_tokens must not exceed output_tokens"),
        ({"input_tokens": -1}, "input_tokens", "greater than or equal to 0"),
        ({"status": "maybe"}, "status", "'ok' or 'error'"),
        ({"tenant_id": "bad tenant!"}, "tenant_id", "pattern"),
        ({"surprise": 1}, "surprise", "Extra inputs are not permitted"),
        ({"event_id": "not-a-uuid"}, "event_id", "UUID"),
    ],
)
def test_invalid_llm_call_names_the_field_and_reason(overrides: dict, field: str, reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_event({**llm_call("acme", TS), **overrides})
    errors = info.value.errors()
    locs = [".".join(str(p) for p in e["loc"][1:]) or "(event)" for e in errors]
    assert field in locs, locs
    assert any(reason in e["msg"] for e in errors), [e["msg"] for e in errors]


def test_unknown_event_type_is_rejected() -> None:
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        parse_event({**message("acme", TS), "type": "telepathy"})
