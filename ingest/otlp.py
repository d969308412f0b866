"""OTLP traces to `llm_call` events (pure: no I/O).

A span becomes one `llm_call` when it carries the OpenTelemetry GenAI semantic conventions: a provider
(`gen_ai.provider.name`, or the deprecated `gen_ai.system`) and a model (`gen_ai.response.model`, else
`gen_ai.request.model`), and is not an agent or tool span (`invoke_agent`, `execute_tool` ...: those wrap
model calls and repeat their children's token totals). Every other span is skipped and counted.

Token conventions match ours: in the OTel GenAI conventions `gen_ai.usage.input_tokens` already
includes cached tokens (`gen_ai.usage.cache_read.input_tokens` is a part of it), as does our
`input_tokens`; a cached count larger than the input count is clamped to it rather than rejected
(instrumentations that report the uncached part only would otherwise lose the whole span). The same
holds for `gen_ai.usage.reasoning.output_tokens` within `gen_ai.usage.output_tokens`.

The event_id is a UUIDv5 of (trace_id, span_id): an exporter that re-sends a batch after a timeout,
a 429 or a 503 produces the same ids, which are deduplicated downstream.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

#: Namespace of span event ids: uuid5(SPAN_NAMESPACE, "<trace_id hex>/<span_id hex>").
SPAN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://tallystream.dev/otlp/span")

_STATUS_CODE_ERROR = 2  # opentelemetry.proto.trace.v1.Status.STATUS_CODE_ERROR
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHORT = 256  # ShortText limit of the event contract

_OPERATIONS = {
    "chat": "chat",
    "generate_content": "chat",
    "text_completion": "completion",
    "completion": "completion",
    "embeddings": "embeddings",
    "transcription": "transcription",
    "speech": "speech",
}
"""`gen_ai.operation.name` to our `operation`; any other name is `other`."""

_WRAPPER_OPERATIONS = frozenset({"invoke_agent", "create_agent", "execute_tool", "invoke_workflow"})
"""Operations that are not a model call themselves: skipped, so their children's tokens count once."""

_PROVIDERS = {
    "aws.bedrock": "aws",
    "az.ai.inference": "azure",
    "az.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "azure.ai.openai": "azure",
    "gcp.gen_ai": "google",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "vertex_ai": "google",
    "gemini": "google",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "xai": "x-ai",
}
"""OTel provider names to genai-prices provider ids; others (openai, anthropic, groq, cohere, deepseek,
perplexity ...) are already the same, and unknown ones pass through lower-cased."""

Attrs = dict[str, Any]


@dataclass(frozen=True, slots=True)
class MappedSpan:
    """One GenAI span and the event it became; `ref` names the span in error messages."""

    ref: str
    event: dict[str, Any]


def decode_protobuf(body: bytes) -> Any:
    """An `ExportTraceServiceRequest` from OTLP/protobuf bytes (ValueError if malformed)."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RuntimeError) as exc:
        raise ValueError(f"malformed OTLP/protobuf ExportTraceServiceRequest: {exc}") from exc
    return request


def decode_json(body: bytes) -> Any:
    """An `ExportTraceServiceRequest` from OTLP/JSON (ValueError if malformed).

    OTLP/JSON differs from the protobuf JSON mapping in one way that matters: trace and span ids are
    hex strings, not base64. They are converted before parsing; enum integers, int64 as strings and
    unknown fields are handled by the parser.
    """
    return request_from_json(load_json(body))


def load_json(body: bytes) -> dict[str, Any]:
    """The OTLP/JSON document of `body` (ValueError if it is not a JSON object)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"malformed OTLP/JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"malformed OTLP/JSON: expected an ExportTraceServiceRequest object, got {type(doc).__name__}")
    return doc


def json_spans_over(doc: dict[str, Any], limit: int) -> str | None:
    """Which of spans, scopeSpans or resourceSpans `doc` holds more than `limit` of (None: none)."""
    resources = _items(doc, "resourceSpans", "resource_spans")
    scopes = [ss for rs in resources for ss in _items(rs, "scopeSpans", "scope_spans")]
    spans = sum(len(_items(ss, "spans")) for ss in scopes)
    for name, count in (("spans", spans), ("scopeSpans", len(scopes)), ("resourceSpans", len(resources))):
        if count > limit:
            return name
    return None


def request_from_json(doc: dict[str, Any]) -> Any:
    """The `ExportTraceServiceRequest` of an OTLP/JSON document (ValueError if malformed)."""
    for rs_i, resource_spans in enumerate(_items(doc, "resourceSpans", "resource_spans")):
        for ss_i, scope_spans in enumerate(_items(resource_spans, "scopeSpans", "scope_spans")):
            for sp_i, span in enumerate(_items(scope_spans, "spans")):
                where = f"resourceSpans[{rs_i}].scopeSpans[{ss_i}].spans[{sp_i}]"
                _hex_ids_to_base64(span, where)
                for ln_i, link in enumerate(_items(span, "links")):
                    _hex_ids_to_base64(link, f"{where}.links[{ln_i}]")
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed OTLP/JSON ExportTraceServiceRequest: {exc}") from exc
    return request


def spans_to_events(request: Any) -> tuple[list[dict[str, Any]], int]:
    """The `llm_call` events (wire format, without tenant_id) of the GenAI spans of `request`, and
    how many spans were skipped for lacking GenAI attributes."""
    mapped, skipped = map_spans(request)
    return [m.event for m in mapped], skipped


def map_spans(request: Any) -> tuple[list[MappedSpan], int]:
    """Like `spans_to_events`, keeping a reference to each span for error messages."""
    mapped: list[MappedSpan] = []
    skipped = 0
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                event = _span_to_event(span, resource)
                if event is None:
                    skipped += 1
                else:
                    mapped.append(MappedSpan(f"span {span.name!r} (span_id {span.span_id.hex() or '-'})", event))
    return mapped, skipped


