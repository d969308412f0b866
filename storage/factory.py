"""Choosing and preparing the warehouse from settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.ddl import check_identifier, render_ddl
from schemas.ddl_alerts import render_alert_ddl
from schemas.rollups import render_rollup_ddl
from storage.base import Warehouse


class WarehouseSettings(BaseSettings):
    """Where tallystream stores priced events and rollups."""

    model_config = SettingsConfigDict(env_prefix="TALLY_", extra="ignore")

    clickhouse_url: SecretStr | None = Field(default=None, validation_alias="CLICKHOUSE_URL")
    """A ClickHouse server (http://user:password@host:8123); unset means embedded chDB."""
    store_url: str | None = None
    """A `tallystream-store` process serving the embedded engine to this one (local multi-process)."""
    store_token: SecretStr | None = None
    """Bearer token of the store, if it requires one."""
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


async def open_warehouse(settings: WarehouseSettings) -> Warehouse:
    """Connect to the configured warehouse and create the schema if needed."""
    check_identifier(settings.database)
    warehouse: Warehouse
    if settings.store_url is not None:
        from storage.remote import RemoteWarehouse

        token = settings.store_token.get_secret_value() if settings.store_token else None
        warehouse = RemoteWarehouse(settings.store_url, token)
    elif settings.clickhouse_url is not None:
        from storage.server_store import ClickHouseServerWarehouse

        warehouse = ClickHouseServerWarehouse(settings.clickhouse_url.get_secret_value())
    else:
        from storage.chdb_store import ChdbWarehouse

        warehouse = ChdbWarehouse(settings.chdb_path)
    rollup_retention = {
        "minute": settings.rollup_minute_retention_days,
        "hour": settings.rollup_hour_retention_days,
        "day": settings.rollup_day_retention_days,
    }
    statements = render_ddl(settings.database, settings.raw_retention_days, settings.dedup_window_days)
    for statement in (
        statements + render_rollup_ddl(settings.database, rollup_retention) + render_alert_ddl(settings.database)
    ):
        await warehouse.execute(statement)
    return warehouse
