"""The views API application factory and the `tallystream-views` entry point."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from alerting.rulebook import RuleBook
from guards.body import BodyLimitMiddleware, BodyLimits, BodyLimitSettings, RouteLimit
from storage import Warehouse, WarehouseSettings, open_warehouse
from tenancy.directory import Directory
from tenancy.kafka_log import DirectoryFollower, DirectoryWriter, KeyedLogFollower, KeyedLogWriter
from tenancy.replication import check_topics
from views_api import auth, context, ui
from views_api.routes import ROUTERS
from views_api.settings import ViewsSettings


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    warehouse: Warehouse,
    database: str,
    directory: Directory,
    clock: Callable[[], datetime] = _utc_now,
    follower: DirectoryFollower | None = None,
    writer: DirectoryWriter | None = None,
    rules: RuleBook | None = None,
    rules_follower: KeyedLogFollower | None = None,
    rules_writer: KeyedLogWriter | None = None,
    ui_dir: Path | None = None,
    limits: BodyLimitSettings | None = None,
    raw_retention_days: int = 30,
) -> FastAPI:
    """The dashboard API over `warehouse`, keys checked against `directory`, which `follower` keeps
    current (started and stopped with the app) or the caller does; `clock` gives "now" (tests pin it).
    `writer` (started and stopped with the app) saves tenants' store settings; without one they are
    read-only. `rules` holds the alert rules (`rules_follower` keeps it current; `rules_writer` saves
    changes; both started and stopped with the app). `limits`: request body limits (default: from the
    environment). `raw_retention_days`: how long raw events are kept (explore refuses older periods)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if follower is not None:
            await follower.start()
        started = [s for s in (writer, rules_follower, rules_writer) if s is not None]
        for service in started:
            await service.start()
        try:
            yield
        finally:
            for service in reversed(started):
                await service.stop()
            if follower is not None:
                await follower.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="tallystream views",
        version="0.1.0",
        description="Dashboard queries over tallystream's priced events and rollups.",
    )
    app.state.warehouse = warehouse
    app.state.database = database
    app.state.clock = clock
    app.state.directory = directory
    app.state.directory_writer = writer
    app.state.rules = rules
    app.state.rules_writer = rules_writer
    app.state.raw_retention_days = raw_retention_days
    auth.install(app)
    context.install(app)
    for router in ROUTERS:
        app.include_router(router)
    ui.install(app, ui_dir or ui.DEFAULT_UI_DIR)
    app.add_middleware(BodyLimitMiddleware, limits=body_limits(limits or BodyLimitSettings()))

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        """This process's metrics (with the embedded engine: the worker's too)."""
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def body_limits(limits: BodyLimitSettings) -> BodyLimits:
    """The body limit of each views route class: settings and admin routes, and every other route."""
    return BodyLimits(
        (
            RouteLimit("settings", "/api/dashboard/*/settings", limits.admin_bytes),
            RouteLimit("settings", "/api/dashboard/*/alerts/channels", limits.admin_bytes),
            RouteLimit("admin", "/api/admin/**", limits.admin_bytes),
        ),
        default=limits.default_bytes,
    )


def main() -> None:
    """Serve the views API alone; needs a ClickHouse server (the embedded engine lives in the worker)."""
    warehouse_settings = WarehouseSettings()
    if warehouse_settings.clickhouse_url is None and warehouse_settings.store_url is None:
        sys.exit(
            "tallystream-views alone needs CLICKHOUSE_URL (or TALLY_STORE_URL): with the embedded chDB "
            "engine the views run inside the worker process (tallystream-combined) or read a tallystream-store."
        )
    settings = ViewsSettings()
    # refuse to start on topics keeping fewer copies than configured (tenancy.replication)
    asyncio.run(
        check_topics(
            settings.kafka_bootstrap, [settings.directory_topic, settings.alert_rules_topic], settings.replication
        )
    )
    warehouse = asyncio.run(open_warehouse(warehouse_settings))
    directory = Directory()
    follower = DirectoryFollower(settings.kafka_bootstrap, settings.directory_topic, directory)
    writer = DirectoryWriter(settings.kafka_bootstrap, settings.directory_topic)
    rules = RuleBook()
    app = create_app(
        warehouse,
        warehouse_settings.database,
        directory,
        follower=follower,
        writer=writer,
        rules=rules,
        rules_follower=KeyedLogFollower(settings.kafka_bootstrap, settings.alert_rules_topic, rules),
        rules_writer=KeyedLogWriter(settings.kafka_bootstrap, settings.alert_rules_topic),
        ui_dir=settings.ui_dir,
        raw_retention_days=warehouse_settings.raw_retention_days,
    )
    uvicorn.run(app, host=settings.host, port=settings.port)
