"""The SDK against the running ingest service and real Kafka: batching, dedup-safe ids, LangChain runs."""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from tallystream_sdk import AsyncClient, Client
from tallystream_sdk.langchain import TallystreamCallbackHandler
from tests.live import IngestServer, read_events

pytestmark = pytest.mark.integration


async def test_sync_client_delivers_every_event_once_in_batches(ingest_server: IngestServer) -> None:
    t = ingest_server.tenant
    client = Client(ingest_server.url, api_key=t.ingest, tenant_id=t.tenant_id, batch_size=500)
    for i in range(1200):
        client.message(f"s-{i % 7}", "user", content_chars=i)
    client.llm_call("openai", "gpt-4o-mini", latency_ms=420, input_tokens=1200, output_tokens=300, session_id="s-1")
    await asyncio.to_thread(client.close)
    assert (client.stats.sent, client.stats.rejected, client.stats.failed, client.stats.dropped) == (1201, 0, 0, 0)
    records = await read_events(ingest_server.bootstrap, ingest_server.events_topic, 1201)
    assert len(records) == 1201
    assert len({v["event_id"] for _, v in records}) == 1201
    assert sorted(v["content_chars"] for _, v in records if v["type"] == "message") == list(range(1200))
    (call,) = [v for _, v in records if v["type"] == "llm_call"]
    assert (call["tenant_id"], call["input_tokens"], call["output_tokens"]) == (t.tenant_id, 1200, 300)


async def test_langchain_handler_records_tokens_and_latency_through_the_service(ingest_server: IngestServer) -> None:
    t = ingest_server.tenant
    usage = {"input_tokens": 321, "output_tokens": 54, "total_tokens": 375}
    reply = AIMessage(content="hello", usage_metadata=usage, response_metadata={"model_name": "gpt-4o-mini"})
    async with AsyncClient(ingest_server.url, api_key=t.ingest, tenant_id=t.tenant_id) as client:
        handler = TallystreamCallbackHandler(client, session_id="lc-1", feature="chat", provider="openai")
        answer = await GenericFakeChatModel(messages=iter([reply])).ainvoke("hi", config={"callbacks": [handler]})
        assert answer.content == "hello"
    records = await read_events(ingest_server.bootstrap, ingest_server.events_topic, 1)
    (event,) = [v for _, v in records]
    assert event["type"] == "llm_call"
    assert (event["provider"], event["model"], event["session_id"], event["feature"]) == (
        "openai",
        "gpt-4o-mini",
        "lc-1",
        "chat",
    )
    assert (event["input_tokens"], event["output_tokens"], event["status"]) == (321, 54, "ok")
    assert 0 <= event["latency_ms"] < 10_000
