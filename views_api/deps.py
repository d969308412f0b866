"""FastAPI dependencies: the warehouse, the database name and the clock, from app state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request

from storage import Warehouse


def _warehouse(request: Request) -> Warehouse:
    warehouse: Warehouse = request.app.state.warehouse
    return warehouse


def _database(request: Request) -> str:
    database: str = request.app.state.database
    return database


def _now(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


WarehouseDep = Annotated[Warehouse, Depends(_warehouse)]
DatabaseDep = Annotated[str, Depends(_database)]
NowDep = Annotated[datetime, Depends(_now)]
