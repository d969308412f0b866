"""`tallystream-store`: the embedded ClickHouse engine (chDB) served to other local processes.

Owns the chDB files (`TALLY_CHDB_PATH`), creates the schema, and answers `POST /v1/execute`,
`/v1/insert?table=db.t` (JSONEachRow body) and `/v1/query` (`{"sql", "params"}` -> JSONCompact)
for workers and views started with `TALLY_STORE_URL`. It binds to 127.0.0.1 and, when
`TALLY_STORE_TOKEN` is set, requires it as a bearer token. For development, tests and the chaos
command; production uses a ClickHouse server (`CLICKHOUSE_URL`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.ddl import check_identifier
from storage import WarehouseError, WarehouseSettings, open_warehouse
from storage.chdb_store import ChdbWarehouse


class StoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TALLY_STORE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8123, ge=0, le=65535)
    token: str | None = None


def _check_table(name: str) -> str:
    parts = name.split(".")
    if len(parts) != 2:
        raise ValueError(f"table must be database.table, got {name!r}")
    return ".".join(check_identifier(p) for p in parts)


def create_app(warehouse_settings: WarehouseSettings, token: str | None) -> FastAPI:
    engine: dict[str, ChdbWarehouse] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = await open_warehouse(warehouse_settings.model_copy(update={"store_url": None}))
        assert isinstance(opened, ChdbWarehouse), "the store serves the embedded engine (unset CLICKHOUSE_URL)"
        engine["chdb"] = opened
        try:
            yield
        finally:
            await opened.close()

    app = FastAPI(title="tallystream store", lifespan=lifespan, openapi_url=None, docs_url=None)

    @app.middleware("http")
    async def authorize(request: Request, call_next):  # type: ignore[no-untyped-def]
        if token and request.url.path != "/healthz":
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"error": "missing or wrong store token"}, status_code=401)
        try:
            return await call_next(request)
        except (WarehouseError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=500 if isinstance(exc, WarehouseError) else 400)

    @app.post("/v1/execute")
    async def execute(request: Request) -> Response:
        await engine["chdb"].execute((await request.body()).decode())
        return Response(b"", media_type="text/plain")

    @app.post("/v1/insert")
    async def insert(request: Request, table: str) -> Response:
        await engine["chdb"].insert_json_each_row(_check_table(table), await request.body())
        return Response(b"", media_type="text/plain")

    @app.post("/v1/query")
    async def query(request: Request) -> Response:
        body = orjson.loads(await request.body())
        payload = await engine["chdb"].query_json_compact(body["sql"], body.get("params") or None)
        return Response(payload, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = StoreSettings()
    app = create_app(WarehouseSettings(), settings.token)
    asyncio.run(
        uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning")).serve()
    )
