"""The event types of contract version 1, one model per `type`.

Every model forbids unknown fields (a typo is an error, not silently dropped data) and is frozen.
Field docstrings are the published documentation: they land in the generated JSON Schema.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.types import (
    Amount,
    AudioSeconds,
    Count,
    Currency,
    Dimensions,
    EventId,
    Measures,
    Milliseconds,
    Properties,
    ShortText,
    TenantId,
    Timestamp,
    TokenCount,
)

SCHEMA_VERSION: Literal[1] = 1

NonEmpty = Annotated[str, Field(min_length=1, max_length=256)]


class EventBase(BaseModel):
    """Fields shared by every event."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    schema_version: Literal[1] = SCHEMA_VERSION
    """Version of the event contract this event follows."""
    event_id: EventId
    """Client-generated UUID; the same (tenant_id, event_id) is counted once."""
    tenant_id: TenantId
    """The tenant the event belongs to; must be the tenant of the API key that sends it."""
    timestamp: Timestamp
    """When the event happened (RFC 3339 with offset, stored as UTC)."""
    session_id: ShortText | None = None
    """The chat session the event belongs to, when it belongs to one."""
    end_user_id: ShortText | None = None
    """The tenant's end user (customer, visitor, phone number hash ...), when known."""
    domain: ShortText | None = None
    """The tenant's site, storefront or domain the event happened on."""
    properties: Properties = Field(default_factory=dict)
    """Free-form string dimensions."""


class SessionStarted(EventBase):
    """A chat session began."""

    type: Literal["session_started"]
    session_id: NonEmpty
    """The session that began."""
    channel: ShortText | None = None
    """Where the conversation happens (web, whatsapp, email ...)."""


class SessionEnded(EventBase):
    """A chat session ended."""

    type: Literal["session_ended"]
    session_id: NonEmpty
    """The session that ended."""
    reason: Literal["completed", "abandoned", "timeout", "error"] = "completed"
    """Why it ended."""
    duration_ms: Milliseconds | None = None
    """How long it lasted, if the client measured it."""


class Message(EventBase):
    """One chat message."""

    type: Literal["message"]
    session_id: NonEmpty
    """The session the message belongs to."""
    role: Literal["user", "assistant", "system"]
    """Who wrote the message."""
    content_chars: Count | None = None
    """Length of the message text; the text itself is never sent."""


class LlmCall(EventBase):
    """One call to a model provider: chat or completion, embeddings, or audio transcription.

    Token conventions follow genai-prices (and OpenAI's usage report): `input_tokens` is the whole
    prompt, cached tokens included; `output_tokens` is the whole completion, reasoning included.
    Audio models priced by duration (Whisper) report `audio_seconds`.
    """

    type: Literal["llm_call"]
    operation: Literal["chat", "completion", "embeddings", "transcription", "speech", "other"] = "chat"
    """What kind of call it was."""
    provider: NonEmpty
    """Provider id as genai-prices knows it (openai, anthropic, groq, google ...)."""
    model: NonEmpty
    """Model name as sent to or reported by the provider."""
    input_tokens: TokenCount = 0
    """Prompt tokens, cached ones included."""
    output_tokens: TokenCount = 0
    """Completion tokens, reasoning ones included."""
    cached_input_tokens: TokenCount = 0
    """Part of `input_tokens` read from the provider's prompt cache."""
    reasoning_tokens: TokenCount = 0
    """Part of `output_tokens` spent on reasoning."""
    audio_seconds: AudioSeconds = 0
    """Seconds of audio transcribed or generated, for models priced by duration."""
    latency_ms: Milliseconds
    """Wall time of the call."""
    status: Literal["ok", "error"] = "ok"
    """Whether the call succeeded."""
    error_type: ShortText | None = None
    """Error class or code when `status` is `error`."""
    feature: ShortText | None = None
    """Product feature that made the call (chat, search, summarise ...)."""

    @model_validator(mode="after")
    def _token_parts_fit(self) -> LlmCall:
        if self.cached_input_tokens > self.input_tokens:
            raise ValueError("cached_input_tokens must not exceed input_tokens (input_tokens counts cached ones)")
        if self.reasoning_tokens > self.output_tokens:
            raise ValueError("reasoning_tokens must not exceed output_tokens (output_tokens counts reasoning)")
        return self


