"""CSV export of a tenant's events over any period, streamed in keyset pages (flat memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from storage import Warehouse
from views_api import queries
from views_api.context import TenantCtx, period_params
from views_api.csv_cells import csv_text
from views_api.deps import DatabaseDep, WarehouseDep
from views_api.limits import Limits, SlotStreamingResponse
from views_api.periods import Period

router = APIRouter(prefix="/api/dashboard/{tenant_id}", tags=["export"])

PAGE_ROWS = 5000
HEADER = [c.rsplit(" AS ", 1)[-1] for c in queries.EVENT_COLUMNS]


async def pages(
    warehouse: Warehouse, database: str, tenant_id: str, period: Period, page_rows: int = PAGE_ROWS
) -> AsyncIterator[str]:
    """The header, then one CSV chunk per page of at most `page_rows` events, in (time, id) order."""
    yield csv_text([HEADER])
    after: tuple[datetime, str] | None = None
    while True:
        q = queries.export_page(database, tenant_id, period.since, period.until, after, page_rows)
        rows = await warehouse.query(q.sql, q.params)
        if not rows:
            return
        yield csv_text([[row[c] for c in HEADER] for row in rows])
        if len(rows) < page_rows:
            return
        after = (rows[-1]["ts"], rows[-1]["id"])


@router.get(
    "/export/csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "Every event of the period, one per row."}},
)
async def export_csv(
    tenant: TenantCtx,
    request: Request,
    warehouse: WarehouseDep,
    database: DatabaseDep,
    period: Annotated[Period, Depends(period_params("30d"))],
) -> StreamingResponse:
    """Every stored event of the period as CSV (columns: `queries.EVENT_COLUMNS`), streamed page by page;
    text a spreadsheet would run as a formula starts with `'` (`views_api.csv_cells`). A tenant runs at most
    TALLY_VIEWS_EXPORTS_PER_TENANT exports at once (429 beyond)."""
    guard: Limits = request.app.state.limits
    name = f"tallystream-{tenant.tenant_id}-{period.since:%Y%m%d}-{period.until:%Y%m%d}.csv"
    return SlotStreamingResponse(
        pages(warehouse, database, tenant.tenant_id, period),
        guard.exports.acquire(tenant.tenant_id),
        send_timeout=guard.settings.stream_send_timeout_seconds,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
