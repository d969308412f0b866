"""Event contract, version 1.

Wire format: one JSON object per event with a `type` discriminator. Published contracts are never
broken: new fields are optional, and an incompatible change gets a new `schema_version`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from schemas.types import EventId, Milliseconds, Properties, ShortText, TenantId, Timestamp, TokenCount

SCHEMA_VERSION: Literal[1] = 1


class EventBase(BaseModel):
    """Fields shared by every event."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    """Version of the event contract this event follows."""
    event_id: EventId
    """Client-generated UUID; the same (tenant_id, event_id) is counted once."""
    tenant_id: TenantId
    """The tenant the event belongs to."""
    timestamp: Timestamp
    """When the event happened (RFC 3339, stored as UTC)."""
    session_id: ShortText
    """The chat session the event belongs to."""
    properties: Properties = Field(default_factory=dict)
    """Free-form string dimensions."""


class LlmCall(EventBase):
    """One call to an LLM provider.

    Token conventions follow genai-prices (and OpenAI's usage report): `input_tokens` is the whole
    prompt, cached tokens included; `output_tokens` is the whole completion, reasoning included.
    """

    type: Literal["llm_call"]
    provider: ShortText
    """Provider id as genai-prices knows it (openai, anthropic, groq, google ...)."""
    model: ShortText
    """Model name as sent to or reported by the provider."""
    input_tokens: TokenCount
    """Prompt tokens, cached ones included."""
    output_tokens: TokenCount
    """Completion tokens, reasoning ones included."""
    cached_input_tokens: TokenCount = 0
    """Part of `input_tokens` read from the provider's prompt cache."""
    reasoning_tokens: TokenCount = 0
    """Part of `output_tokens` spent on reasoning."""
    latency_ms: Milliseconds
    """Wall time of the call."""
    status: Literal["ok", "error"]
    """Whether the call succeeded."""
    error_type: ShortText | None = None
    """Error class or code when `status` is `error`."""
    feature: ShortText | None = None
    """Product feature that made the call (chat, search, summarise ...)."""
    end_user_id: ShortText | None = None
    """The tenant's end user, when known."""
    domain: ShortText | None = None
    """The tenant's site or domain the call served."""

    @model_validator(mode="after")
    def _token_parts_fit(self) -> LlmCall:
        if self.cached_input_tokens > self.input_tokens:
            raise ValueError("cached_input_tokens must not exceed input_tokens (input_tokens counts cached ones)")
        if self.reasoning_tokens > self.output_tokens:
            raise ValueError("reasoning_tokens must not exceed output_tokens (output_tokens counts reasoning)")
        return self


class Message(EventBase):
    """One chat message."""

    type: Literal["message"]
    role: Literal["user", "assistant", "system"]
    """Who wrote the message."""
    content_chars: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    """Length of the message text; the text itself is never sent."""


Event = Annotated[LlmCall | Message, Field(discriminator="type")]
"""Any event of contract version 1."""

_EVENT_ADAPTER: TypeAdapter[LlmCall | Message] = TypeAdapter(Event)


def parse_event(data: Any) -> LlmCall | Message:
    """Validate one decoded JSON object as an event; raises pydantic.ValidationError."""
    return _EVENT_ADAPTER.validate_python(data)


def parse_event_json(raw: bytes | str) -> LlmCall | Message:
    """Validate one JSON document as an event; raises pydantic.ValidationError."""
    return _EVENT_ADAPTER.validate_json(raw)


def describe_validation_error(exc: ValidationError) -> str:
    """`field.path: reason; ...` for every error, the way ingest and the DLQ report them."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def event_to_json(event: LlmCall | Message) -> bytes:
    """Serialise an event to its wire form."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))
