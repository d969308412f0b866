from __future__ import annotations

import json

import pytest

from schemas.__main__ import SCHEMA_FILE, main, rendered
from schemas.events import EVENT_MODELS, EVENT_TYPES


def test_checked_in_schema_is_up_to_date() -> None:
    assert SCHEMA_FILE.name == "event.v1.schema.json"
    assert SCHEMA_FILE.read_text() == rendered(), (
        "schemas/event.v1.schema.json is stale: run `python -m schemas` (make schema) and commit it"
    )


def test_check_mode_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check"]) == 0
    assert capsys.readouterr().out == "event.v1.schema.json is up to date\n"


def test_schema_header() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "https://tallystream.dev/schemas/event.v1.json"
    assert schema["title"] == "tallystream event, contract version 1"


def test_discriminator_maps_every_type_to_its_definition() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    discriminator = schema["discriminator"]
    assert discriminator["propertyName"] == "type"
    mapping = discriminator["mapping"]
    assert set(mapping) == set(EVENT_TYPES)
    assert len(mapping) == 10
    expected = {t: f"#/$defs/{m.__name__}" for t, m in zip(EVENT_TYPES, EVENT_MODELS, strict=True)}
    assert mapping == expected
    assert mapping["custom"] == "#/$defs/CustomEvent"
    assert sorted(ref["$ref"] for ref in schema["oneOf"]) == sorted(mapping.values())
    for type_, ref in mapping.items():
        definition = schema["$defs"][ref.removeprefix("#/$defs/")]
        assert definition["properties"]["type"]["const"] == type_
        assert definition["additionalProperties"] is False
        assert "type" in definition["required"]


def test_documented_fields_carry_their_docstrings() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    feedback = schema["$defs"]["Feedback"]
    assert feedback["properties"]["rating"]["description"] == "Rating from 1 (worst) to 5 (best)."
    assert set(feedback["properties"]["thumbs"]["anyOf"][0]["enum"]) == {"up", "down"}
    llm = schema["$defs"]["LlmCall"]
    assert set(llm["required"]) == {"event_id", "tenant_id", "timestamp", "type", "provider", "model", "latency_ms"}