class ToolCall(EventBase):
    """The assistant called a tool (catalog lookup, order status, web search ...)."""

    type: Literal["tool_call"]
    tool_name: NonEmpty
    """Name of the tool."""
    latency_ms: Milliseconds = 0
    """Wall time of the call."""
    status: Literal["ok", "error"] = "ok"
    """Whether the call succeeded."""
    error_type: ShortText | None = None
    """Error class or code when `status` is `error`."""


class ProductEvent(EventBase):
    """Something happened to a product in a conversation."""

    type: Literal["product_event"]
    action: Literal["recommended", "inquired", "clicked", "added_to_cart"]
    """What happened: the assistant recommended it, the user asked about it, clicked it, added it to the cart."""
    product_id: NonEmpty
    """The tenant's product id (SKU)."""
    product_name: ShortText | None = None
    """Display name of the product."""
    category: ShortText | None = None
    """Product category."""
    feature: ShortText | None = None
    """AI feature that surfaced the product."""


class Search(EventBase):
    """A catalog or knowledge search made for the user."""

    type: Literal["search"]
    query: Annotated[str, Field(max_length=1024)]
    """The search text (keep it free of personal data)."""
    results_count: Count
    """How many results came back; 0 feeds the "missing products" view."""
    latency_ms: Milliseconds = 0
    """Wall time of the search."""


class Conversion(EventBase):
    """An order (or other goal) attributed to the assistant."""

    type: Literal["conversion"]
    order_id: NonEmpty
    """The tenant's order id."""
    revenue: Amount
    """Order value in `currency`. Send it as a string ("129.90") to keep it exact: a JSON number is
    read as a double (about 15 significant digits)."""
    currency: Currency = "USD"
    """ISO 4217 code of `revenue`."""
    attributed_session_id: ShortText | None = None
    """The chat session credited with the conversion (defaults to `session_id`)."""
    feature: ShortText | None = None
    """AI feature credited with the conversion."""
    category: ShortText | None = None
    """Product category of the order (revenue by category); send one conversion per category to split
    a mixed basket."""


class Feedback(EventBase):
    """The user rated an answer or a session: a 1-5 rating or a thumbs up/down."""

    type: Literal["feedback"]
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    """Rating from 1 (worst) to 5 (best)."""
    thumbs: Literal["up", "down"] | None = None
    """Thumbs up or down."""
    comment_chars: Count | None = None
    """Length of the free-text comment, if any; the text itself is never sent."""

    @model_validator(mode="after")
    def _one_score(self) -> Feedback:
        if (self.rating is None) == (self.thumbs is None):
            raise ValueError("feedback needs exactly one of rating (1-5) or thumbs (up/down)")
        return self


class CustomEvent(EventBase):
    """A domain event of the tenant's own (build finished, deploy, signup ...)."""

    type: Literal["custom"]
    name: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
    """Event name: letters, digits, `_ . : -` (e.g. `build.completed`)."""
    dimensions: Dimensions = Field(default_factory=dict)
    """String attributes to group by (status, site_type, industry ...)."""
    measures: Measures = Field(default_factory=dict)
    """Numbers to sum or average (duration_s, pages, queue_depth ...)."""


AnyEvent = (
    SessionStarted
    | SessionEnded
    | Message
    | LlmCall
    | ToolCall
    | ProductEvent
    | Search
    | Conversion
    | Feedback
    | CustomEvent
)
"""Any event of contract version 1 (a plain union; `Event` is the discriminated form)."""

EVENT_MODELS: tuple[type[EventBase], ...] = (
    SessionStarted,
    SessionEnded,
    Message,
    LlmCall,
    ToolCall,
    ProductEvent,
    Search,
    Conversion,
    Feedback,
    CustomEvent,
)
