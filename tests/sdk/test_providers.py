"""LlmCall events from real provider SDK response objects (and plain dicts)."""

from __future__ import annotations

from typing import Any

import anthropic.types
import genai_prices
import groq.types.chat
import openai.types
import openai.types.chat
import openai.types.responses
import pytest

from tallystream_sdk.providers import from_anthropic, from_groq, from_openai, whisper

OPENAI_CHAT: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 300,
        "total_tokens": 1500,
        "prompt_tokens_details": {"cached_tokens": 1024},
        "completion_tokens_details": {"reasoning_tokens": 128},
    },
}
OPENAI_RESPONSE: dict[str, Any] = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1_700_000_000,
    "model": "o3-mini-2025-01-31",
    "output": [],
    "parallel_tool_calls": True,
    "tool_choice": "auto",
    "tools": [],
    "usage": {
        "input_tokens": 900,
        "output_tokens": 400,
        "total_tokens": 1300,
        "input_tokens_details": {"cached_tokens": 256, "cache_write_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 320},
    },
}
OPENAI_EMBEDDINGS: dict[str, Any] = {
    "object": "list",
    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 8, "total_tokens": 8},
}
ANTHROPIC_MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 50,
        "output_tokens": 200,
        "cache_read_input_tokens": 1000,
        "cache_creation_input_tokens": 300,
    },
}
GROQ_CHAT: dict[str, Any] = {
    "id": "chatcmpl-g",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "llama-3.3-70b-versatile",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}],
    "usage": {
        "prompt_tokens": 80,
        "completion_tokens": 20,
        "total_tokens": 100,
        "queue_time": 0.01,
        "prompt_time": 0.02,
        "completion_time": 0.03,
        "total_time": 0.05,
    },
}


def tokens(event: Any) -> tuple[int, int, int, int]:
    return event.input_tokens, event.output_tokens, event.cached_input_tokens, event.reasoning_tokens


@pytest.fixture(params=["genai-prices", "fallback"])
def extraction(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Runs each test twice: through genai_prices.extract_usage, and with it failing (our own reading)."""
    calls: list[str] = []
    real = genai_prices.extract_usage

    def spy(data: Any, **kwargs: Any) -> Any:
        calls.append(f"{kwargs['provider_id']}/{kwargs['api_flavor']}")
        if request.param == "fallback":
            raise LookupError("unknown model")
        return real(data, **kwargs)

    monkeypatch.setattr(genai_prices, "extract_usage", spy)
    return calls


def test_openai_chat_completion(extraction: list[str]) -> None:
    response = openai.types.chat.ChatCompletion.model_validate(OPENAI_CHAT)
    event = from_openai(response, tenant_id="acme", session_id="s-1", latency_ms=812.6, feature="chat")
    assert (event.provider, event.model, event.operation) == ("openai", "gpt-4o-2024-08-06", "chat")
    assert tokens(event) == (1200, 300, 1024, 128)
    assert (event.latency_ms, event.session_id, event.feature, event.tenant_id) == (813, "s-1", "chat", "acme")
    assert extraction == ["openai/chat"]


def test_openai_responses_api(extraction: list[str]) -> None:
    response = openai.types.responses.Response.model_validate(OPENAI_RESPONSE)
    event = from_openai(response, tenant_id="acme", latency_ms=1500)
    assert (event.model, event.operation) == ("o3-mini-2025-01-31", "chat")
    assert tokens(event) == (900, 400, 256, 320)
    assert extraction == ["openai/responses"]


def test_openai_embeddings(extraction: list[str]) -> None:
    response = openai.types.CreateEmbeddingResponse.model_validate(OPENAI_EMBEDDINGS)
    event = from_openai(response, tenant_id="acme", latency_ms=40)
    assert (event.model, event.operation) == ("text-embedding-3-small", "embeddings")
    assert tokens(event) == (8, 0, 0, 0)
    assert extraction == ["openai/embeddings"]


def test_anthropic_input_tokens_include_cache_reads_and_writes(extraction: list[str]) -> None:
    message = anthropic.types.Message.model_validate(ANTHROPIC_MESSAGE)
    event = from_anthropic(message, tenant_id="acme", latency_ms=2000, session_id="s-2")
    assert (event.provider, event.model) == ("anthropic", "claude-sonnet-4-20250514")
    assert tokens(event) == (50 + 1000 + 300, 200, 1000, 0)
    assert extraction == ["anthropic/default"]


def test_groq_chat_completion(extraction: list[str]) -> None:
    response = groq.types.chat.ChatCompletion.model_validate(GROQ_CHAT)
    event = from_groq(response, tenant_id="acme", latency_ms=90)
    assert (event.provider, event.model) == ("groq", "llama-3.3-70b-versatile")
    assert tokens(event) == (80, 20, 0, 0)
    assert extraction == ["groq/default"]


def test_plain_dicts_work_too() -> None:
    assert tokens(from_openai(OPENAI_CHAT, tenant_id="acme", latency_ms=1)) == (1200, 300, 1024, 128)
    assert tokens(from_anthropic(ANTHROPIC_MESSAGE, tenant_id="acme", latency_ms=1)) == (1350, 200, 1000, 0)


def test_models_genai_prices_does_not_know_fall_back_to_the_usage_fields() -> None:
    private = {**OPENAI_CHAT, "model": "acme-private-llm-v9"}
    with pytest.raises(LookupError):
        genai_prices.extract_usage(private, provider_id="openai", api_flavor="chat")
    event = from_openai(private, tenant_id="acme", latency_ms=1)
    assert (event.model, tokens(event)) == ("acme-private-llm-v9", (1200, 300, 1024, 128))
    claude = {**ANTHROPIC_MESSAGE, "model": "claude-private"}
    assert tokens(from_anthropic(claude, tenant_id="acme", latency_ms=1)) == (1350, 200, 1000, 0)


def test_overrides_and_missing_usage() -> None:
    event = from_openai({"model": "gpt-4o"}, tenant_id="acme", latency_ms=5, provider="azure", model="my-deploy")
    assert (event.provider, event.model, tokens(event)) == ("azure", "my-deploy", (0, 0, 0, 0))
    with pytest.raises(ValueError, match="names no model"):
        from_openai({"usage": OPENAI_CHAT["usage"]}, tenant_id="acme", latency_ms=5)
    with pytest.raises(TypeError, match="provider response"):
        from_openai(42, tenant_id="acme", latency_ms=5)


def test_whisper_is_priced_by_duration() -> None:
    event = whisper(62.5, tenant_id="acme", latency_ms=3100, session_id="s-3")
    assert (event.provider, event.model, event.operation) == ("openai", "whisper-1", "transcription")
    assert (event.audio_seconds, event.latency_ms, tokens(event)) == (62.5, 3100, (0, 0, 0, 0))
    groq_whisper = whisper(10, tenant_id="acme", latency_ms=200, model="whisper-large-v3", provider="groq")
    assert (groq_whisper.provider, groq_whisper.model, groq_whisper.audio_seconds) == ("groq", "whisper-large-v3", 10)