def _span_to_event(span: Any, resource: Attrs) -> dict[str, Any] | None:
    attrs = _attributes(span.attributes)
    provider = _text(attrs.get("gen_ai.provider.name")) or _text(attrs.get("gen_ai.system"))
    model = _text(attrs.get("gen_ai.response.model")) or _text(attrs.get("gen_ai.request.model"))
    if not provider or not model:
        return None
    if (_text(attrs.get("gen_ai.operation.name")) or "").lower() in _WRAPPER_OPERATIONS:
        return None  # agent/tool spans wrap model calls: their token totals repeat their children's
    both = {**resource, **attrs}  # span attributes win over resource attributes

    input_tokens = _count(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    output_tokens = _count(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    cached = _count(attrs, "gen_ai.usage.cache_read.input_tokens")
    reasoning = _count(attrs, "gen_ai.usage.reasoning.output_tokens")
    if isinstance(cached, int) and isinstance(input_tokens, int) and input_tokens >= 0:
        cached = min(cached, input_tokens)  # a negative total is named by validation, not echoed here
    if isinstance(reasoning, int) and isinstance(output_tokens, int) and output_tokens >= 0:
        reasoning = min(reasoning, output_tokens)

    error_type = _text(attrs.get("error.type")) or _exception_type(span)
    failed = span.status.code == _STATUS_CODE_ERROR or bool(_text(attrs.get("error.type")))
    operation_name = _text(attrs.get("gen_ai.operation.name"))

    event: dict[str, Any] = {
        "event_id": str(_event_id(span)),
        "type": "llm_call",
        "timestamp": (_EPOCH + timedelta(microseconds=span.start_time_unix_nano // 1000)).isoformat(),
        "operation": _OPERATIONS.get(operation_name.lower(), "other") if operation_name else "chat",
        "provider": _provider(provider),
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": cached,
        "reasoning_tokens": reasoning,
        "latency_ms": _latency_ms(span.start_time_unix_nano, span.end_time_unix_nano),
        "status": "error" if failed else "ok",
    }
    if failed and error_type:
        event["error_type"] = error_type[:_SHORT]
    session = _text(both.get("tallystream.session_id")) or _text(attrs.get("gen_ai.conversation.id"))
    extras = {
        "session_id": session,
        "end_user_id": _text(both.get("enduser.id")) or _text(both.get("user.id")),
        "feature": _text(both.get("tallystream.feature")),
        "domain": _text(both.get("tallystream.domain")),
    }
    event.update({k: v for k, v in extras.items() if v})
    service = _text(both.get("service.name"))
    if service:
        event["properties"] = {"service.name": service}
    return event


def _event_id(span: Any) -> uuid.UUID:
    trace_id: bytes = span.trace_id
    span_id: bytes = span.span_id
    if len(trace_id) == 16 and len(span_id) == 8 and any(trace_id) and any(span_id):
        return uuid.uuid5(SPAN_NAMESPACE, f"{trace_id.hex()}/{span_id.hex()}")
    # Invalid ids (a broken exporter): the span's own bytes are still stable across retries.
    digest = span.SerializeToString(deterministic=True).hex()
    return uuid.uuid5(SPAN_NAMESPACE, f"span/{digest}")


def _latency_ms(start_ns: int, end_ns: int) -> int:
    if not end_ns or end_ns <= start_ns:
        return 0
    return round((end_ns - start_ns) / 1_000_000)


def _provider(name: str) -> str:
    key = name.strip().lower()
    return _PROVIDERS.get(key, key)


def _exception_type(span: Any) -> str | None:
    """`exception.type` of the span's last `exception` event (what `Span.record_exception` writes)."""
    for span_event in reversed(span.events):
        if span_event.name == "exception":
            found = _text(_attributes(span_event.attributes).get("exception.type"))
            if found:
                return found
    return None


def _count(attrs: Attrs, *names: str) -> Any:
    """The first of `names` present as a token count: an int, an integral float or a decimal string;
    anything else is returned as it is, for validation to reject (and name) the event."""
    for name in names:
        if name not in attrs:
            continue
        value = attrs[name]
        if isinstance(value, bool):
            return str(value).lower()  # not a count: validation names it instead of reading True as 1
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value.strip())
        return value
    return 0


def _text(value: Any) -> str | None:
    """A scalar attribute as non-empty text, else None (arrays, kvlists and bytes are not text)."""
    if value is None or isinstance(value, list | dict | bytes):
        return None
    return str(value).strip() or None


def _attributes(key_values: Any) -> Attrs:
    """OTLP KeyValues as a dict of Python values (arrays as lists, kvlists as dicts)."""
    return {kv.key: _value(kv.value) for kv in key_values}


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(any_value.kvlist_value.values)
    return getattr(any_value, kind)


def _items(doc: Any, *keys: str) -> list[Any]:
    """The list under the first of `keys` in `doc`, when `doc` is an object and the value a list."""
    if not isinstance(doc, dict):
        return []
    for key in keys:
        value = doc.get(key)
        if isinstance(value, list):
            return value
    return []


def _hex_ids_to_base64(doc: Any, where: str) -> None:
    if not isinstance(doc, dict):
        return
    for key in ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id"):
        value = doc.get(key)
        if not isinstance(value, str):
            continue
        try:
            raw = binascii.unhexlify(value)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"malformed OTLP/JSON: {where}.{key} {value[:64]!r} is not a hex id") from exc
        doc[key] = base64.b64encode(raw).decode()
