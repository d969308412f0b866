"""Event contract, version 1: parsing and serialising events.

Wire format: one JSON object per event with a `type` discriminator (see `schemas.event_models`).
Published contracts are never broken: new fields are optional, and an incompatible change gets a
new `schema_version`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from schemas.event_models import (
    EVENT_MODELS,
    SCHEMA_VERSION,
    AnyEvent,
    Conversion,
    CustomEvent,
    EventBase,
    Feedback,
    LlmCall,
    Message,
    ProductEvent,
    Search,
    SessionEnded,
    SessionStarted,
    ToolCall,
)

__all__ = [
    "EVENT_MODELS",
    "EVENT_TYPES",
    "SCHEMA_VERSION",
    "AnyEvent",
    "Conversion",
    "CustomEvent",
    "Event",
    "EventBase",
    "Feedback",
    "LlmCall",
    "Message",
    "ProductEvent",
    "Search",
    "SessionEnded",
    "SessionStarted",
    "ToolCall",
    "describe_validation_error",
    "event_to_json",
    "parse_event",
    "parse_event_json",
]

Event = Annotated[AnyEvent, Field(discriminator="type")]
"""Any event of contract version 1, told apart by `type`."""

EVENT_TYPES: tuple[str, ...] = tuple(m.model_fields["type"].annotation.__args__[0] for m in EVENT_MODELS)  # type: ignore[union-attr]
"""The `type` values of contract version 1."""

_EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(Event)


def parse_event(data: Any) -> AnyEvent:
    """Validate one decoded JSON object as an event; raises pydantic.ValidationError."""
    return _EVENT_ADAPTER.validate_python(data)


def parse_event_json(raw: bytes | str) -> AnyEvent:
    """Validate one JSON document as an event; raises pydantic.ValidationError."""
    return _EVENT_ADAPTER.validate_json(raw)


def describe_validation_error(exc: ValidationError) -> str:
    """`field.path: reason; ...` for every error, the way ingest and the DLQ report them."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def event_to_json(event: AnyEvent) -> bytes:
    """Serialise an event to its wire form (pydantic-core's serializer straight to bytes)."""
    return event.__pydantic_serializer__.to_json(event, exclude_none=True)


def events_json_schema() -> dict[str, Any]:
    """The published JSON Schema of one event (any type), generated from the models."""
    schema = _EVENT_ADAPTER.json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://tallystream.dev/schemas/event.v{SCHEMA_VERSION}.json"
    schema["title"] = f"tallystream event, contract version {SCHEMA_VERSION}"
    return schema
