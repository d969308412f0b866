"""OTLP spans to llm_call events: the GenAI semantic conventions, OTLP/JSON quirks, malformed bodies."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from ingest.accept import EventResult, IngestResponse
from ingest.otlp import SPAN_NAMESPACE, decode_json, decode_protobuf, map_spans, spans_to_events
from ingest.parsing import validate_events
from ingest.routes.otlp import export_response

TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
START = 1_795_000_000_123_456_789  # 2026-11-18T11:06:40.123456789Z
START_ISO = "2026-11-18T11:06:40.123456+00:00"
END = START + 1_234_600_000  # 1234.6 ms later


def _any(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(_any(v) for v in value)
        return out
    return AnyValue(string_value=value)


def _kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any(v)) for k, v in attrs.items()]


def span(
    attrs: dict[str, Any],
    span_id: int = 1,
    *,
    name: str = "chat",
    status: int = Status.STATUS_CODE_UNSET,
    start: int = START,
    end: int = END,
) -> Span:
    out = Span(
        trace_id=TRACE,
        span_id=span_id.to_bytes(8, "big"),
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=_kvs(attrs),
        status=Status(code=status),
    )
    return out


def export(*spans: Span, resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(_kvs(resource or {}))
    resource_spans.scope_spans.add().spans.extend(spans)
    return request


def event_id(span_id: int) -> str:
    return str(uuid.uuid5(SPAN_NAMESPACE, f"{TRACE.hex()}/{span_id:016x}"))


def one(request: ExportTraceServiceRequest) -> dict[str, Any]:
    events, skipped = spans_to_events(request)
    assert (len(events), skipped) == (1, 0)
    return events[0]


CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300,
    "gen_ai.usage.cache_read.input_tokens": 1000,
    "gen_ai.usage.reasoning.output_tokens": 120,
    "gen_ai.conversation.id": "conv-7",
}


def test_current_conventions_map_to_every_field() -> None:
    request = export(
        span(CHAT, 7),
        resource={"service.name": "support-bot", "tallystream.feature": "support", "enduser.id": "u-42"},
    )
    assert one(request) == {
        "event_id": event_id(7),
        "type": "llm_call",
        "timestamp": START_ISO,
        "operation": "chat",
        "provider": "openai",
        "model": "gpt-4o-2024-08-06",
        "input_tokens": 1200,
        "output_tokens": 300,
        "cached_input_tokens": 1000,
        "reasoning_tokens": 120,
        "latency_ms": 1235,
        "status": "ok",
        "session_id": "conv-7",
        "end_user_id": "u-42",
        "feature": "support",
        "properties": {"service.name": "support-bot"},
    }


def test_deprecated_attribute_names_still_map() -> None:
    event = one(
        export(
            span(
                {
                    "gen_ai.system": "anthropic",
                    "gen_ai.request.model": "claude-3-5-sonnet-20241022",
                    "gen_ai.usage.prompt_tokens": 900,
                    "gen_ai.usage.completion_tokens": 80,
                }
            )
        )
    )
    assert (event["provider"], event["model"], event["input_tokens"], event["output_tokens"]) == (
        "anthropic",
        "claude-3-5-sonnet-20241022",
        900,
        80,
    )
    assert (event["operation"], event["cached_input_tokens"], event["reasoning_tokens"]) == ("chat", 0, 0)
    assert "session_id" not in event and "properties" not in event


def test_current_names_win_over_deprecated_ones() -> None:
    attrs = {
        "gen_ai.provider.name": "groq",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "llama-3.1-8b-instant",
        "gen_ai.usage.input_tokens": 10,
        "gen_ai.usage.prompt_tokens": 99,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.usage.completion_tokens": 77,
    }
    event = one(export(span(attrs)))
    assert (event["provider"], event["input_tokens"], event["output_tokens"]) == ("groq", 10, 5)


@pytest.mark.parametrize(
    ("otel", "ours"),
    [
        ("openai", "openai"),
        ("anthropic", "anthropic"),
        ("groq", "groq"),
        ("aws.bedrock", "aws"),
        ("gcp.vertex_ai", "google"),
        ("gcp.gemini", "google"),
        ("gcp.gen_ai", "google"),
        ("gemini", "google"),
        ("azure.ai.openai", "azure"),
        ("az.ai.inference", "azure"),
        ("mistral_ai", "mistral"),
        ("x_ai", "x-ai"),
        ("xai", "x-ai"),
        ("deepseek", "deepseek"),
        ("OpenAI", "openai"),
        ("my.private.llm", "my.private.llm"),
    ],
)
def test_providers_are_normalised_to_genai_prices_ids(otel: str, ours: str) -> None:
    event = one(export(span({"gen_ai.provider.name": otel, "gen_ai.request.model": "m"})))
    assert event["provider"] == ours


@pytest.mark.parametrize(
    ("otel", "ours"),
    [
        ("chat", "chat"),
        ("generate_content", "chat"),
        ("text_completion", "completion"),
        ("embeddings", "embeddings"),
        ("retrieval", "other"),
    ],
)
def test_operation_names_map(otel: str, ours: str) -> None:
    attrs = {"gen_ai.operation.name": otel, "gen_ai.provider.name": "openai", "gen_ai.request.model": "m"}
    assert one(export(span(attrs)))["operation"] == ours


@pytest.mark.parametrize("wrapper", ["invoke_agent", "create_agent", "execute_tool", "invoke_workflow"])
def test_agent_and_tool_spans_are_skipped_so_child_tokens_count_once(wrapper: str) -> None:
    attrs = {
        "gen_ai.operation.name": wrapper,
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 500,
    }
    assert spans_to_events(export(span(attrs))) == ([], 1)


def test_spans_without_provider_or_model_are_skipped_and_counted() -> None:
    request = export(
        span({"http.method": "GET"}, 1, name="GET /"),
        span({"gen_ai.provider.name": "openai"}, 2),  # no model
        span({"gen_ai.request.model": "gpt-4o"}, 3),  # no provider
        span({"gen_ai.provider.name": "", "gen_ai.request.model": "gpt-4o"}, 4),  # empty provider
        span({"gen_ai.system": "openai", "gen_ai.response.model": "gpt-4o"}, 5),
    )
    events, skipped = spans_to_events(request)
    assert skipped == 4
    assert [e["event_id"] for e in events] == [event_id(5)]


def test_spans_of_every_resource_and_scope_are_read() -> None:
    request = export(span(CHAT, 1), resource={"service.name": "a"})
    second = request.resource_spans.add()
    second.resource.attributes.extend(_kvs({"service.name": "b"}))
    second.scope_spans.add().spans.extend([span(CHAT, 2)])
    second.scope_spans.add().spans.extend([span({}, 3), span(CHAT, 4)])
    events, skipped = spans_to_events(request)
    assert skipped == 1
    assert [(e["event_id"], e["properties"]["service.name"]) for e in events] == [
        (event_id(1), "a"),
        (event_id(2), "b"),
        (event_id(4), "b"),
    ]


def test_error_status_and_error_type() -> None:
    base = {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}
    with_type = one(export(span({**base, "error.type": "RateLimitError"}, status=Status.STATUS_CODE_ERROR)))
    assert (with_type["status"], with_type["error_type"]) == ("error", "RateLimitError")
    # error.type alone means the operation failed (status left unset by the instrumentation)
    only_type = one(export(span({**base, "error.type": "timeout"})))
    assert (only_type["status"], only_type["error_type"]) == ("error", "timeout")
    # an ERROR status without error.type takes the type of the recorded exception, if any
    recorded = span(base, status=Status.STATUS_CODE_ERROR)
    recorded.events.add(name="exception", attributes=_kvs({"exception.type": "openai.APIConnectionError"}))
    from_exception = one(export(recorded))
    assert (from_exception["status"], from_exception["error_type"]) == ("error", "openai.APIConnectionError")
    bare = one(export(span(base, status=Status.STATUS_CODE_ERROR)))
    assert bare["status"] == "error" and "error_type" not in bare
    ok = one(export(span(base, status=Status.STATUS_CODE_OK)))
    assert ok["status"] == "ok" and "error_type" not in ok


def test_latency_and_timestamp_come_from_span_times() -> None:
    base = {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"}
    event = one(export(span(base, start=START, end=START + 42_400_000)))
    assert (event["timestamp"], event["latency_ms"]) == (START_ISO, 42)
    assert one(export(span(base, end=0)))["latency_ms"] == 0  # never ended
    assert one(export(span(base, end=START - 5)))["latency_ms"] == 0  # clock went backwards


def test_event_ids_are_deterministic_per_trace_and_span() -> None:
    first, _ = spans_to_events(export(span(CHAT, 1), span(CHAT, 2)))
    again, _ = spans_to_events(export(span(CHAT, 1), span(CHAT, 2)))
    assert [e["event_id"] for e in first] == [e["event_id"] for e in again] == [event_id(1), event_id(2)]
    assert event_id(1) == "c3e6af0d-3b53-5002-a57c-e7c131b573ba"  # the formula is part of the contract
    # invalid (empty) ids still give an id that is stable across retries and differs between spans
    broken = [Span(name="a", attributes=_kvs(CHAT)), Span(name="b", attributes=_kvs(CHAT))]
    ids = [e["event_id"] for e in spans_to_events(export(*broken))[0]]
    assert ids == [e["event_id"] for e in spans_to_events(export(*broken))[0]]
    assert len(set(ids)) == 2


def test_cached_and_reasoning_tokens_are_clamped_to_their_totals() -> None:
    attrs = {
        **CHAT,
        "gen_ai.usage.input_tokens": 500,
        "gen_ai.usage.cache_read.input_tokens": 800,
        "gen_ai.usage.output_tokens": 50,
        "gen_ai.usage.reasoning.output_tokens": 64,
    }
    event = one(export(span(attrs)))
    assert (event["input_tokens"], event["cached_input_tokens"]) == (500, 500)
    assert (event["output_tokens"], event["reasoning_tokens"]) == (50, 50)
    accepted, rejected = validate_events([event], default_tenant="acme")
    assert (len(accepted), rejected) == (1, [])


def test_token_counts_given_as_floats_or_strings_are_read() -> None:
    attrs = {**CHAT, "gen_ai.usage.input_tokens": 12.0, "gen_ai.usage.output_tokens": "34"}
    event = one(export(span(attrs)))
    assert (event["input_tokens"], event["output_tokens"]) == (12, 34)


def test_bad_token_counts_reach_validation_which_names_them() -> None:
    bad = [
        span({**CHAT, "gen_ai.usage.input_tokens": -5}, 1),  # cached (1000) is not clamped to -5
        span({**CHAT, "gen_ai.usage.output_tokens": True, "gen_ai.usage.reasoning.output_tokens": 0}, 2),
        span({**CHAT, "gen_ai.usage.output_tokens": "lots", "gen_ai.usage.reasoning.output_tokens": 0}, 3),
    ]
    events, _ = spans_to_events(export(*bad))
    accepted, rejected = validate_events(events, default_tenant="acme")
    assert accepted == []
    assert [(r.index, r.event_id) for r in rejected] == [(0, event_id(1)), (1, event_id(2)), (2, event_id(3))]
    assert rejected[0].error == "llm_call.input_tokens: Input should be greater than or equal to 0"
    not_an_int = "llm_call.output_tokens: Input should be a valid integer, unable to parse string as an integer"
    assert (rejected[1].error, rejected[2].error) == (not_an_int, not_an_int)


def test_tallystream_attributes_and_span_over_resource_precedence() -> None:
    attrs = {
        **CHAT,
        "tallystream.session_id": "sess-explicit",
        "tallystream.feature": "search",
        "tallystream.domain": "shop.example",
        "user.id": "u-span",
        "service.name": "span-level",
    }
    resource = {"service.name": "svc", "tallystream.feature": "support", "enduser.id": "u-res"}
    event = one(export(span(attrs), resource=resource))
    assert event["session_id"] == "sess-explicit"  # wins over gen_ai.conversation.id
    assert (event["feature"], event["domain"]) == ("search", "shop.example")
    assert event["end_user_id"] == "u-res"  # enduser.id (resource) is preferred over user.id (span)
    assert event["properties"] == {"service.name": "span-level"}


def test_mapped_events_are_valid_llm_calls_of_the_key_tenant() -> None:
    events, _ = spans_to_events(export(span(CHAT, 1), resource={"service.name": "bot"}))
    accepted, rejected = validate_events(events, default_tenant="acme")
    assert rejected == []
    (call,) = accepted
    assert call.type == "llm_call"
    assert (call.tenant_id, str(call.event_id), call.timestamp.isoformat()) == ("acme", event_id(1), START_ISO)
    assert (call.input_tokens, call.cached_input_tokens, call.output_tokens, call.reasoning_tokens) == (
        1200,
        1000,
        300,
        120,
    )


# --- decoding ---------------------------------------------------------------------------------------------

OTLP_JSON: dict[str, Any] = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "support-bot"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "opentelemetry.instrumentation.openai_v2", "version": "2.1b0"},
                    "spans": [
                        {
                            "traceId": TRACE.hex().upper(),  # hex, case-insensitive
                            "spanId": "0000000000000007",
                            "parentSpanId": "00000000000000ff",
                            "name": "chat gpt-4o",
                            "kind": 3,  # enum as int
                            "startTimeUnixNano": str(START),  # int64 as string
                            "endTimeUnixNano": END,  # ... or as a number
                            "attributes": [
                                {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                                {"key": "gen_ai.provider.name", "value": {"stringValue": "openai"}},
                                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                                {"key": "gen_ai.response.model", "value": {"stringValue": "gpt-4o-2024-08-06"}},
                                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1200"}},
                                {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 300}},
                                {"key": "gen_ai.usage.cache_read.input_tokens", "value": {"intValue": "1000"}},
                                {"key": "gen_ai.usage.reasoning.output_tokens", "value": {"intValue": "120"}},
                                {"key": "gen_ai.conversation.id", "value": {"stringValue": "conv-7"}},
                                {"key": "gen_ai.request.stop_sequences", "value": {"arrayValue": {"values": []}}},
                            ],
                            "links": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331"}],
                            "status": {"code": 1},
                            "someFutureField": {"x": 1},  # unknown fields are ignored
                        },
                        {
                            "traceId": TRACE.hex(),
                            "spanId": "0000000000000008",
                            "name": "GET /",
                            "kind": "SPAN_KIND_SERVER",
                        },
                    ],
                }
            ],
        }
    ]
}


def test_otlp_json_decodes_hex_ids_enum_ints_and_int64_strings() -> None:
    request = decode_json(orjson.dumps(OTLP_JSON))
    decoded = request.resource_spans[0].scope_spans[0].spans
    assert (decoded[0].trace_id, decoded[0].span_id, decoded[0].parent_span_id) == (
        TRACE,
        bytes.fromhex("0000000000000007"),
        bytes.fromhex("00000000000000ff"),
    )
    assert decoded[0].links[0].span_id == bytes.fromhex("b7ad6b7169203331")
    assert (decoded[0].kind, decoded[1].kind) == (Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_SERVER)
    assert (decoded[0].start_time_unix_nano, decoded[0].end_time_unix_nano) == (START, END)
    events, skipped = spans_to_events(request)
    assert skipped == 1
    assert events == [
        {
            "event_id": event_id(7),
            "type": "llm_call",
            "timestamp": START_ISO,
            "operation": "chat",
            "provider": "openai",
            "model": "gpt-4o-2024-08-06",
            "input_tokens": 1200,
            "output_tokens": 300,
            "cached_input_tokens": 1000,
            "reasoning_tokens": 120,
            "latency_ms": 1235,
            "status": "ok",
            "session_id": "conv-7",
            "properties": {"service.name": "support-bot"},
        }
    ]


def test_protobuf_and_json_encodings_give_the_same_events() -> None:
    request = export(span(CHAT, 7), resource={"service.name": "support-bot"})
    from_protobuf, _ = spans_to_events(decode_protobuf(request.SerializeToString()))
    assert from_protobuf == spans_to_events(request)[0]
    assert decode_protobuf(b"") == ExportTraceServiceRequest()  # an empty export is valid
    assert decode_json(b"{}") == ExportTraceServiceRequest()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"resourceSpans": [', "malformed OTLP/JSON: unexpected end of data"),
        (b"[1, 2]", "malformed OTLP/JSON: expected an ExportTraceServiceRequest object, got list"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "not-hex"}]}]}]}',
            "malformed OTLP/JSON: resourceSpans[0].scopeSpans[0].spans[0].traceId 'not-hex' is not a hex id",
        ),
        (b'{"resourceSpans": 5}', "malformed OTLP/JSON ExportTraceServiceRequest: "),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
            "malformed OTLP/JSON ExportTraceServiceRequest: ",
        ),
    ],
)
def test_malformed_json_bodies_are_value_errors(body: bytes, message: str) -> None:
    with pytest.raises(ValueError) as info:
        decode_json(body)
    assert str(info.value).startswith(message)


def test_malformed_protobuf_body_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="malformed OTLP/protobuf ExportTraceServiceRequest"):
        decode_protobuf(b"\xff\xff\xff\xff")
    with pytest.raises(ValueError, match="malformed OTLP/protobuf ExportTraceServiceRequest"):
        decode_protobuf(b'{"resourceSpans": []}')  # JSON sent as protobuf


# --- the OTLP response ------------------------------------------------------------------------------------


def test_export_response_reports_rejected_spans_in_the_request_encoding() -> None:
    mapped, _ = map_spans(export(span(CHAT, 1, name="chat ok"), span(CHAT, 0x2A, name="chat bad")))
    outcome = IngestResponse(
        accepted=1,
        rejected=1,
        errors=[EventResult(index=1, event_id=event_id(0x2A), error="llm_call.input_tokens: too big")],
    )
    message = (
        "1 of 2 GenAI spans rejected as invalid llm_call events: "
        "span 'chat bad' (span_id 000000000000002a): llm_call.input_tokens: too big"
    )
    as_json = export_response(outcome, mapped, "application/json")
    assert as_json.media_type == "application/json"
    assert orjson.loads(as_json.body) == {"partialSuccess": {"rejectedSpans": "1", "errorMessage": message}}
    as_protobuf = export_response(outcome, mapped, "application/x-protobuf")
    assert as_protobuf.media_type == "application/x-protobuf"
    decoded = ExportTraceServiceResponse.FromString(as_protobuf.body)
    assert (decoded.partial_success.rejected_spans, decoded.partial_success.error_message) == (1, message)
    clean = IngestResponse(accepted=2, rejected=0, errors=[])
    assert orjson.loads(export_response(clean, mapped, "application/json").body) == {}
    assert export_response(clean, mapped, "application/x-protobuf").body == b""
