"""The LangChain callback handler with langchain_core's fake models."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult, Generation, LLMResult

from tallystream_sdk import AsyncClient, Client
from tallystream_sdk.langchain import TallystreamCallbackHandler
from tests.sdk.conftest import API_KEY, BASE_URL, TENANT, FakeServer

USAGE = {
    "input_tokens": 1200,
    "output_tokens": 300,
    "total_tokens": 1500,
    "input_token_details": {"cache_read": 1024},
    "output_token_details": {"reasoning": 64},
}


def answer(content: str = "hello!") -> AIMessage:
    return AIMessage(content=content, usage_metadata=USAGE, response_metadata={"model_name": "gpt-4o-mini-2024-07-18"})


@pytest.fixture
def client(server: FakeServer) -> Iterator[Client]:
    client = Client(BASE_URL, API_KEY, TENANT, transport=server.transport(), flush_interval=3600)
    yield client
    client.close()


def sent(client: Client, server: FakeServer) -> list[dict[str, Any]]:
    client.flush()
    return [e for r in server.received for e in r.events]


def test_chat_model_run_is_one_llm_call(client: Client, server: FakeServer) -> None:
    handler = TallystreamCallbackHandler(client, session_id="s-1", feature="support")
    model = GenericFakeChatModel(messages=iter([answer()]))
    assert model.invoke("hi", config={"callbacks": [handler]}).content == "hello!"
    (event,) = sent(client, server)
    assert event["type"] == "llm_call"
    assert (event["input_tokens"], event["output_tokens"]) == (1200, 300)
    assert (event["cached_input_tokens"], event["reasoning_tokens"]) == (1024, 64)
    assert event["model"] == "gpt-4o-mini-2024-07-18"
    assert event["provider"] == "genericfakechatmodel"  # LangChain's ls_provider
    assert event["latency_ms"] >= 0
    assert (event["status"], event["session_id"], event["feature"]) == ("ok", "s-1", "support")
    assert "error_type" not in event


def test_provider_and_model_can_be_overridden(client: Client, server: FakeServer) -> None:
    handler = TallystreamCallbackHandler(client, provider="openai", model="gpt-4o", properties={"team": "cx"})
    GenericFakeChatModel(messages=iter([answer()])).invoke("hi", config={"callbacks": [handler]})
    (event,) = sent(client, server)
    assert (event["provider"], event["model"], event["properties"]) == ("openai", "gpt-4o", {"team": "cx"})


class FailingChatModel(GenericFakeChatModel):
    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        raise TimeoutError("provider took too long")


def test_errors_are_recorded(client: Client, server: FakeServer) -> None:
    handler = TallystreamCallbackHandler(client, session_id="s-1")
    with pytest.raises(TimeoutError):
        FailingChatModel(messages=iter([])).invoke("hi", config={"callbacks": [handler]})
    (event,) = sent(client, server)
    assert (event["status"], event["error_type"]) == ("error", "TimeoutError")
    assert (event["input_tokens"], event["output_tokens"]) == (0, 0)
    assert event["latency_ms"] >= 0


def test_completion_llm_without_usage(client: Client, server: FakeServer) -> None:
    handler = TallystreamCallbackHandler(client)
    assert FakeListLLM(responses=["a"]).invoke("x", config={"callbacks": [handler]}) == "a"
    (event,) = sent(client, server)
    assert (event["provider"], event["model"], event["input_tokens"], event["output_tokens"]) == (
        "fakelist",
        "unknown",
        0,
        0,
    )


def test_llm_output_token_usage_and_type_mapping(client: Client, server: FakeServer) -> None:
    handler = TallystreamCallbackHandler(client)
    run_id = uuid.uuid4()
    handler.on_llm_start(
        {"id": ["langchain", "llms", "openai", "OpenAI"]},
        ["prompt"],
        run_id=run_id,
        invocation_params={"_type": "openai", "model_name": "gpt-3.5-turbo-instruct"},
    )
    result = LLMResult(
        generations=[[Generation(text="done")]],
        llm_output={
            "token_usage": {
                "prompt_tokens": 70,
                "completion_tokens": 30,
                "prompt_tokens_details": {"cached_tokens": 10},
                "completion_tokens_details": {"reasoning_tokens": 5},
            }
        },
    )
    handler.on_llm_end(result, run_id=run_id)
    handler.on_llm_end(result, run_id=uuid.uuid4())  # no start: ignored
    (event,) = sent(client, server)
    assert (event["provider"], event["model"]) == ("openai", "gpt-3.5-turbo-instruct")
    assert (event["input_tokens"], event["output_tokens"], event["cached_input_tokens"], event["reasoning_tokens"]) == (
        70,
        30,
        10,
        5,
    )


def test_provider_from_the_class_path_when_no_ls_provider(client: Client, server: FakeServer) -> None:
    handler = TallystreamCallbackHandler(client)
    run_id = uuid.uuid4()
    handler.on_chat_model_start(
        {"id": ["langchain", "chat_models", "anthropic", "ChatAnthropic"], "kwargs": {"model": "claude-3-5-haiku"}},
        [],
        run_id=run_id,
    )
    handler.on_llm_end(LLMResult(generations=[]), run_id=run_id)
    (event,) = sent(client, server)
    assert (event["provider"], event["model"]) == ("anthropic", "claude-3-5-haiku")


async def test_async_chain_with_async_client(server: FakeServer) -> None:
    client = AsyncClient(BASE_URL, API_KEY, TENANT, transport=server.transport(), flush_interval=3600)
    handler = TallystreamCallbackHandler(client, session_id="s-9")
    reply = await GenericFakeChatModel(messages=iter([answer("async!")])).ainvoke("hi", config={"callbacks": [handler]})
    assert reply.content == "async!"
    await client.close()
    (event,) = [e for r in server.received for e in r.events]
    assert (event["session_id"], event["input_tokens"], event["output_tokens"]) == ("s-9", 1200, 300)
