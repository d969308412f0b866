"""Build `LlmCall` events from provider responses (OpenAI, Anthropic, Groq) and Whisper durations.

    started = time.perf_counter()
    response = openai_client.chat.completions.create(...)
    client.track(from_openai(response, tenant_id="acme", latency_ms=(time.perf_counter() - started) * 1000))

Responses may be the SDKs' pydantic objects or plain dicts. Token counts come from
`genai_prices.extract_usage` when it knows the provider and model, else from the usage fields
directly, both following the contract: `input_tokens` is the whole prompt (cached reads and cache
writes included), `output_tokens` the whole completion (reasoning included).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Unpack

import genai_prices

from schemas.events import LlmCall
from tallystream_sdk._core import EventFields, build_event

__all__ = ["Tokens", "from_anthropic", "from_groq", "from_openai", "whisper"]

Flavor = Literal["chat", "responses", "embeddings", "anthropic"]


@dataclass(frozen=True, slots=True)
class Tokens:
    """Token counts in the contract's conventions."""

    input: int = 0
    """Whole prompt, cached tokens included."""
    output: int = 0
    """Whole completion, reasoning tokens included."""
    cached_input: int = 0
    """Part of `input` read from the prompt cache."""
    reasoning: int = 0
    """Part of `output` spent on reasoning."""


def as_dict(response: Any) -> dict[str, Any]:
    """A provider response as a plain dict: pydantic objects are dumped, mappings copied."""
    if isinstance(response, Mapping):
        return dict(response)
    dump = getattr(response, "model_dump", None)
    if callable(dump):
        data = dump(mode="json", exclude_none=True)
        if isinstance(data, dict):
            return data
    raise TypeError(f"expected a provider response object or dict, got {type(response).__name__}")


def _int(data: Mapping[str, Any], *path: str) -> int:
    value: Any = data
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def _read_usage(usage: Mapping[str, Any], flavor: Flavor) -> Tokens:
    """The fallback: read the usage fields ourselves."""
    if flavor == "anthropic":
        cache_read = _int(usage, "cache_read_input_tokens")
        whole = _int(usage, "input_tokens") + cache_read + _int(usage, "cache_creation_input_tokens")
        return Tokens(whole, _int(usage, "output_tokens"), cache_read, 0)
    if flavor == "responses":
        return Tokens(
            _int(usage, "input_tokens"),
            _int(usage, "output_tokens"),
            _int(usage, "input_tokens_details", "cached_tokens"),
            _int(usage, "output_tokens_details", "reasoning_tokens"),
        )
    return Tokens(
        _int(usage, "prompt_tokens"),
        _int(usage, "completion_tokens"),
        _int(usage, "prompt_tokens_details", "cached_tokens"),
        _int(usage, "completion_tokens_details", "reasoning_tokens"),
    )


def _genai_flavor(provider_id: str, flavor: Flavor) -> str:
    # genai-prices names OpenAI's flavors; other providers have a single `default` one.
    return flavor if provider_id == "openai" and flavor != "anthropic" else "default"


def extract_tokens(data: Mapping[str, Any], provider_id: str, flavor: Flavor) -> Tokens:
    """Tokens of a response dict, via genai-prices when it can, else read from `usage` directly."""
    usage = data.get("usage")
    if not isinstance(usage, Mapping):
        return Tokens()
    try:
        extracted = genai_prices.extract_usage(
            data, provider_id=provider_id, api_flavor=_genai_flavor(provider_id, flavor)
        )
    except (ValueError, LookupError, TypeError):  # unknown provider/model, or a shape it does not know
        return _read_usage(usage, flavor)
    found = extracted.usage
    return Tokens(
        int(found.input_tokens or 0),
        int(found.output_tokens or 0),
        int(found.cache_read_tokens or 0),
        int(found.output_reasoning_tokens or 0),
    )


