"""POST /v1/traces over real HTTP against the real broker, fed by the real OpenTelemetry SDK exporter."""

from __future__ import annotations

import gzip
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from ingest.otlp import SPAN_NAMESPACE
from tests.live import IngestServer, read_events

pytestmark = pytest.mark.integration

MS = 1_000_000
T0 = time.time_ns() - 5 * 60 * 1_000_000_000  # five minutes ago, whole nanoseconds


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _event_id(span: ReadableSpan) -> str:
    ctx = span.get_span_context()
    assert ctx is not None
    return str(uuid.uuid5(SPAN_NAMESPACE, f"{ctx.trace_id:032x}/{ctx.span_id:016x}"))


def _ts(ns: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def _emit_spans(provider: TracerProvider) -> None:
    """Three GenAI spans (current names, deprecated names, a failed call) and one plain HTTP span."""
    tracer = provider.get_tracer("tests.otlp")
    with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER, start_time=T0) as root:
        root.set_attribute("http.request.method", "POST")
        chat = tracer.start_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            start_time=T0 + 1 * MS,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 1200,
                "gen_ai.usage.output_tokens": 300,
                "gen_ai.usage.cache_read.input_tokens": 1000,
                "gen_ai.conversation.id": "conv-1",
                "tallystream.feature": "support",
            },
        )
        chat.end(end_time=T0 + 851 * MS)
        legacy = tracer.start_span(
            "anthropic.chat",
            kind=SpanKind.CLIENT,
            start_time=T0 + 900 * MS,
            attributes={
                "gen_ai.system": "anthropic",
                "gen_ai.request.model": "claude-3-5-haiku-20241022",
                "gen_ai.usage.prompt_tokens": 640,
                "gen_ai.usage.completion_tokens": 72,
            },
        )
        legacy.end(end_time=T0 + 1_320 * MS)
        failed = tracer.start_span(
            "generate_content gemini-2.0-flash",
            kind=SpanKind.CLIENT,
            start_time=T0 + 1_400 * MS,
            attributes={
                "gen_ai.operation.name": "generate_content",
                "gen_ai.provider.name": "gcp.gemini",
                "gen_ai.request.model": "gemini-2.0-flash",
                "gen_ai.usage.input_tokens": 50,
                "error.type": "ResourceExhausted",
            },
        )
        failed.set_status(Status(StatusCode.ERROR, "quota exceeded"))
        failed.end(end_time=T0 + 1_430 * MS)
        root.end(end_time=T0 + 1_500 * MS)


async def test_sdk_exporter_spans_become_llm_calls_in_kafka(ingest_server: IngestServer) -> None:
    t = ingest_server.tenant
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(
        SimpleSpanProcessor(
            OTLPSpanExporter(
                endpoint=f"{ingest_server.url}/v1/traces",
                headers={"authorization": f"Bearer {t.ingest}"},
                compression=Compression.Gzip,
                timeout=10,
            )
        )
    )
    try:
        _emit_spans(provider)
        assert provider.force_flush()
    finally:
        provider.shutdown()
    spans = {s.name: s for s in memory.get_finished_spans()}
    assert len(spans) == 4

    records = await read_events(ingest_server.bootstrap, ingest_server.events_topic, 3)
    assert len(records) == 3
    assert {key for key, _ in records} == {t.tenant_id.encode()}
    got = {v["model"]: v for _, v in records}
    fields = (
        "type",
        "tenant_id",
        "operation",
        "provider",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "latency_ms",
        "status",
    )
    assert {model: tuple(v[f] for f in fields) for model, v in got.items()} == {
        "gpt-4o-2024-08-06": ("llm_call", t.tenant_id, "chat", "openai", 1200, 300, 1000, 850, "ok"),
        "claude-3-5-haiku-20241022": ("llm_call", t.tenant_id, "chat", "anthropic", 640, 72, 0, 420, "ok"),
        "gemini-2.0-flash": ("llm_call", t.tenant_id, "chat", "google", 50, 0, 0, 30, "error"),
    }
    chat, legacy, failed = got["gpt-4o-2024-08-06"], got["claude-3-5-haiku-20241022"], got["gemini-2.0-flash"]
    assert chat["event_id"] == _event_id(spans["chat gpt-4o"])
    assert legacy["event_id"] == _event_id(spans["anthropic.chat"])
    assert failed["event_id"] == _event_id(spans["generate_content gemini-2.0-flash"])
    assert datetime.fromisoformat(chat["timestamp"]) == _ts(T0 + 1 * MS)
    assert (chat["session_id"], chat["feature"]) == ("conv-1", "support")
    assert failed["error_type"] == "ResourceExhausted" and "error_type" not in chat
    assert "session_id" not in legacy
    assert {v["properties"]["service.name"] for v in got.values()} == {"support-bot"}

    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        metrics = (await client.get("/metrics")).text
    assert "tally_ingest_otlp_spans_skipped_total 1.0" in metrics.splitlines()
    assert 'tally_ingest_events_accepted_total{source="otlp"} 3.0' in metrics.splitlines()


