"""Entry point of the worker role: `tallystream-worker`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import faust
from mode import Service

from processors.app import create_app
from processors.settings import WorkerSettings
from storage import Warehouse, WarehouseSettings, open_warehouse
from tenancy.directory import Directory
from tenancy.kafka_log import DirectoryFollower

log = logging.getLogger(__name__)


class WarehouseCloser(Service):  # type: ignore[misc]
    """Closes the warehouse when the worker stops (listed first, so it stops last)."""

    def __init__(self, warehouse: Warehouse) -> None:
        super().__init__()
        self._warehouse = warehouse

    async def on_stop(self) -> None:
        await self._warehouse.close()


class DirectoryService(Service):  # type: ignore[misc]
    """Follows the tenant directory; started before the agents and the views, ready once loaded."""

    def __init__(self, follower: DirectoryFollower) -> None:
        super().__init__()
        self._follower = follower

    async def on_start(self) -> None:
        await self._follower.start()

    async def on_stop(self) -> None:
        await self._follower.stop()


def run_worker(
    settings: WorkerSettings,
    warehouse_settings: WarehouseSettings,
    services: Callable[[Warehouse, Directory], Sequence[Any]] = lambda _w, _d: (),
) -> None:
    """Open the warehouse, then run the Faust worker (plus `services(warehouse, directory)`) until stopped."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    warehouse = loop.run_until_complete(open_warehouse(warehouse_settings))
    directory = Directory()
    follower = DirectoryFollower(settings.kafka_bootstrap, settings.directory_topic, directory)
    app = create_app(
        settings,
        warehouse,
        warehouse_settings.database,
        directory=directory,
        raw_retention_days=warehouse_settings.raw_retention_days,
    )
    worker = faust.Worker(
        app,
        WarehouseCloser(warehouse),
        DirectoryService(follower),
        *services(warehouse, directory),
        loop=loop,
        loglevel=settings.log_level,
    )
    worker.execute_from_commandline()


def main() -> None:
    """Run a worker that only processes (use with a ClickHouse server: CLICKHOUSE_URL)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run_worker(WorkerSettings(), WarehouseSettings())
