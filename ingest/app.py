"""The ingest HTTP service: events in, durable in Kafka; tenants and keys; metrics.

Every 2xx means each accepted event was acknowledged by Kafka (acks=all, idempotent producer).
When Kafka does not acknowledge in time the answer is 503 with Retry-After: the client re-sends,
and what it re-sends is counted once downstream because (tenant_id, event_id) is deduplicated.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from guards.body import BodyLimitMiddleware, BodyLimits, BodyLimitSettings, RouteLimit
from guards.ratelimit import RateLimiter
from ingest import errors
from ingest.metrics import IngestMetrics
from ingest.publisher import KafkaPublisher, Publisher
from ingest.routes import admin, events, otlp
from ingest.settings import IngestSettings
from tenancy.directory import Directory
from tenancy.kafka_log import DirectoryFollower, DirectoryWriter
from tenancy.replication import check_topics


def body_limits(settings: IngestSettings, limits: BodyLimitSettings) -> BodyLimits:
    """The body limit of each ingest route class (bytes as sent; the ingest routes' decoded bodies are
    bounded by `max_body_bytes` too, as they inflate)."""
    return BodyLimits(
        (
            RouteLimit("events", "/v1/events", settings.max_body_bytes),
            RouteLimit("OTLP", "/v1/traces", settings.max_body_bytes),
            RouteLimit("admin", "/v1/admin/**", limits.admin_bytes),
        ),
        default=limits.default_bytes,
    )


def create_app(
    settings: IngestSettings,
    publisher: Publisher | None = None,
    directory: Directory | None = None,
    limits: BodyLimitSettings | None = None,
) -> FastAPI:
    """The ingest API. Without `publisher` it connects a `KafkaPublisher` on startup; without
    `directory` it follows the directory topic (and answers nothing until it has loaded it).
    `limits`: the body limits of the routes other than events and traces (default: from the environment)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            # refuse to start on topics keeping fewer copies than configured (tenancy.replication)
            await check_topics(
                settings.kafka_bootstrap, [settings.events_topic, settings.directory_topic], settings.replication
            )
            writer = DirectoryWriter(settings.kafka_bootstrap, settings.directory_topic)
            await writer.start()
            stack.push_async_callback(writer.stop)
            app.state.directory_writer = writer
            if directory is None:
                follower = DirectoryFollower(settings.kafka_bootstrap, settings.directory_topic)
                await follower.start()
                stack.push_async_callback(follower.stop)
                app.state.directory = follower.directory
                app.state.follower = follower
            if publisher is None:
                kafka = KafkaPublisher(
                    settings.kafka_bootstrap, settings.events_topic, settings.publish_timeout_seconds
                )
                await kafka.start()
                stack.push_async_callback(kafka.stop)
                app.state.publisher = kafka
            yield

    app = FastAPI(title="tallystream ingest", version="0.2.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.publisher = publisher
    app.state.directory = directory
    app.state.limiter = RateLimiter(settings.rate_burst_seconds)
    metrics = app.state.metrics = IngestMetrics()
    errors.install(app)
    app.include_router(events.router)
    app.include_router(admin.router)
    app.include_router(otlp.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(events.EVENT_SCHEMA_DEFS)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")  # the template: bounded label values
        metrics.latency.labels(route).observe(time.perf_counter() - started)
        metrics.requests.labels(route, str(response.status_code)).inc()
        metrics.body_bytes.labels(route).inc(int(request.headers.get("content-length") or 0))
        return response

    def refused(route: RouteLimit) -> None:
        metrics.requests.labels(route.pattern, "413").inc()

    # Added last: outermost, so a body over its limit is refused before anything reads it.
    app.add_middleware(
        BodyLimitMiddleware, limits=body_limits(settings, limits or BodyLimitSettings()), on_refused=refused
    )

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        """200 while the tenant directory is current (revocations apply); 503 when it is stale
        (beyond TALLY_DIRECTORY_MAX_STALE_SECONDS: keys are refused meanwhile)."""
        directory: Directory = app.state.directory
        status = "directory stale" if directory.stale else "ok"
        return JSONResponse(
            {
                "status": status,
                "directory_age_seconds": round(directory.age_seconds, 3),
                "directory_refused_records": directory.refused_records,
            },
            200 if status == "ok" else 503,
        )

    return app