def _json_span(span_id: str, start_ns: int, attrs: dict[str, Any]) -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}

    return {
        "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
        "spanId": span_id,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 250 * MS),
        "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()],
    }


def _json_export(*spans: dict[str, Any]) -> bytes:
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "json-bot"}}]}
    return orjson.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": list(spans)}]}]})


GROQ = {"gen_ai.provider.name": "groq", "gen_ai.request.model": "llama-3.1-8b-instant"}


async def test_otlp_json_with_gzip_and_partial_success(ingest_server: IngestServer) -> None:
    t = ingest_server.tenant
    good = _json_span(
        "00f067aa0ba902b7", T0, {**GROQ, "gen_ai.usage.input_tokens": 80, "gen_ai.usage.output_tokens": 20}
    )
    bad = _json_span("00f067aa0ba902b8", T0, {**GROQ, "gen_ai.usage.input_tokens": -1})
    plain = _json_span("00f067aa0ba902b9", T0, {"db.system": "postgresql"})
    headers = {"content-type": "application/json", "content-encoding": "gzip", **_auth(t.ingest)}
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        clean = await client.post("/v1/traces", content=gzip.compress(_json_export(good)), headers=headers)
        retried = await client.post("/v1/traces", content=gzip.compress(_json_export(good)), headers=headers)
        partial = await client.post(
            "/v1/traces", content=gzip.compress(_json_export(good, bad, plain)), headers=headers
        )
        metrics = (await client.get("/metrics")).text
    assert (clean.status_code, clean.headers["content-type"], clean.json()) == (200, "application/json", {})
    assert (retried.status_code, retried.json()) == (200, {})
    assert partial.status_code == 200
    assert partial.json() == {
        "partialSuccess": {
            "rejectedSpans": "1",
            "errorMessage": "1 of 2 GenAI spans rejected as invalid llm_call events: "
            "span 'chat' (span_id 00f067aa0ba902b8): "
            "llm_call.input_tokens: Input should be greater than or equal to 0",
        }
    }
    assert "tally_ingest_otlp_spans_skipped_total 1.0" in metrics.splitlines()

    records = await read_events(ingest_server.bootstrap, ingest_server.events_topic, 3)
    good_id = str(uuid.uuid5(SPAN_NAMESPACE, "4bf92f3577b34da6a3ce929d0e0e4736/00f067aa0ba902b7"))
    # the retried and re-sent span keeps its event_id: counted once downstream
    assert [(v["event_id"], v["provider"], v["model"], v["input_tokens"], v["output_tokens"]) for _, v in records] == [
        (good_id, "groq", "llama-3.1-8b-instant", 80, 20)
    ] * 3
    assert {(k, v["tenant_id"], v["latency_ms"], v["properties"]["service.name"]) for k, v in records} == {
        (t.tenant_id.encode(), t.tenant_id, 250, "json-bot")
    }


