"""Choosing and preparing the warehouse from settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.ddl import check_identifier, render_ddl
from schemas.ddl_alerts import render_alert_ddl
from schemas.rollups import DISTINCT_MEASURES, ROLLUPS_TABLE, distinct_upgrade, render_rollup_ddl
from storage.base import Warehouse
from storage.store_token import default_token_file


class WarehouseSettings(BaseSettings):
    """Where tallystream stores priced events and rollups."""

    model_config = SettingsConfigDict(env_prefix="TALLY_", extra="ignore")

    clickhouse_url: SecretStr | None = Field(default=None, validation_alias="CLICKHOUSE_URL")
    """A ClickHouse server (http://user:password@host:8123); unset means embedded chDB."""
    store_url: str | None = None
    """A `tallystream-store` process serving the embedded engine to this one (local multi-process)."""
    store_token: SecretStr | None = None
    """Bearer token of the store; unset: read from `store_token_file`."""
    store_token_file: Path | None = None
    """File holding the store's token; unset: `store.token` in `chdb_path` (the store writes it there)."""
    chdb_path: Path = Path("var/chdb")
    """Data folder of the embedded engine."""
    database: str = "tallystream"
    """Database holding tallystream's tables."""
    raw_retention_days: int = Field(default=30, ge=1)
    """How long raw priced events are kept."""
    rollup_minute_retention_days: int = Field(default=7, ge=1)
    """How long minute rollups are kept."""
    rollup_hour_retention_days: int = Field(default=400, ge=1)
    """How long hour rollups are kept."""
    rollup_day_retention_days: int = Field(default=1830, ge=1)
    """How long day rollups are kept."""
    dedup_window_days: int = Field(default=7, ge=1)
    """How long an event id is remembered: a re-send within this window is dropped."""


def store_token_file(settings: WarehouseSettings) -> Path:
    """Where the store's token is written and read when not given: one rule for the store and its clients."""
    return settings.store_token_file or default_token_file(settings.chdb_path)


async def open_warehouse(settings: WarehouseSettings) -> Warehouse:
    """Connect to the configured warehouse and create the schema if needed."""
    check_identifier(settings.database)
    warehouse: Warehouse
    if settings.store_url is not None:
        from storage.remote import RemoteWarehouse

        token = settings.store_token.get_secret_value() if settings.store_token else None
        warehouse = RemoteWarehouse(settings.store_url, token, token_file=store_token_file(settings))
    elif settings.clickhouse_url is not None:
        from storage.server_store import ClickHouseServerWarehouse

        warehouse = ClickHouseServerWarehouse(settings.clickhouse_url.get_secret_value())
    else:
        from storage.chdb_store import ChdbWarehouse

        warehouse = ChdbWarehouse(settings.chdb_path)
    await create_schema(warehouse, settings)
    return warehouse


def schema_statements(settings: WarehouseSettings) -> list[str]:
    """The statements that create (or upgrade) tallystream's schema, idempotently."""
    rollup_retention = {
        "minute": settings.rollup_minute_retention_days,
        "hour": settings.rollup_hour_retention_days,
        "day": settings.rollup_day_retention_days,
    }
    statements = render_ddl(settings.database, settings.raw_retention_days, settings.dedup_window_days)
    return statements + render_rollup_ddl(settings.database, rollup_retention) + render_alert_ddl(settings.database)


async def create_schema(warehouse: Warehouse, settings: WarehouseSettings) -> None:
    """Create (or upgrade) the schema in `warehouse`, the distinct-count columns of an older store included."""
    for statement in schema_statements(settings):
        await warehouse.execute(statement)
    if await _holds_ids_not_hashes(warehouse, settings.database):
        for statement in distinct_upgrade(settings.database):
            await warehouse.execute(statement)


def distinct_types_sql(database: str) -> str:
    """The type of each distinct-count column of the rollups (`any()` over an empty table still answers)."""
    columns = ", ".join(f"toTypeName(any({name})) AS {name}" for name in DISTINCT_MEASURES)
    return f"SELECT {columns} FROM {check_identifier(database)}.{ROLLUPS_TABLE}"


async def _holds_ids_not_hashes(warehouse: Warehouse, database: str) -> bool:
    """Whether the rollups' distinct-count arrays still hold the ids (a store written before the registry)."""
    found = await warehouse.query(distinct_types_sql(database))
    return bool(found) and any(found[0].get(name) == "Array(String)" for name in DISTINCT_MEASURES)
