"""`tallystream-store`: the embedded ClickHouse engine (chDB) served to other local processes.

Owns the chDB files (`TALLY_CHDB_PATH`), creates the schema, and answers `POST /v1/execute`
(`{"sql"}`: the schema statements), `/v1/insert?table=db.t` (JSONEachRow body, `application/x-ndjson`),
`/v1/insert-arrow?table=db.t` (an Arrow IPC stream, `application/vnd.apache.arrow.stream`, for the
tables written in Arrow batches: events and rollups) and `/v1/query` (`{"sql", "params"}` ->
JSONCompact) for workers and views started with `TALLY_STORE_URL`. For development, tests and the
chaos command; production uses a ClickHouse server (`CLICKHOUSE_URL`).

Fences, in the order a request meets them:
- a body over `TALLY_STORE_MAX_BODY_BYTES` is refused with 413 before anything else reads it;
- binds 127.0.0.1 (`TALLY_STORE_HOST`); a `Host` header other than the bound loopback names (or
  `TALLY_STORE_ALLOWED_HOSTS`) is refused with 421, so a DNS-rebound browser page gets nothing;
- a bearer token always (401): `TALLY_STORE_TOKEN`, else the file `TALLY_STORE_TOKEN_FILE` (default
  `<TALLY_CHDB_PATH>/store.token`, made 0600 when missing), compared in constant time, never logged;
- only its own content types (415): a browser's no-preflight POST (text/plain, form) is refused;
- only the statement shapes the roles send (403, storage/sql_guard.py); an Arrow batch only into a
  table of tallystream's database written in Arrow batches (403), well formed (400) and with that
  table's columns and types (400);
- an engine holding only the roles' grants on tallystream's database (storage/chdb_access.py).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from guards.body import BodyLimitMiddleware, BodyLimits
from schemas.ddl import check_identifier
from storage import WarehouseError, WarehouseSettings
from storage.arrow_batches import ARROW_STREAM, UnknownArrowTable, from_ipc_stream, table_schema
from storage.chdb_store import ChdbWarehouse, keep_files_private
from storage.factory import create_schema, store_token_file
from storage.remote import JSON, NDJSON
from storage.sql_guard import RefusedStatement, check_execute, check_query
from storage.store_token import check_token, ensure_token_file

log = logging.getLogger(__name__)

LOOPBACK_NAMES = {
    "127.0.0.1": ("127.0.0.1", "localhost"),
    "::1": ("::1", "localhost"),
    "localhost": ("localhost", "127.0.0.1", "::1"),
}
"""Per loopback bind address, the names a local client's `Host` header may carry."""


class StoreSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TALLY_STORE_", extra="ignore")

    host: str = "127.0.0.1"
    """Address to bind: loopback unless the clients are elsewhere (then set `allowed_hosts`)."""
    port: int = Field(default=8123, ge=0, le=65535)
    allowed_hosts: str = ""
    """Comma-separated host names the `Host` header may carry, besides the bound loopback names."""
    max_body_bytes: int = Field(default=256 * 1024 * 1024, ge=1024 * 1024)
    """Largest request body (an insert batch, JSON or Arrow); larger is refused with 413."""


def allowed_host_names(settings: StoreSettings) -> frozenset[str]:
    """Names a request's `Host` may carry; ValueError for a non-loopback bind without any configured."""
    configured = {h.strip().lower().strip("[]") for h in settings.allowed_hosts.split(",") if h.strip()}
    loopback = LOOPBACK_NAMES.get(settings.host, ())
    if not loopback and not configured:
        raise ValueError(
            f"TALLY_STORE_HOST={settings.host} is not loopback: set TALLY_STORE_ALLOWED_HOSTS to the names "
            "clients use to reach the store"
        )
    return frozenset(configured | set(loopback))


_HOST = re.compile(r"^(?:\[(?P<v6>[0-9a-fA-F:.]+)\]|(?P<name>[^:\[\]]+))(?::(?P<port>\d{1,5}))?$")


def host_allowed(header: str, names: frozenset[str], port: int) -> bool:
    """Whether a `Host` header names this store: an allowed name and, when bound to one, its port."""
    match = _HOST.match(header.strip())
    if match is None:
        return False
    name = (match["v6"] or match["name"] or "").lower()
    given_port = int(match["port"]) if match["port"] else 80
    return name in names and (port == 0 or given_port == port)


def _check_table(name: str, database: str) -> str:
    parts = name.split(".")
    if len(parts) != 2:
        raise ValueError(f"table must be database.table, got {name[:100]!r}")
    db, table = (check_identifier(p) for p in parts)
    if db != database:
        raise RefusedStatement(f"the store serves the database {database}, not {db}")
    return f"{db}.{table}"


