"""A known event set for the views API, stored through the real worker code into chDB.

`dataset()` builds 21 days of chat traffic for tenant `acme` (zone UTC) and a little for `globex`
(zone Europe/Paris), deterministically. `views(tmp_path)` stores it with the worker's own
`BatchHandler` (each record's Kafka timestamp is its event time, so nothing is late) and yields
an HTTP client on the views API with the clock pinned at `NOW`, plus the keys of both tenants.
Tests compute what each endpoint must answer from the event list itself (see `pick`).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson

from alerting.rulebook import RuleBook
from processors.pipeline import BatchHandler
from processors.rows import DeadLetter, Record
from processors.sink import EventSink
from schemas.ddl import render_ddl
from schemas.ddl_alerts import render_alert_ddl
from schemas.rollups import render_rollup_ddl
from schemas.tenancy import ApiKeyRecord, TenantRecord, key_record_key, new_key, tenant_record_key
from storage.chdb_store import ChdbWarehouse
from tenancy.directory import Directory
from tenancy.kafka_log import DirectoryWriter, KeyedLogWriter
from views_api.main import create_app

NOW = datetime(2026, 3, 18, 15, 30, tzinfo=UTC)
"""The pinned clock: a Wednesday afternoon, UTC."""
DB = "v"
MODELS = [
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("groq", "llama-3.1-8b-instant"),
]
DOMAINS = ["shop.acme.test", "help.acme.test"]
PRODUCTS = [("P1", "Hydraulic pump"), ("P2", "Pump filter"), ("P3", "Pressure gauge")]
ZERO_QUERIES = ["do you have hydraulic pump filters?", "looking for blue widgets", "Looking for  BLUE widgets"]
FOUND_QUERIES = ["pump", "gauge"]

_ids = iter(range(10**9))


def _id() -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tallystream-views-{next(_ids)}"))


def _ev(kind: str, tenant: str, ts: datetime, **fields: Any) -> dict[str, Any]:
    return {"event_id": _id(), "type": kind, "tenant_id": tenant, "timestamp": ts.isoformat(), **fields}


def dataset() -> list[dict[str, Any]]:
    """21 days of sessions for acme (day 0 is today, up to NOW), and two sessions for globex."""
    global _ids
    _ids = iter(range(10**9))
    events: list[dict[str, Any]] = []
    n = 0
    for day in range(21):
        for s in range(2 + day % 3):
            n += 1
            start = (NOW - timedelta(days=day)).replace(hour=(8 + 3 * s) % 24, minute=5 * s)
            if start >= NOW:
                start = NOW - timedelta(minutes=50 - 10 * s)
            sid, user, domain = f"s{n}", f"u{n % 7}", DOMAINS[n % 2]
            common = {"session_id": sid, "end_user_id": user, "domain": domain}
            events.append(_ev("session_started", "acme", start, channel="web" if n % 3 else "whatsapp", **common))
            for m in range(2 + n % 3):
                lang = {"language": "es"} if n % 4 == 0 else {"language": "en"} if n % 4 == 1 else {}
                role = "user" if m % 2 == 0 else "assistant"
                events.append(
                    _ev(
                        "message",
                        "acme",
                        start + timedelta(seconds=10 + 20 * m),
                        role=role,
                        content_chars=40 + m,
                        properties=lang,
                        **common,
                    )
                )
            for c in range(1 + n % 2):
                provider, model = MODELS[(n + c) % 4]
                events.append(
                    _ev(
                        "llm_call",
                        "acme",
                        start + timedelta(seconds=15 + 20 * c),
                        provider=provider,
                        model=model,
                        input_tokens=1000 + 37 * n,
                        output_tokens=200 + 11 * c,
                        cached_input_tokens=100 * (n % 3),
                        latency_ms=300 + 150 * ((n + c) % 5),
                        status="error" if (n + c) % 6 == 0 else "ok",
                        feature="chat" if c == 0 else "search",
                        **common,
                    )
                )
            pid, pname = PRODUCTS[n % 3]
            events.append(
                _ev(
                    "product_event",
                    "acme",
                    start + timedelta(seconds=40),
                    action="recommended",
                    product_id=pid,
                    product_name=pname,
                    **common,
                )
            )
            if n % 2 == 0:
                events.append(
                    _ev(
                        "product_event",
                        "acme",
                        start + timedelta(seconds=50),
                        action="clicked",
                        product_id=pid,
                        product_name=pname,
                        **common,
                    )
                )
            if n % 4 == 0:
                events.append(
                    _ev(
                        "product_event",
                        "acme",
                        start + timedelta(seconds=55),
                        action="added_to_cart",
                        product_id=pid,
                        product_name=pname,
                        **common,
                    )
                )
            if n % 8 == 0:
                events.append(
                    _ev(
                        "conversion",
                        "acme",
                        start + timedelta(seconds=58),
                        order_id=f"o{n}",
                        revenue=f"{n}.99",
                        **common,
                    )
                )
            query = ZERO_QUERIES[n % 3] if n % 2 else FOUND_QUERIES[n % 4 // 2]
            events.append(
                _ev(
                    "search",
                    "acme",
                    start + timedelta(seconds=45),
                    query=query,
                    results_count=0 if n % 2 else 3,
                    latency_ms=80,
                    **common,
                )
            )
            if n % 3 == 0:
                events.append(_ev("feedback", "acme", start + timedelta(seconds=59), rating=1 + n % 5, **common))
            elif n % 5 == 0:
                events.append(
                    _ev("feedback", "acme", start + timedelta(seconds=59), thumbs="up" if n % 2 else "down", **common)
                )
            events.append(
                _ev(
                    "custom",
                    "acme",
                    start + timedelta(seconds=30),
                    name="build.completed",
                    dimensions={"status": "failed" if n % 5 == 0 else "ok"},
                    measures={"duration_s": 10 + n},
                    **common,
                )
            )
            end = start + timedelta(seconds=60)
            if end < NOW:
                events.append(
                    _ev(
                        "session_ended",
                        "acme",
                        end,
                        reason="abandoned" if n % 7 == 0 else "completed",
                        duration_ms=60_000,
                        **common,
                    )
                )
    for g in range(2):
        ts = NOW - timedelta(hours=1 + g)
        common = {"session_id": f"g{g}", "end_user_id": "gu", "domain": "globex.test"}
        events.append(_ev("session_started", "globex", ts, **common))
        events.append(
            _ev(
                "llm_call",
                "globex",
                ts + timedelta(seconds=5),
                provider="openai",
                model="gpt-4o",
                input_tokens=5000,
                output_tokens=100,
                latency_ms=900,
                **common,
            )
        )
    return events


def pick(
    events: list[dict[str, Any]],
    tenant: str = "acme",
    since: datetime | None = None,
    until: datetime | None = None,
    **where: Any,
) -> list[dict[str, Any]]:
    """The events of `tenant` in [since, until) whose fields equal `where`."""
    out = []
    for e in events:
        ts = datetime.fromisoformat(e["timestamp"])
        if e["tenant_id"] != tenant or (since and ts < since) or (until and ts >= until):
            continue
        if all(e.get(k) == v for k, v in where.items()):
            out.append(e)
    return out


async def load(warehouse: ChdbWarehouse, events: list[dict[str, Any]], partition: int = 0) -> None:
    """Store `events` as the worker would, each read at its own event time (so none is late), as the
    records of Kafka `partition` from offset 0 (use another partition for a later load)."""

    async def send_dead(letter: DeadLetter) -> None:
        raise AssertionError(letter.reason)

    zones = {"acme": ZoneInfo("UTC"), "globex": ZoneInfo("Europe/Paris")}
    handler = BatchHandler(
        warehouse,
        EventSink(warehouse, f"{DB}.events"),
        EventSink(warehouse, f"{DB}.rollups"),
        DB,
        send_dead,
        lambda *_: None,
        lambda tenant: zones.get(tenant, ZoneInfo("UTC")),
        retention=timedelta(days=3650),
        lateness=timedelta(hours=2),
        range_span=5000,
    )
    ordered = sorted(events, key=lambda e: e["timestamp"])
    records = [
        Record(e["tenant_id"].encode(), orjson.dumps(e), partition, i, datetime.fromisoformat(e["timestamp"]))
        for i, e in enumerate(ordered)
    ]
    for i in range(0, len(records), 500):
        await handler.handle(records[i : i + 500], NOW)


@dataclass
class Views:
    client: httpx.AsyncClient
    warehouse: ChdbWarehouse
    now: list[datetime]
    """The app's clock reads now[0]: set it to move time."""
    keys: dict[str, str]
    """'acme', 'globex' (read keys), 'acme-admin', 'acme-ingest', 'operator'."""
    events: list[dict[str, Any]]
    directory: Directory
    app: Any = None
    """The FastAPI app (to serve it over real HTTP)."""

    def auth(self, who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.keys[who]}"}