async def test_protobuf_partial_success_answers_in_protobuf(ingest_server: IngestServer) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    t = ingest_server.tenant
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for i, tokens in enumerate((10, 20, -3), start=1):
        span = spans.add(
            trace_id=bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736"),
            span_id=i.to_bytes(8, "big"),
            name=f"chat {i}",
            start_time_unix_nano=T0,
            end_time_unix_nano=T0 + 5 * MS,
        )
        span.attributes.extend(
            [
                KeyValue(key="gen_ai.provider.name", value=AnyValue(string_value="openai")),
                KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o-mini")),
                KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=tokens)),
            ]
        )
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        response = await client.post(
            "/v1/traces",
            content=request.SerializeToString(),
            headers={"content-type": "application/x-protobuf", **_auth(t.ingest)},
        )
    assert (response.status_code, response.headers["content-type"]) == (200, "application/x-protobuf")
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    assert answer.partial_success.error_message == (
        "1 of 3 GenAI spans rejected as invalid llm_call events: span 'chat 3' (span_id 0000000000000003): "
        "llm_call.input_tokens: Input should be greater than or equal to 0"
    )
    records = await read_events(ingest_server.bootstrap, ingest_server.events_topic, 2)
    assert sorted((v["input_tokens"], v["latency_ms"], v["tenant_id"]) for _, v in records) == [
        (10, 5, t.tenant_id),
        (20, 5, t.tenant_id),
    ]


async def test_wrong_key_is_a_401_for_the_sdk_exporter_and_over_http(ingest_server: IngestServer) -> None:
    t, other = ingest_server.tenant, ingest_server.other
    wrong = other.ingest[:-1] + ("B" if other.ingest[-1] == "A" else "A")
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    try:
        span = provider.get_tracer("tests.otlp").start_span("chat", attributes=GROQ, start_time=T0)
        span.end(end_time=T0 + MS)
    finally:
        provider.shutdown()
    exporter = OTLPSpanExporter(endpoint=f"{ingest_server.url}/v1/traces", headers=_auth(wrong), timeout=10)
    try:
        assert exporter.export(memory.get_finished_spans()) is SpanExportResult.FAILURE  # 401 is not retried
    finally:
        exporter.shutdown()

    body = _json_export(_json_span("00f067aa0ba902b7", T0, GROQ))
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        response = await client.post(
            "/v1/traces", content=body, headers={"content-type": "application/json", **_auth(wrong)}
        )
        assert response.status_code == 401
        assert response.json() == {"error": "unknown API key"}
        assert response.headers["www-authenticate"] == "Bearer"
        cases = [
            # (body, headers, status, part of the error)
            (body, {"content-type": "application/json"}, 401, "missing API key"),
            (body, {"content-type": "application/json", **_auth(t.read)}, 403, "scope does not allow"),
            (body, {"content-type": "text/plain", **_auth(t.ingest)}, 415, "unsupported Content-Type 'text/plain'"),
            (b"\xff\xff\xff\xff", _auth(t.ingest), 400, "malformed OTLP/protobuf ExportTraceServiceRequest"),
            (
                body.replace(b"00f067aa0ba902b7", b"zz"),
                {"content-type": "application/json", **_auth(t.ingest)},
                400,
                "resourceSpans[0].scopeSpans[0].spans[0].spanId 'zz' is not a hex id",
            ),
            (body, {"content-type": "application/json", "content-encoding": "br", **_auth(t.ingest)}, 415, "'br'"),
        ]
        for content, headers, status, part in cases:
            refused = await client.post("/v1/traces", content=content, headers=headers)
            assert refused.status_code == status, (status, refused.text)
            assert part in refused.json()["error"], refused.text
        metrics = (await client.get("/metrics")).text
    assert "tally_ingest_otlp_spans_skipped_total 0.0" in metrics.splitlines()
    assert await read_events(ingest_server.bootstrap, ingest_server.events_topic, 1, max_wait_s=2) == []
