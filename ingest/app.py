"""The ingest HTTP API: `POST /v1/events`.

Every 2xx means each accepted event was acknowledged by Kafka (acks=all, idempotent producer).
When Kafka does not acknowledge in time the answer is 503 with Retry-After: the client re-sends,
and the events it re-sends are counted once downstream because (tenant_id, event_id) is
deduplicated in the warehouse.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from ingest.parsing import BodyError, decode_documents, decompress, validate_events
from ingest.publisher import KafkaPublisher, Publisher, PublishError
from ingest.settings import IngestSettings
from schemas.events import event_to_json


class EventResult(BaseModel):
    index: int
    event_id: str | None
    error: str


class IngestResponse(BaseModel):
    accepted: int
    rejected: int
    errors: list[EventResult]


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def create_app(settings: IngestSettings, publisher: Publisher | None = None) -> FastAPI:
    """The ingest API; without `publisher` it connects a `KafkaPublisher` on startup."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if publisher is not None:  # owned and started by the caller
            yield
            return
        kafka = KafkaPublisher(settings.kafka_bootstrap, settings.events_topic, settings.publish_timeout_seconds)
        await kafka.start()
        app.state.publisher = kafka
        try:
            yield
        finally:
            await kafka.stop()

    app = FastAPI(title="tallystream ingest", version="0.1.0", lifespan=lifespan)
    app.state.publisher = publisher

    @app.post(
        "/v1/events",
        response_model=IngestResponse,
        responses={207: {"model": IngestResponse}, 400: {}, 413: {}, 503: {}},
    )
    async def ingest_events(request: Request) -> Any:
        """Accept a JSON array (or object) or NDJSON of events, gzip allowed."""
        body = await request.body()
        try:
            raw = decompress(body, request.headers.get("content-encoding"), settings.max_body_bytes)
            ndjson = "ndjson" in request.headers.get("content-type", "")
            docs = decode_documents(raw, ndjson)
        except BodyError as exc:
            return _error(exc.status, str(exc))
        if len(docs) > settings.max_batch_events:
            return _error(413, f"batch has {len(docs)} events; at most {settings.max_batch_events} per request")
        accepted, rejected = validate_events(docs)
        if accepted:
            records = [(ev.tenant_id.encode(), event_to_json(ev)) for ev in accepted]
            try:
                await request.app.state.publisher.publish(records)
            except PublishError:
                return _error(503, "event log unavailable; retry later", {"Retry-After": "1"})
        result = IngestResponse(
            accepted=len(accepted),
            rejected=len(rejected),
            errors=[EventResult(index=r.index, event_id=r.event_id, error=r.error) for r in rejected],
        )
        return Response(result.model_dump_json(), status_code=207 if rejected else 200, media_type="application/json")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
