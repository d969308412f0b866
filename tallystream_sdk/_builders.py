"""Convenience methods that build one event of each type and track it (shared by both clients)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal, Unpack

from schemas.events import (
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
)
from tallystream_sdk._core import BaseFields, E, EventFields, build_event

Operation = Literal["chat", "completion", "embeddings", "transcription", "speech", "other"]


class EventBuilders:
    """Thin builders over the event models: each validates its event, tracks it and returns it.

    Every builder also takes the shared `EventFields` keywords (session_id, end_user_id, domain,
    properties, timestamp, event_id). Invalid values raise pydantic.ValidationError at the call.
    """

    tenant_id: str

    def _emit(self, event: E) -> E:
        """Track an event built here (implemented by the client)."""
        raise NotImplementedError

    def _build(self, cls: type[E], event_type: str, fields: Mapping[str, Any], common: Mapping[str, Any]) -> E:
        return self._emit(build_event(cls, event_type, self.tenant_id, fields, common))

    def llm_call(
        self,
        provider: str,
        model: str,
        *,
        latency_ms: int,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cached_input_tokens: int = 0,
        reasoning_tokens: int = 0,
        audio_seconds: float = 0,
        operation: Operation = "chat",
        status: Literal["ok", "error"] = "ok",
        error_type: str | None = None,
        feature: str | None = None,
        **common: Unpack[EventFields],
    ) -> LlmCall:
        """Track one model call; `input_tokens` counts cached ones, `output_tokens` counts reasoning ones."""
        fields = {
            "provider": provider,
            "model": model,
            "latency_ms": latency_ms,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cached_input_tokens": cached_input_tokens,
            "reasoning_tokens": reasoning_tokens,
            "audio_seconds": audio_seconds,
            "operation": operation,
            "status": status,
            "error_type": error_type,
            "feature": feature,
        }
        return self._build(LlmCall, "llm_call", fields, common)

    def message(
        self,
        session_id: str,
        role: Literal["user", "assistant", "system"],
        *,
        content_chars: int | None = None,
        **common: Unpack[BaseFields],
    ) -> Message:
        """Track one chat message (its length only, never its text)."""
        fields = {"session_id": session_id, "role": role, "content_chars": content_chars}
        return self._build(Message, "message", fields, common)

    def session_started(
        self, session_id: str, *, channel: str | None = None, **common: Unpack[BaseFields]
    ) -> SessionStarted:
        """Track the start of a chat session."""
        return self._build(SessionStarted, "session_started", {"session_id": session_id, "channel": channel}, common)

    def session_ended(
        self,
        session_id: str,
        *,
        reason: Literal["completed", "abandoned", "timeout", "error"] = "completed",
        duration_ms: int | None = None,
        **common: Unpack[BaseFields],
    ) -> SessionEnded:
        """Track the end of a chat session."""
        fields = {"session_id": session_id, "reason": reason, "duration_ms": duration_ms}
        return self._build(SessionEnded, "session_ended", fields, common)

    def tool_call(
        self,
        tool_name: str,
        *,
        latency_ms: int = 0,
        status: Literal["ok", "error"] = "ok",
        error_type: str | None = None,
        **common: Unpack[EventFields],
    ) -> ToolCall:
        """Track one tool call made by the assistant."""
        fields = {"tool_name": tool_name, "latency_ms": latency_ms, "status": status, "error_type": error_type}
        return self._build(ToolCall, "tool_call", fields, common)

    def product_event(
        self,
        action: Literal["recommended", "inquired", "clicked", "added_to_cart"],
        product_id: str,
        *,
        product_name: str | None = None,
        category: str | None = None,
        feature: str | None = None,
        **common: Unpack[EventFields],
    ) -> ProductEvent:
        """Track something that happened to a product in a conversation."""
        fields = {
            "action": action,
            "product_id": product_id,
            "product_name": product_name,
            "category": category,
            "feature": feature,
        }
        return self._build(ProductEvent, "product_event", fields, common)

    def search(self, query: str, results_count: int, *, latency_ms: int = 0, **common: Unpack[EventFields]) -> Search:
        """Track a catalog or knowledge search (keep `query` free of personal data)."""
        fields = {"query": query, "results_count": results_count, "latency_ms": latency_ms}
        return self._build(Search, "search", fields, common)

    def conversion(
        self,
        order_id: str,
        revenue: Decimal | str | int,
        *,
        currency: str = "USD",
        attributed_session_id: str | None = None,
        feature: str | None = None,
        category: str | None = None,
        **common: Unpack[EventFields],
    ) -> Conversion:
        """Track an order attributed to the assistant; `revenue` is exact (pass a Decimal or a string, not a float)."""
        fields = {
            "order_id": order_id,
            "revenue": Decimal(revenue),
            "currency": currency,
            "attributed_session_id": attributed_session_id,
            "feature": feature,
            "category": category,
        }
        return self._build(Conversion, "conversion", fields, common)

    def feedback(
        self,
        *,
        rating: int | None = None,
        thumbs: Literal["up", "down"] | None = None,
        comment_chars: int | None = None,
        **common: Unpack[EventFields],
    ) -> Feedback:
        """Track a rating (1-5) or a thumbs up/down: exactly one of the two."""
        fields = {"rating": rating, "thumbs": thumbs, "comment_chars": comment_chars}
        return self._build(Feedback, "feedback", fields, common)

    def custom(
        self,
        name: str,
        dimensions: Mapping[str, str] | None = None,
        measures: Mapping[str, float] | None = None,
        **common: Unpack[EventFields],
    ) -> CustomEvent:
        """Track a domain event of your own, e.g. `custom("build.completed", {"status": "ok"}, {"duration_s": 42})`."""
        fields = {"name": name, "dimensions": dict(dimensions or {}), "measures": dict(measures or {})}
        return self._build(CustomEvent, "custom", fields, common)
