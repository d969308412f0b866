"""`tallystream-combined`: the worker and the views API in one process.

With the embedded chDB engine the process that writes is the process that reads, so this is how
the roles run on one machine: the Faust worker and uvicorn share one event loop and one
`Warehouse`. With a ClickHouse server, run `tallystream-worker` and `tallystream-views` apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import uvicorn
from mode import Service

from alerting.rulebook import RuleBook
from processors.main import run_worker
from processors.settings import WorkerSettings
from storage import Warehouse, WarehouseSettings
from storage.chdb_store import keep_files_private
from tenancy.directory import Directory
from tenancy.kafka_log import DirectoryWriter, KeyedLogWriter
from views_api.main import create_app
from views_api.settings import ViewsSettings


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the Faust worker."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class ViewsService(Service):  # type: ignore[misc]
    """Serves the views API inside the worker's event loop."""

    def __init__(
        self,
        warehouse: Warehouse,
        database: str,
        directory: Directory,
        rules: RuleBook,
        settings: ViewsSettings,
        raw_retention_days: int = 30,
    ) -> None:
        super().__init__()
        config = uvicorn.Config(
            create_app(
                warehouse,
                database,
                directory,
                writer=DirectoryWriter(settings.kafka_bootstrap, settings.directory_topic),
                rules=rules,  # followed by the worker's alert service, in this same process
                rules_writer=KeyedLogWriter(settings.kafka_bootstrap, settings.alert_rules_topic),
                ui_dir=settings.ui_dir,
                raw_retention_days=raw_retention_days,
            ),
            host=settings.host,
            port=settings.port,
            log_level="warning",
        )
        self._server = _EmbeddedServer(config)
        self._task: asyncio.Task[Any] | None = None

    async def on_start(self) -> None:
        self._task = asyncio.ensure_future(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the startup error (port taken ...)
            await asyncio.sleep(0.05)
        config = self._server.config
        logging.getLogger(__name__).info("views API on http://%s:%d", config.host, config.port)

    async def on_stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task


def main() -> None:
    keep_files_private()  # an embedded engine's data: owner-only
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    warehouse_settings = WarehouseSettings()
    views_settings = ViewsSettings()
    run_worker(
        WorkerSettings(),
        warehouse_settings,
        lambda warehouse, directory, rules: [
            ViewsService(
                warehouse,
                warehouse_settings.database,
                directory,
                rules,
                views_settings,
                raw_retention_days=warehouse_settings.raw_retention_days,
            )
        ],
    )
