"""FastAPI dependencies: the warehouse, the database name and the clock, from app state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from storage import Warehouse
from views_api.queries import Query


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


async def run(warehouse: Warehouse, q: Query) -> list[dict[str, Any]]:
    """The rows of a built query."""
    return await warehouse.query(q.sql, q.params)


async def one(warehouse: Warehouse, q: Query) -> dict[str, Any]:
    """The single row of an ungrouped aggregate."""
    return (await run(warehouse, q))[0]
