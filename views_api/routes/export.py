"""Export of a tenant's events over any period, as CSV or NDJSON, streamed in keyset pages (flat memory).

Both carry every field of the event contract (`queries.export.EXPORT_COLUMNS`): custom events'
dimensions and measures, properties, audio seconds, the category of product events and conversions
(`product_category`), the attributed session ... CSV cells go through `views_api.csv_cells` (text a
spreadsheet would run as a formula gets a `'` in front) and a map is one cell of JSON text; NDJSON
has one JSON object per event and line, maps as objects, money as exact decimal strings.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from storage import Warehouse
from views_api.context import Tenant, TenantCtx, period_params
from views_api.csv_cells import csv_text
from views_api.deps import DatabaseDep, WarehouseDep
from views_api.limits import Limits, SlotStreamingResponse
from views_api.periods import Period
from views_api.queries.export import EXPORT_HEADER, MAP_COLUMNS, export_page

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["export"])

PAGE_ROWS = 5000
HEADER = list(EXPORT_HEADER)
ExportPeriod = Annotated[Period, Depends(period_params("30d"))]


async def event_pages(
    warehouse: Warehouse, database: str, tenant_id: str, period: Period, page_rows: int = PAGE_ROWS
) -> AsyncIterator[list[dict[str, Any]]]:
    """The period's events, one list of at most `page_rows` rows per page, in (time, id) order."""
    after: tuple[datetime, str] | None = None
    while True:
        q = export_page(database, tenant_id, period.since, period.until, after, page_rows)
        rows = await warehouse.query(q.sql, q.params)
        if not rows:
            return
        yield rows
        if len(rows) < page_rows:
            return
        after = (rows[-1]["ts"], rows[-1]["id"])


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot export a {type(value).__name__}")


_JSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_SORT_KEYS


def csv_row(row: Mapping[str, Any]) -> list[Any]:
    """One event as CSV cells in `HEADER` order: maps as JSON text (keys sorted), the rest as they are."""
    return [orjson.dumps(row[c], option=_JSON_OPTIONS).decode() if c in MAP_COLUMNS else row[c] for c in HEADER]


def ndjson_line(row: Mapping[str, Any]) -> bytes:
    """One event as a line of JSON: the columns of `HEADER`, maps as objects, decimals as strings, UTC `Z` times."""
    return orjson.dumps({c: row[c] for c in HEADER}, default=_json_default, option=orjson.OPT_UTC_Z) + b"\n"


async def pages(
    warehouse: Warehouse, database: str, tenant_id: str, period: Period, page_rows: int = PAGE_ROWS
) -> AsyncIterator[str]:
    """The header, then one CSV chunk per page of at most `page_rows` events, in (time, id) order."""
    yield csv_text([HEADER])
    async for rows in event_pages(warehouse, database, tenant_id, period, page_rows):
        yield csv_text(csv_row(row) for row in rows)


async def ndjson_pages(
    warehouse: Warehouse, database: str, tenant_id: str, period: Period, page_rows: int = PAGE_ROWS
) -> AsyncIterator[bytes]:
    """One NDJSON chunk per page of at most `page_rows` events, in (time, id) order."""
    async for rows in event_pages(warehouse, database, tenant_id, period, page_rows):
        yield b"".join(ndjson_line(row) for row in rows)


def _stream(
    request: Request, tenant: Tenant, period: Period, body: AsyncIterator[Any], suffix: str, media_type: str
) -> StreamingResponse:
    guard: Limits = request.app.state.limits
    name = f"tallystream-{tenant.tenant_id}-{period.since:%Y%m%d}-{period.until:%Y%m%d}.{suffix}"
    return SlotStreamingResponse(
        body,
        guard.exports.acquire(tenant.tenant_id),
        send_timeout=guard.settings.stream_send_timeout_seconds,
        media_type=media_type,
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/export/csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "Every event of the period, one per row."}},
)
async def export_csv(
    tenant: TenantCtx, request: Request, warehouse: WarehouseDep, database: DatabaseDep, period: ExportPeriod
) -> StreamingResponse:
    """Every stored event of the period as CSV, every contract field a column (`queries.export.EXPORT_COLUMNS`),
    streamed page by page; maps (properties, custom dimensions and measures) are JSON text; text a spreadsheet
    would run as a formula starts with `'` (`views_api.csv_cells`). A tenant runs at most
    TALLY_VIEWS_EXPORTS_PER_TENANT exports (CSV and NDJSON together) at once (429 beyond)."""
    body = pages(warehouse, database, tenant.tenant_id, period)
    return _stream(request, tenant, period, body, "csv", "text/csv; charset=utf-8")


@router.get(
    "/export/ndjson",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}}, "description": "Every event of the period, one per line."}
    },
)
async def export_ndjson(
    tenant: TenantCtx, request: Request, warehouse: WarehouseDep, database: DatabaseDep, period: ExportPeriod
) -> StreamingResponse:
    """Every stored event of the period as newline-delimited JSON (one object per event and line, in time
    order), with the CSV export's columns: maps as objects, money as exact decimal strings, times in UTC.
    Shares the export limit with the CSV export (TALLY_VIEWS_EXPORTS_PER_TENANT, 429 beyond)."""
    body = ndjson_pages(warehouse, database, tenant.tenant_id, period)
    return _stream(request, tenant, period, body, "ndjson", "application/x-ndjson")
