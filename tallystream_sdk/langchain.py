"""A LangChain callback handler recording one `llm_call` event per LLM or chat model run.

Needs the `langchain` extra (`pip install 'tallystream[langchain]'`, i.e. langchain-core).

    handler = TallystreamCallbackHandler(client, session_id="s-1", feature="support-bot")
    chat_model.invoke("hello", config={"callbacks": [handler]})
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

try:
    from langchain_core.callbacks import BaseCallbackHandler
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import ChatGeneration, LLMResult
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("tallystream_sdk.langchain needs langchain-core: pip install 'tallystream[langchain]'") from exc

from schemas.events import EventBase

__all__ = ["TallystreamCallbackHandler"]

logger = logging.getLogger("tallystream_sdk")

_TYPE_PREFIXES = {
    "openai": "openai",
    "azure": "azure",
    "anthropic": "anthropic",
    "groq": "groq",
    "google": "google",
    "vertexai": "google",
    "gemini": "google",
    "mistral": "mistral",
    "cohere": "cohere",
    "bedrock": "aws",
    "amazon": "aws",
    "ollama": "ollama",
    "deepseek": "deepseek",
    "xai": "x-ai",
    "fireworks": "fireworks",
    "together": "together",
}
"""Start of LangChain's `_type` / class path → provider id as genai-prices knows it."""


class Tracker(Protocol):
    """What the handler needs of a client: `Client` and `AsyncClient` both fit."""

    tenant_id: str

    def track(self, event: Any) -> Any:
        """Queue one event."""


@dataclass(slots=True)
class _Run:
    started: float
    model: str | None
    provider: str | None


def _provider_from(serialized: Mapping[str, Any], params: Mapping[str, Any], metadata: Mapping[str, Any]) -> str | None:
    ls_provider = metadata.get("ls_provider")
    if isinstance(ls_provider, str) and ls_provider:
        return ls_provider
    candidates = [params.get("_type"), *(serialized.get("id") or [])[:-1][::-1]]
    for candidate in candidates:
        if isinstance(candidate, str):
            head = candidate.lower().replace("_", "-").split("-")[0]
            if head in _TYPE_PREFIXES:
                return _TYPE_PREFIXES[head]
    return None


def _model_from(serialized: Mapping[str, Any], params: Mapping[str, Any], metadata: Mapping[str, Any]) -> str | None:
    kwargs = serialized.get("kwargs")
    kwargs = kwargs if isinstance(kwargs, Mapping) else {}
    for source, key in ((params, "model"), (params, "model_name"), (metadata, "ls_model_name"), (kwargs, "model")):
        value = source.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _count(mapping: Mapping[str, Any] | None, *keys: str) -> int:
    value: Any = mapping
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _usage(result: LLMResult) -> tuple[dict[str, int], str | None]:
    """Token counts and the model the provider reported, from generation messages or `llm_output`."""
    tokens = {"input_tokens": 0, "output_tokens": 0, "cached_input_tokens": 0, "reasoning_tokens": 0}
    model: str | None = None
    found = False
    for generation in (g for batch in result.generations for g in batch):
        if not isinstance(generation, ChatGeneration):
            continue
        meta = generation.message.response_metadata or {}
        model = model or meta.get("model_name") or meta.get("model")
        usage = getattr(generation.message, "usage_metadata", None)
        if usage:
            found = True
            tokens["input_tokens"] += _count(usage, "input_tokens")
            tokens["output_tokens"] += _count(usage, "output_tokens")
            tokens["cached_input_tokens"] += _count(usage, "input_token_details", "cache_read")
            tokens["reasoning_tokens"] += _count(usage, "output_token_details", "reasoning")
    output = result.llm_output or {}
    model = model or output.get("model_name") or output.get("model")
    usage = output.get("token_usage") or output.get("usage")
    if not found and isinstance(usage, Mapping):
        tokens["input_tokens"] = _count(usage, "prompt_tokens") or _count(usage, "input_tokens")
        tokens["output_tokens"] = _count(usage, "completion_tokens") or _count(usage, "output_tokens")
        tokens["cached_input_tokens"] = _count(usage, "prompt_tokens_details", "cached_tokens")
        tokens["reasoning_tokens"] = _count(usage, "completion_tokens_details", "reasoning_tokens")
    return tokens, model if isinstance(model, str) and model else None


class TallystreamCallbackHandler(BaseCallbackHandler):
    """Records one `llm_call` per LLM run: tokens, model, provider, latency, and errors.

    Args:
        client: A `Client` or `AsyncClient` (anything with `tenant_id` and `track`).
        session_id, end_user_id, feature, properties: Copied onto every event.
        provider: Provider id to record, overriding what the handler works out from LangChain's
            `ls_provider` metadata or the model's `_type` / class path.
        model: Model name to record, overriding what the run reports.

    The handler runs inline (`run_inline = True`): its work is a dict and a queue append, and in
    async chains it then runs on the event loop, where `AsyncClient.track` belongs.
    """

    run_inline = True

    def __init__(
        self,
        client: Tracker,
        *,
        session_id: str | None = None,
        end_user_id: str | None = None,
        feature: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.session_id = session_id
        self.end_user_id = end_user_id
        self.feature = feature
        self.provider = provider
        self.model = model
        self.properties = dict(properties or {})
        self._runs: dict[UUID, _Run] = {}
        self._lock = threading.Lock()

    def _start(
        self, run_id: UUID, serialized: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None, kwargs: Any
    ) -> None:
        serialized = serialized or {}
        params = kwargs.get("invocation_params") or {}
        meta = metadata or {}
        run = _Run(time.perf_counter(), _model_from(serialized, params, meta), _provider_from(serialized, params, meta))
        with self._lock:
            self._runs[run_id] = run

    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Note the start of a completion-model run."""
        self._start(run_id, serialized, metadata, kwargs)

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Note the start of a chat-model run."""
        self._start(run_id, serialized, metadata, kwargs)

    def on_llm_end(
        self,
        response: LLMResult,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record the finished run with its token usage."""
        tokens, reported_model = _usage(response)
        self._record(run_id, reported_model, tokens, None)

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        """Record the failed run with `status="error"` and the exception's class as `error_type`."""
        self._record(run_id, None, {}, type(error).__name__)

    def _record(self, run_id: UUID, reported_model: str | None, tokens: dict[str, int], error_type: str | None) -> None:
        with self._lock:
            run = self._runs.pop(run_id, None)
        if run is None:
            logger.debug("tallystream: LLM run %s ended without a start; not recorded", run_id)
            return
        fields: dict[str, Any] = {
            "type": "llm_call",
            "provider": self.provider or run.provider or "unknown",
            "model": self.model or reported_model or run.model or "unknown",
            "latency_ms": max(0, round((time.perf_counter() - run.started) * 1000)),
            "status": "error" if error_type else "ok",
            "error_type": error_type,
            "feature": self.feature,
            "session_id": self.session_id,
            "end_user_id": self.end_user_id,
            "properties": self.properties or None,
            **tokens,
        }
        try:
            event: EventBase = self.client.track({k: v for k, v in fields.items() if v is not None})
        except Exception:  # never break the user's chain because of analytics
            logger.exception("tallystream: could not record LLM run %s", run_id)
            return
        logger.debug("tallystream: recorded LLM run %s as event %s", run_id, event.event_id)
