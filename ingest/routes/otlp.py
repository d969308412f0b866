"""`POST /v1/traces`: OTLP/HTTP trace export (protobuf or JSON, gzip allowed); GenAI spans become `llm_call`s.

Any OpenTelemetry SDK or Collector can point its OTLP/HTTP traces exporter here with the tenant's
ingest key as `Authorization: Bearer ...`. Spans without GenAI attributes are skipped (and counted in
`tally_ingest_otlp_spans_skipped_total`), not rejected: a service exports all of its spans.

The answer follows OTLP/HTTP: 200 with an `ExportTraceServiceResponse` in the request's encoding;
spans that became invalid events are reported in `partial_success` (and are not retried by the
exporter). Refusals keep the ingest API's statuses and JSON error body: 400, 401, 403, 413, 415, and
429 / 503 with Retry-After, which OTel exporters honour when they retry.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from ingest.accept import IngestResponse, accept, sender, too_many
from ingest.auth import require
from ingest.counting import spans_over
from ingest.errors import ApiError
from ingest.metering import Cost, admit, charged
from ingest.metrics import IngestMetrics
from ingest.otlp import MappedSpan, decode_protobuf, json_spans_over, load_json, map_spans, request_from_json
from ingest.parsing import Inflater, read_decoded
from tenancy.directory import Principal

router = APIRouter()

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MAX_LISTED_ERRORS = 20
"""Rejected spans named one by one in `partial_success.error_message`; the rest are counted."""

_ERROR = {"content": {JSON: {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}}
_EXPORT_RESPONSE = {
    "description": "Accepted; `partial_success` counts and names spans that were rejected as invalid.",
    "content": {PROTOBUF: {}, JSON: {"schema": {"type": "object"}}},
}


@router.post(
    "/v1/traces",
    response_class=Response,
    responses={
        200: _EXPORT_RESPONSE,
        400: {**_ERROR, "description": "Malformed OTLP body."},
        401: {**_ERROR, "description": "No valid API key."},
        403: {**_ERROR, "description": "Wrong scope, or an operator key."},
        413: {**_ERROR, "description": "Body or batch over the limit."},
        415: {**_ERROR, "description": "Unsupported Content-Type or Content-Encoding."},
        429: {**_ERROR, "description": "Over the tenant's rate limit; see Retry-After."},
        503: {
            **_ERROR,
            "description": "Event log did not acknowledge; retry after Retry-After (re-sent events are counted once).",
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {PROTOBUF: {}, JSON: {"schema": {"type": "object"}}},
            "description": "An OTLP ExportTraceServiceRequest (OTLP/protobuf or OTLP/JSON).",
        }
    },
)
async def export_traces(request: Request, principal: Annotated[Principal, Depends(require("ingest"))]) -> Response:
    """Accept an OTLP trace export; each GenAI span becomes one `llm_call` of the key's tenant.

    A 200 means every accepted span is durable in the event log. Event ids derive from
    (trace_id, span_id), so an exporter's retry is counted once downstream.
    """
    tenant_id = sender(principal)
    admit(request, tenant_id)  # 429 before reading when the tenant has no token left
    settings = request.app.state.settings
    cost = Cost(Inflater(request.headers.get("content-encoding"), settings.max_body_bytes))
    with charged(request, tenant_id, cost):
        media_type = (request.headers.get("content-type") or PROTOBUF).split(";", 1)[0].strip().lower()
        if media_type not in (PROTOBUF, JSON):
            raise ApiError(415, f"unsupported Content-Type {media_type!r}; use {PROTOBUF} or {JSON}")
        raw = await read_decoded(request.stream(), request.headers.get("content-length"), cost.inflater)
        limit = settings.max_batch_events
        try:
            if media_type == JSON:
                doc = load_json(raw)
                over = json_spans_over(doc, limit)
            else:
                over = spans_over(raw, limit)  # on the wire, before decoding a span
            if over is not None:  # spans are counted before any is mapped
                cost.events = limit + 1
                raise too_many(request, over)
            export = request_from_json(doc) if media_type == JSON else decode_protobuf(raw)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from exc
        mapped, skipped = map_spans(export)
        cost.events = len(mapped)
        outcome = await accept(request, principal, [m.event for m in mapped], source="otlp")
    metrics: IngestMetrics = request.app.state.metrics
    metrics.skipped_spans.inc(skipped)  # after accept: a batch retried after 429/503 is counted once
    return export_response(outcome, mapped, media_type)


def export_response(outcome: IngestResponse, mapped: list[MappedSpan], media_type: str) -> Response:
    """The OTLP `ExportTraceServiceResponse` for `outcome`, encoded as `media_type`."""
    response: Any = ExportTraceServiceResponse()
    if outcome.rejected:
        named = [f"{mapped[e.index].ref}: {e.error}" for e in outcome.errors[:MAX_LISTED_ERRORS]]
        if outcome.rejected > len(named):
            named.append(f"... and {outcome.rejected - len(named)} more")
        response.partial_success.rejected_spans = outcome.rejected
        response.partial_success.error_message = (
            f"{outcome.rejected} of {len(mapped)} GenAI spans rejected as invalid llm_call events: " + "; ".join(named)
        )
    if media_type == JSON:
        return Response(orjson.dumps(json_format.MessageToDict(response)), media_type=JSON)
    return Response(response.SerializeToString(), media_type=PROTOBUF)