def _openai_flavor(data: Mapping[str, Any]) -> Flavor:
    usage = data.get("usage")
    usage = usage if isinstance(usage, Mapping) else {}
    if "input_tokens" in usage or data.get("object") == "response":
        return "responses"
    if data.get("object") == "list" or ("prompt_tokens" in usage and "completion_tokens" not in usage):
        return "embeddings"
    return "chat"


def _llm_call(
    data: Mapping[str, Any],
    tokens: Tokens,
    *,
    tenant_id: str,
    latency_ms: float,
    provider: str,
    model: str | None,
    operation: str,
    feature: str | None,
    common: EventFields,
) -> LlmCall:
    name = model or data.get("model")
    if not isinstance(name, str) or not name:
        raise ValueError("the response names no model; pass model=...")
    fields = {
        "provider": provider,
        "model": name,
        "operation": operation,
        "input_tokens": tokens.input,
        "output_tokens": tokens.output,
        "cached_input_tokens": tokens.cached_input,
        "reasoning_tokens": tokens.reasoning,
        "latency_ms": max(0, round(latency_ms)),
        "feature": feature,
    }
    return build_event(LlmCall, "llm_call", tenant_id, fields, common)


def from_openai(
    response: Any,
    *,
    tenant_id: str,
    latency_ms: float,
    feature: str | None = None,
    provider: str = "openai",
    model: str | None = None,
    **common: Unpack[EventFields],
) -> LlmCall:
    """An `LlmCall` from an OpenAI chat completion, Responses API response or embeddings response.

    Chat: `usage.prompt_tokens` / `completion_tokens`, with `prompt_tokens_details.cached_tokens` and
    `completion_tokens_details.reasoning_tokens`; Responses: `usage.input_tokens` / `output_tokens`
    and their `*_details`. `provider` can name an OpenAI-compatible provider (azure, deepseek ...).
    """
    data = as_dict(response)
    flavor = _openai_flavor(data)
    operation = "embeddings" if flavor == "embeddings" else "chat"
    return _llm_call(
        data,
        extract_tokens(data, provider, flavor),
        tenant_id=tenant_id,
        latency_ms=latency_ms,
        provider=provider,
        model=model,
        operation=operation,
        feature=feature,
        common=common,
    )


def from_groq(
    response: Any,
    *,
    tenant_id: str,
    latency_ms: float,
    feature: str | None = None,
    model: str | None = None,
    **common: Unpack[EventFields],
) -> LlmCall:
    """An `LlmCall` from a Groq chat completion (OpenAI-shaped usage)."""
    return from_openai(
        response, tenant_id=tenant_id, latency_ms=latency_ms, feature=feature, provider="groq", model=model, **common
    )


def from_anthropic(
    message: Any,
    *,
    tenant_id: str,
    latency_ms: float,
    feature: str | None = None,
    provider: str = "anthropic",
    model: str | None = None,
    **common: Unpack[EventFields],
) -> LlmCall:
    """An `LlmCall` from an Anthropic `Message`.

    Anthropic's `usage.input_tokens` excludes the cache: the event's `input_tokens` is
    `input_tokens + cache_read_input_tokens + cache_creation_input_tokens`, and
    `cached_input_tokens` is `cache_read_input_tokens`.
    """
    data = as_dict(message)
    return _llm_call(
        data,
        extract_tokens(data, provider, "anthropic"),
        tenant_id=tenant_id,
        latency_ms=latency_ms,
        provider=provider,
        model=model,
        operation="chat",
        feature=feature,
        common=common,
    )


def whisper(
    duration_seconds: float,
    *,
    tenant_id: str,
    latency_ms: float,
    model: str = "whisper-1",
    provider: str = "openai",
    feature: str | None = None,
    **common: Unpack[EventFields],
) -> LlmCall:
    """An `LlmCall` for a transcription priced by duration: `operation="transcription"`, `audio_seconds`."""
    fields = {
        "provider": provider,
        "model": model,
        "operation": "transcription",
        "audio_seconds": duration_seconds,
        "latency_ms": max(0, round(latency_ms)),
        "feature": feature,
    }
    return build_event(LlmCall, "llm_call", tenant_id, fields, common)
