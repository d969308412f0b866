"""The views API application factory and the `tallystream-views` entry point."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import uvicorn
from fastapi import FastAPI

from storage import Warehouse, WarehouseSettings, open_warehouse
from views_api.routes import dashboard
from views_api.settings import ViewsSettings


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(warehouse: Warehouse, database: str, clock: Callable[[], datetime] = _utc_now) -> FastAPI:
    """The dashboard API over `warehouse`; `clock` gives "now" (tests pin it)."""
    app = FastAPI(
        title="tallystream views",
        version="0.1.0",
        description="Dashboard queries over tallystream's priced events and rollups.",
    )
    app.state.warehouse = warehouse
    app.state.database = database
    app.state.clock = clock
    app.include_router(dashboard.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    """Serve the views API alone; needs a ClickHouse server (the embedded engine lives in the worker)."""
    warehouse_settings = WarehouseSettings()
    if warehouse_settings.clickhouse_url is None:
        sys.exit(
            "tallystream-views alone needs CLICKHOUSE_URL: with the embedded chDB engine the views "
            "run inside the worker process (tallystream-combined)."
        )
    settings = ViewsSettings()
    warehouse = asyncio.run(open_warehouse(warehouse_settings))
    uvicorn.run(create_app(warehouse, warehouse_settings.database), host=settings.host, port=settings.port)
