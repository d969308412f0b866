"""What every builder returns, and the helpers they share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from schemas.ddl import EVENTS_TABLE, ch_datetime64, check_identifier


@dataclass(frozen=True)
class Query:
    """A statement and the values of its parameters."""

    sql: str
    params: dict[str, Any]


def seconds(value: datetime) -> str:
    """A UTC datetime as the text of a DateTime parameter."""
    return value.strftime("%Y-%m-%d %H:%M:%S")


def raw_table(database: str) -> str:
    return f"{check_identifier(database)}.{EVENTS_TABLE}"


def raw_range(tenant_id: str, since: datetime, until: datetime) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "since": ch_datetime64(since), "until": ch_datetime64(until)}


RAW_RANGE: Final = "tenant_id = {tenant_id:String} AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)}"