def _key(directory: Directory, tenant: str | None, scope: str) -> str:
    token, key_id, secret_hash = new_key()
    record = ApiKeyRecord(
        key_id=key_id,
        tenant_id=tenant,
        scope=scope,
        secret_sha256=secret_hash,  # type: ignore[arg-type]
        created_at=NOW,
    )
    directory.apply(key_record_key(key_id), record.model_dump_json().encode())
    return token


@asynccontextmanager
async def views(
    tmp_path: Path, writer: DirectoryWriter | None = None, rules_writer: KeyedLogWriter | None = None
) -> AsyncIterator[Views]:
    """The views API over the known event set, clock pinned at NOW (`writer` saves store settings and is
    started here; `rules_writer` saves alert rules and is started by the app's lifespan, when served)."""
    warehouse = ChdbWarehouse(tmp_path / "chdb")
    retention = {"minute": 3650, "hour": 3650, "day": 3650}
    for statement in render_ddl(DB, raw_retention_days=3650) + render_rollup_ddl(DB, retention) + render_alert_ddl(DB):
        await warehouse.execute(statement)
    events = dataset()
    await load(warehouse, events)
    directory = Directory()
    for tenant, tz in (("acme", "UTC"), ("globex", "Europe/Paris")):
        record = TenantRecord(tenant_id=tenant, name=tenant.title(), created_at=NOW - timedelta(days=60), timezone=tz)
        directory.apply(tenant_record_key(tenant), record.model_dump_json().encode())
    keys = {
        "acme": _key(directory, "acme", "read"),
        "acme-admin": _key(directory, "acme", "admin"),
        "acme-ingest": _key(directory, "acme", "ingest"),
        "globex": _key(directory, "globex", "read"),
        "operator": _key(directory, None, "admin"),
    }
    now = [NOW]
    app = create_app(warehouse, DB, directory, clock=lambda: now[0], rules=RuleBook(), rules_writer=rules_writer)
    app.state.directory_writer = writer
    transport = httpx.ASGITransport(app=app)  # runs no lifespan: the writer is started here
    if writer is not None:
        await writer.start()
    async with httpx.AsyncClient(transport=transport, base_url="http://views") as client:
        try:
            yield Views(client, warehouse, now, keys, events, directory, app)
        finally:
            if writer is not None:
                await writer.stop()
            await warehouse.close()
