"""The CSV and NDJSON exports carry every contract field, over real HTTP on a known event set."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import orjson
import pytest
import pytest_asyncio

from tests.revenuedata import EVENTS, FORMULA_CATEGORY, FORMULA_DIMENSION, MARCH_17, TENANT, Shop, shop_views
from views_api.routes.export import HEADER

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

DAY = "from=2026-03-17&to=2026-03-17"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shop(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Shop]:
    async with shop_views(tmp_path_factory.mktemp("shop")) as served:
        yield served


def ids(names: tuple[str, ...]) -> list[str]:
    return [EVENTS[n]["event_id"] for n in names]


def check_common(rows: dict[str, dict[str, Any]]) -> None:
    """What both formats say alike (text as text)."""
    c1, w1, k1, f1, t1 = (rows[n] for n in ("c1", "w1", "k1", "f1", "t1"))
    assert (c1["order_id"], c1["currency"], c1["feature"]) == ("o-c1", "USD", "chat")
    assert (c1["product_category"], c1["session_id"], c1["attributed_session_id"]) == ("pumps", "s-1", "s-0")
    assert (c1["type"], c1["tenant_id"], c1["ts"]) == ("conversion", TENANT, "2026-03-17T09:00:00Z")
    assert (w1["model"], w1["operation"], w1["provider"]) == ("whisper-large-v3", "transcription", "groq")
    assert (k1["name"], k1["end_user_id"], k1["domain"]) == ("site.built", "u-9", "shop.test")
    assert (t1["tool_name"], t1["status"], t1["error_type"]) == ("lookup", "error", "Timeout")
    assert rows["c5"]["currency"] == "EUR" and f1["session_id"] == "s-1"


async def test_csv_export_has_every_field_with_maps_as_json_and_formulas_quoted(shop: Shop) -> None:
    response = await shop.get(f"/export/csv?{DAY}")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="tallystream-shop-20260317-20260318.csv"'
    reader = csv.DictReader(io.StringIO(response.text))
    assert reader.fieldnames == HEADER
    listed = list(reader)
    assert [r["id"] for r in listed] == ids(MARCH_17)
    rows = dict(zip(MARCH_17, listed, strict=True))
    check_common(rows)
    c1, w1, k1, f1, p1 = (rows[n] for n in ("c1", "w1", "k1", "f1", "p1"))
    assert Decimal(c1["revenue"]) == Decimal("129.90") and Decimal(rows["c5"]["revenue"]) == Decimal("100")
    assert (float(w1["audio_seconds"]), float(rows["g1"]["audio_seconds"])) == (90.0, 0.0)
    assert orjson.loads(k1["dimensions"]) == {"status": "failed", "site_type": FORMULA_DIMENSION}
    assert k1["dimensions"].startswith('{"site_type":"=HYPERLINK(')  # JSON text: a cell no spreadsheet runs
    assert orjson.loads(k1["measures"]) == {"duration_s": 12.5, "pages": 3.0}
    assert (k1["properties"], c1["properties"], c1["dimensions"]) == ('{"plan":"pro"}', "{}", "{}")
    assert (f1["rating"], f1["comment_chars"], f1["schema_version"]) == ("4", "120", "1")
    assert p1["product_category"] == "'" + FORMULA_CATEGORY  # views_api.csv_cells
    assert (p1["product_action"], p1["product_id"]) == ("clicked", "SKU-1")


async def test_ndjson_export_has_every_field_with_maps_as_objects(shop: Shop) -> None:
    response = await shop.get(f"/export/ndjson?{DAY}")
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["content-disposition"].endswith('-20260317-20260318.ndjson"')
    lines = response.content.split(b"\n")
    assert lines[-1] == b""  # every line ends with a newline
    listed = [orjson.loads(line) for line in lines[:-1]]
    assert all(list(doc) == HEADER for doc in listed)
    assert [d["id"] for d in listed] == ids(MARCH_17)
    rows = dict(zip(MARCH_17, listed, strict=True))
    check_common(rows)
    c1, w1, k1, f1, p1 = (rows[n] for n in ("c1", "w1", "k1", "f1", "p1"))
    assert isinstance(c1["revenue"], str) and Decimal(c1["revenue"]) == Decimal("129.90")
    assert (w1["audio_seconds"], k1["measures"]) == (90.0, {"duration_s": 12.5, "pages": 3.0})
    assert (k1["properties"], c1["properties"]) == ({"plan": "pro"}, {})
    assert k1["dimensions"] == {"status": "failed", "site_type": FORMULA_DIMENSION}
    assert (f1["rating"], f1["comment_chars"], f1["schema_version"], c1["dimensions"]) == (4, 120, 1, {})
    assert p1["product_category"] == FORMULA_CATEGORY  # JSON carries data as sent


async def test_exports_span_any_period_and_refuse_bad_parameters_by_name(shop: Shop) -> None:
    whole = (await shop.get("/export/ndjson?from=2026-03-01&to=2026-03-18")).content.splitlines()
    assert sorted(orjson.loads(line)["id"] for line in whole) == sorted(e["event_id"] for e in EVENTS.values())
    for route in ("/export/csv", "/export/ndjson"):
        for query, param in [
            ("days=0", "days"),
            ("period=forever", "period"),
            ("from=2026-02-30&to=2026-03-01", "from"),
            ("from=2026-03-01", "to"),
            ("from=1900-01-01&to=2026-03-01", "from"),
            ("tz=Mars/Olympus", "tz"),
            ("to=" + "9" * 100 + "&from=2026-03-01", "to"),
        ]:
            body = (await shop.get(f"{route}?{query}", status=422)).json()
            assert body["detail"][0]["loc"] == ["query", param], (route, query, body)
