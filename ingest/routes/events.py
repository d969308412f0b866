"""`POST /v1/events`: JSON array (or one object) or NDJSON, gzip allowed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from ingest.accept import IngestResponse, accept, accept_valid, render, sender, too_many
from ingest.auth import require
from ingest.counting import more_documents_than
from ingest.metering import Cost, admit, charged
from ingest.parsing import Inflater, decode_documents, read_decoded
from schemas.events import AnyEvent, Event
from tenancy.directory import Principal

router = APIRouter()

_BATCH: TypeAdapter[list[AnyEvent]] = TypeAdapter(list[Event])
_BATCH_SCHEMA = _BATCH.json_schema(ref_template="#/components/schemas/{model}")
EVENT_SCHEMA_DEFS: dict[str, Any] = _BATCH_SCHEMA.pop("$defs")
"""The event models' schemas, for the app's OpenAPI components (the body is declared, read raw)."""
_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _BATCH_SCHEMA},
        "application/x-ndjson": {"schema": {"type": "string", "description": "One event object per line."}},
    },
}

_ERROR = {"content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}}


@router.post(
    "/v1/events",
    response_model=IngestResponse,
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={
        207: {"model": IngestResponse, "description": "Some events were rejected; each is listed."},
        400: {**_ERROR, "description": "Malformed body (the position is named)."},
        401: {**_ERROR, "description": "No valid API key."},
        403: {**_ERROR, "description": "Wrong scope, or an event of another tenant."},
        413: {**_ERROR, "description": "Body or batch over the limit."},
        415: {**_ERROR, "description": "Unsupported content encoding."},
        429: {**_ERROR, "description": "Over the tenant's rate limit; see Retry-After."},
        503: {
            **_ERROR,
            "description": "Event log did not acknowledge; retry after Retry-After (re-sent events are counted once).",
        },
    },
)
async def ingest_events(request: Request, principal: Annotated[Principal, Depends(require("ingest"))]) -> Response:
    """Accept events; a 2xx means every accepted event is durable in the event log.

    Events without `tenant_id` get the key's tenant. The same (tenant_id, event_id) sent again is
    counted once downstream, so retrying after a timeout or a 503 is always safe.
    """
    settings = request.app.state.settings
    tenant_id = sender(principal)
    admit(request, tenant_id)  # 429 before reading when the tenant has no token left
    cost = Cost(Inflater(request.headers.get("content-encoding"), settings.max_body_bytes))
    with charged(request, tenant_id, cost):
        raw = await read_decoded(request.stream(), request.headers.get("content-length"), cost.inflater)
        ndjson = "ndjson" in request.headers.get("content-type", "")
        if more_documents_than(raw, ndjson, settings.max_batch_events):  # before building any of them
            cost.events = settings.max_batch_events + 1
            raise too_many(request, "events")
        if not ndjson:
            # Fast path: a JSON array of valid events, validated in one pass. Anything else (a bad
            # event, a missing tenant_id, one object, malformed JSON) takes the per-event path,
            # which names each problem.
            try:
                valid = _BATCH.validate_json(raw)
            except ValidationError:
                valid = None
            if valid is not None:
                cost.events = len(valid)
                result = await accept_valid(request, principal, valid, source="events")
                if result is not None:
                    return render(result)
        docs = decode_documents(raw, ndjson)
        cost.events = len(docs)
        return render(await accept(request, principal, docs, source="events"))