def _json_body(raw: bytes) -> tuple[str, dict[str, Any]]:
    """`sql` and `params` of a request body; ValueError naming what is wrong."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("sql"), str):
        raise ValueError('body must be a JSON object with "sql" (a string)')
    params = body.get("params") or {}
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise ValueError('"params" must be a JSON object')
    return body["sql"], params


_CLIENT_ERRORS = {"497": 403, "452": 403, "62": 400, "46": 400, "47": 400, "60": 400, "81": 400, "36": 400}
_CODE = re.compile(r"Code: (\d+)")


def _engine_status(exc: WarehouseError) -> int:
    """A refusal or a bad statement is the caller's (4xx); anything else is the engine's (500)."""
    match = _CODE.search(str(exc))
    return _CLIENT_ERRORS.get(match.group(1), 500) if match else 500


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message[:2000]}, status_code=status)


def create_app(
    warehouse_settings: WarehouseSettings,
    token: str,
    allowed_hosts: frozenset[str],
    port: int,
    max_body_bytes: int = StoreSettings.model_fields["max_body_bytes"].default,
) -> FastAPI:
    engine: dict[str, ChdbWarehouse] = {}
    table_functions: set[str] = set()
    database = check_identifier(warehouse_settings.database)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = ChdbWarehouse(warehouse_settings.chdb_path, fenced_database=database)
        try:
            await create_schema(opened, warehouse_settings)
            # the engine's own list, so a table function newer than sql_guard's is refused too
            table_functions.update(
                str(r["name"]) for r in await opened.query("SELECT name FROM system.table_functions")
            )
        except BaseException:
            await opened.close()
            raise
        engine["chdb"] = opened
        try:
            yield
        finally:
            await opened.close()

    app = FastAPI(title="tallystream store", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    expected = f"Bearer {token}".encode()
    content_types = {"/v1/execute": JSON, "/v1/query": JSON, "/v1/insert": NDJSON, "/v1/insert-arrow": ARROW_STREAM}

    @app.middleware("http")
    async def fence(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        if not host_allowed(request.headers.get("host", ""), allowed_hosts, port):
            return _error(421, "this store does not answer to that Host")
        if request.url.path != "/healthz":
            given = request.headers.get("authorization", "").encode("utf-8", "replace")
            if not hmac.compare_digest(given, expected):
                return _error(401, "missing or wrong store token")
            want = content_types.get(request.url.path)
            given_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if want is not None and given_type != want:
                return _error(415, f"{request.url.path} takes Content-Type: {want}")
        try:
            return await call_next(request)
        except RefusedStatement as exc:
            return _error(403, f"refused: {exc}")
        except WarehouseError as exc:
            return _error(_engine_status(exc), str(exc))
        except ValueError as exc:
            return _error(400, str(exc))

    @app.post("/v1/execute")
    async def execute(request: Request) -> Response:
        sql, _ = _json_body(await request.body())
        check_execute(sql, table_functions)
        await engine["chdb"].execute(sql)
        return Response(b"", media_type="text/plain")

    @app.post("/v1/insert")
    async def insert(request: Request, table: str) -> Response:
        await engine["chdb"].insert_json_each_row(_check_table(table, database), await request.body())
        return Response(b"", media_type="text/plain")

    @app.post("/v1/insert-arrow")
    async def insert_arrow(request: Request, table: str) -> Response:
        qualified = _check_table(table, database)
        try:
            schema = table_schema(qualified)
        except UnknownArrowTable as exc:
            raise RefusedStatement(str(exc)) from exc
        batch = from_ipc_stream(await request.body())
        if batch.schema.names != schema.names:
            raise ValueError(f"the batch's columns are not those of {qualified}, in table order: {schema.names}")
        await engine["chdb"].insert_arrow(qualified, batch)
        return Response(b"", media_type="text/plain")

    @app.post("/v1/query")
    async def query(request: Request) -> Response:
        sql, params = _json_body(await request.body())
        check_query(sql, table_functions)
        payload = await engine["chdb"].query_json_compact(sql, params or None)
        return Response(payload, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # outermost: an oversized body is refused before the token is checked or a byte of it is read
    app.add_middleware(BodyLimitMiddleware, limits=BodyLimits((), default=max_body_bytes))
    return app


def store_token(settings: WarehouseSettings) -> str:
    """The token the store requires: given, or read from (made in) its file."""
    if settings.store_token is not None:
        return check_token(settings.store_token.get_secret_value(), "TALLY_STORE_TOKEN")
    path = store_token_file(settings)
    token = ensure_token_file(path)
    log.info("store token in %s (mode 0600)", path)
    return token


def main() -> None:
    keep_files_private()  # the engine's data, its config and the token file: owner-only
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = StoreSettings()
    warehouse_settings = WarehouseSettings()
    app = create_app(
        warehouse_settings,
        store_token(warehouse_settings),
        allowed_host_names(settings),
        settings.port,
        settings.max_body_bytes,
    )
    log.info("store on http://%s:%d", settings.host, settings.port)
    asyncio.run(
        uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning")).serve()
    )
