"""Dashboard query latency at 10M stored events, next to the raw SQL baseline, and a flat-memory CSV export.

    .venv/bin/python bench/views.py --events 10000000 --tenants 100

Loads a synthetic month of events straight into the embedded engine (INSERT ... SELECT FROM
numbers(): the raw `events` table and, aggregated from it in SQL, the `rollups` at minute, hour and
day granularity as the worker would write them), then times every dashboard endpoint through the
real views API app (in process, ASGI) for random tenants:

  raw   the costs view's rollup query run directly on the warehouse (the floor for any view);
  view  each endpoint, p50 / p95 / max over --runs requests after one untimed warm-up request
        each; ratio = view p50 / raw p50.

Then exports one tenant's --export-rows events as CSV through the streaming endpoint and reports
rows/s and how much the process RSS grew while streaming (flat memory = it does not grow with rows).
Loading is not a benchmark of the pipeline: bench/slice.py measures that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import UNLIMITED_VIEWS, pct

from schemas.ddl import render_ddl
from schemas.rollups import LATENCY_BOUNDS_MS, render_rollup_ddl
from schemas.tenancy import ApiKeyRecord, TenantRecord, key_record_key, new_key, tenant_record_key
from storage.chdb_store import ChdbWarehouse
from tenancy.directory import Directory
from views_api import queries
from views_api.main import create_app

DB = "bench"
MODELS = "['gpt-4o-mini','gpt-4o','claude-3-5-haiku-latest','llama-3.1-8b-instant']"
PROVIDERS = "['openai','openai','anthropic','groq']"
ENDPOINTS = [
    "/overview",
    "/costs?period=7d",
    "/costs?period=30d",
    "/sessions?period=30d",
    "/messages?period=24h",
    "/products/top?event_type=recommended&period=30d",
    "/activity/hourly?period=7d",
    "/telemetry?days=7",
    "/analytics?days=7",
    "/conversations?days=7",
    "/missing-products?days=30",
    "/usage?days=30&type=daily",
    "/models?period=30d",
    "/funnel?period=30d",
    "/forecast",
    "/sessions/recent",
]
EXPLORE = [
    "/explore?event=custom&name=build.finished&group_by=site_type&measure=count&measure=p95(duration_s)&period=30d",
    "/explore?event=llm_call&where=domain=shop.example&group_by=model&measure=sum(cost_usd)&measure=users&period=30d",
    "/explore?event=custom&name=build.finished&where=status=failed&group_by=site_type&group_by=status"
    "&measure=avg(duration_s)&measure=sessions&period=7d",
    "/explore?event=custom&name=queue.depth&measure=last(depth)&measure=max(depth)&period=24h",
]
"""Explore: tenants' own events (the custom events loaded), its own target (p95 <= 100 ms)."""


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def events_sql(n: int, tenants: int, now: datetime, big_rows: int) -> str:
    """N synthetic events over the 30 days before `now`; tenant t000 gets `big_rows` of them."""
    span = 30 * 86400
    end = now.strftime("%Y-%m-%d %H:%M:%S")
    return f"""
INSERT INTO {DB}.events (tenant_id, event_id, type, ts, session_id, end_user_id, domain, feature, operation,
    provider, model, input_tokens, output_tokens, cached_input_tokens, latency_ms, status, role,
    product_action, product_id, product_name, search_query, results_count, name, dimensions, measures, cost_usd,
    price_status, ingested_at, source_partition, source_offset)
SELECT
    if(number < {big_rows}, 't000', concat('t', leftPad(toString(1 + number % {tenants - 1}), 3, '0'))) AS tenant,
    generateUUIDv4(number) AS id,
    ['llm_call','llm_call','llm_call','llm_call','message','message','message','session_started',
     'product_event','search','custom'][1 + number % 11] AS kind,
    toDateTime64('{end}', 3, 'UTC') - toIntervalMillisecond(intDiv(number * {span * 1000}, {n}) + 1) AS t,
    concat('s', toString(intDiv(number, 7))) AS session,
    concat('u', toString(intDiv(number, 7) % 5000)) AS user,
    ['shop.example','help.example','app.example'][1 + number % 3],
    if(kind = 'llm_call', ['chat','search','summary'][1 + number % 3], ''),
    if(kind = 'llm_call', 'chat', ''),
    if(kind = 'llm_call', {PROVIDERS}[1 + intDiv(number, 10) % 4], ''),
    if(kind = 'llm_call', {MODELS}[1 + intDiv(number, 10) % 4], ''),
    if(kind = 'llm_call', 200 + number % 3000, 0),
    if(kind = 'llm_call', 50 + number % 800, 0),
    0,
    if(kind IN ('llm_call', 'search'), 100 + number % 4000, 0),
    if(kind = 'llm_call', if(number % 37 = 0, 'error', 'ok'), ''),
    if(kind = 'message', if(number % 2 = 0, 'user', 'assistant'), ''),
    if(kind = 'product_event', ['recommended','clicked','inquired','added_to_cart'][1 + number % 4], ''),
    if(kind = 'product_event', concat('P', toString(number % 500)), ''),
    if(kind = 'product_event', concat('Product ', toString(number % 500)), ''),
    if(kind = 'search', concat('looking for item ', toString(number % 300)), ''),
    if(kind = 'search', number % 5, 0),
    if(kind = 'custom', ['build.finished','queue.depth','escalation'][1 + intDiv(number, 11) % 3], ''),
    if(kind = 'custom', map('status', if(number % 7 = 0, 'failed', 'ok'),
                            'site_type', ['landing','blog','shop','portfolio'][1 + number % 4]), map()),
    if(kind = 'custom', map('duration_s', toFloat64(30 + number % 300), 'depth', toFloat64(number % 17)), map()),
    if(kind = 'llm_call', toDecimal128((200 + number % 3000) * 0.00000015 + (50 + number % 800) * 0.0000006, 12), 0),
    if(kind = 'llm_call', 'priced', 'not_applicable'),
    t, 0, number
FROM numbers({n})
"""


def rollups_sql(granularity: str) -> str:
    start = {"minute": "toStartOfMinute(ts)", "hour": "toStartOfHour(ts)", "day": "toStartOfDay(ts)"}[granularity]
    bounds = [0, *LATENCY_BOUNDS_MS]
    buckets = ", ".join(
        f"countIf(latency_ms > 0 AND latency_ms >= {lo} AND latency_ms < {hi})" for lo, hi in itertools.pairwise(bounds)
    )
    buckets += f", countIf(latency_ms >= {bounds[-1]})"
    return f"""
INSERT INTO {DB}.rollups (tenant_id, granularity, window_start, type, d1, d2, d3, domain, source_partition,
    range_id, events, errors, input_tokens, output_tokens, cost_usd, latency_ms_sum, latency_buckets,
    zero_results, sessions, end_users, version)
SELECT tenant_id, '{granularity}', toDateTime({start}, 'UTC') AS w, type,
    multiIf(type = 'llm_call', provider, type = 'message', role, type = 'product_event', product_action,
            type = 'search', if(results_count = 0, 'zero', 'found'), '') AS d1,
    multiIf(type = 'llm_call', model, type = 'product_event', product_id, type = 'search', search_query, '') AS d2,
    multiIf(type = 'llm_call', feature, type = 'product_event', product_name, '') AS d3,
    domain, 0, 0, count(), countIf(status = 'error'), sum(input_tokens), sum(output_tokens), sum(cost_usd),
    sum(latency_ms), [{buckets}], countIf(type = 'search' AND results_count = 0),
    groupUniqArrayIf(halfMD5(session_id), session_id != ''),
    groupUniqArrayIf(halfMD5(end_user_id), end_user_id != ''), 1
FROM {DB}.events
GROUP BY tenant_id, w, type, d1, d2, d3, domain
"""


async def load(wh: ChdbWarehouse, n: int, tenants: int, now: datetime, big_rows: int) -> None:
    retention = {"minute": 3650, "hour": 3650, "day": 3650}
    for statement in render_ddl(DB, raw_retention_days=3650) + render_rollup_ddl(DB, retention):
        await wh.execute(statement)
    t0 = time.perf_counter()
    await wh.execute(events_sql(n, tenants, now, big_rows))
    print(f"loaded {n:,} events in {time.perf_counter() - t0:.1f}s", flush=True)
    for g in ("day", "hour", "minute"):
        t0 = time.perf_counter()
        await wh.execute(rollups_sql(g))
        (row,) = await wh.query(f"SELECT count() AS c FROM {DB}.rollups WHERE granularity = '{g}'")
        print(f"  {g} rollups: {row['c']:,} rows in {time.perf_counter() - t0:.1f}s", flush=True)
    await wh.execute(f"OPTIMIZE TABLE {DB}.rollups FINAL")
    await wh.execute(f"OPTIMIZE TABLE {DB}.events FINAL")


def directory(tenants: int) -> tuple[Directory, dict[str, str]]:
    d, keys = Directory(), {}
    now = datetime.now(UTC)
    for i in range(tenants):
        tid = f"t{i:03d}"
        rec = TenantRecord(tenant_id=tid, name=tid, created_at=now)
        d.apply(tenant_record_key(tid), rec.model_dump_json().encode())
        token, key_id, digest = new_key()
        key = ApiKeyRecord(key_id=key_id, tenant_id=tid, scope="read", secret_sha256=digest, created_at=now)
        d.apply(key_record_key(key_id), key.model_dump_json().encode())
        keys[tid] = token
    return d, keys


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--runs", type=int, default=20, help="requests per endpoint")
    parser.add_argument("--export-rows", type=int, default=1_000_000, help="events of the exported tenant")
    parser.add_argument("--quick", action="store_true", help="200k events, 5 runs, 100k-row export")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--data", type=Path, help="keep the loaded store here and reuse it on the next run")
    args = parser.parse_args()
    if args.quick:
        args.events, args.runs, args.export_rows = 200_000, 5, 100_000
    with tempfile.TemporaryDirectory(prefix="tally-bench-views-") as tmp:
        data = args.data or Path(tmp)
        marker = data / f"loaded-{args.events}-{args.tenants}-{args.export_rows}"
        wh = ChdbWarehouse(data / "chdb")
        if marker.exists():
            now = datetime.fromisoformat(marker.read_text())
            print(f"reusing the store in {data} (loaded at {now})")
        else:
            now = datetime.now(UTC).replace(microsecond=0)
            await load(wh, args.events, args.tenants, now, min(args.export_rows, args.events // 2))
            marker.write_text(now.isoformat())
        d, keys = directory(args.tenants)
        os.environ.update(UNLIMITED_VIEWS)  # the queries are timed, not the per-key rate limit
        app = create_app(wh, DB, d, clock=lambda: now)
        rng = random.Random(7)
        small = [t for t in keys if t != "t000"]
        print(
            f"\nqueries at {args.events:,} events, {args.tenants} tenants, {os.cpu_count()} CPUs, {args.runs} runs each"
        )
        raw: list[float] = []
        for _ in range(3):  # warm-up: the first queries after loading read cold marks and caches
            scope = queries.Scope("t001", "day", now - timedelta(days=30), now + timedelta(days=1), ("llm_call",))
            q = queries.rollup_totals(DB, scope, ("events", "cost_usd"), ("provider", "model"))
            await wh.query(q.sql, q.params)
        for _ in range(args.runs):
            tid = rng.choice(small)
            scope = queries.Scope(tid, "day", now - timedelta(days=30), now + timedelta(days=1), ("llm_call",))
            q = queries.rollup_totals(DB, scope, ("events", "cost_usd"), ("provider", "model"))
            t0 = time.perf_counter()
            await wh.query(q.sql, q.params)
            raw.append((time.perf_counter() - t0) * 1000)
        raw_p50 = statistics.median(raw)
        results: dict[str, dict[str, float]] = {
            "raw SQL": {"p50_ms": raw_p50, "p95_ms": pct(raw, 0.95), "max_ms": max(raw)}
        }
        print(f"{'endpoint':52} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'ratio':>7}")
        print(f"{'raw SQL: costs rollup query':52} {raw_p50:8.1f} {pct(raw, 0.95):8.1f} {max(raw):8.1f} {1:7.1f}")
        worst = 0.0
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client:
            for path in ENDPOINTS + EXPLORE:  # one untimed request each first: a dashboard in use is warm
                tid = rng.choice(small)
                await client.get(f"/api/dashboard/{tid}{path}", headers={"authorization": f"Bearer {keys[tid]}"})
            worst_explore = 0.0
            for path in ENDPOINTS + EXPLORE:
                times = []
                for _ in range(args.runs):
                    tid = rng.choice(small)
                    t0 = time.perf_counter()
                    r = await client.get(
                        f"/api/dashboard/{tid}{path}", headers={"authorization": f"Bearer {keys[tid]}"}
                    )
                    times.append((time.perf_counter() - t0) * 1000)
                    if r.status_code != 200:
                        raise SystemExit(f"{path}: {r.status_code} {r.text[:300]}")
                p95 = pct(times, 0.95)
                if path in EXPLORE:
                    worst_explore = max(worst_explore, p95)
                else:
                    worst = max(worst, p95)
                p50 = statistics.median(times)
                print(f"{path:52} {p50:8.1f} {p95:8.1f} {max(times):8.1f} {p50 / raw_p50:7.1f}")
                results[path] = {"p50_ms": p50, "p95_ms": p95, "max_ms": max(times)}
            print(f"worst dashboard p95: {worst:.1f} ms (target 50 ms)")
            print(f"worst explore p95: {worst_explore:.1f} ms (target 100 ms)")
        exported: dict[str, float] = {}
        if args.export_rows:
            with serve(app) as url:  # real HTTP: the in-process ASGI transport would buffer the whole body
                exported = await export(url, keys["t000"])
        if args.json:
            out = {"events": args.events, "tenants": args.tenants, "runs": args.runs, "endpoints": results}
            Path(args.json).write_text(json.dumps({**out, "export": exported}))
        await wh.close()


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """The app over real HTTP on a free port, from a thread of this process."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


async def export(url: str, key: str) -> dict[str, float]:
    peak = [rss_mb()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.05):
            peak[0] = max(peak[0], rss_mb())

    start_rss = rss_mb()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    rows = size = 0
    checkpoints: list[tuple[int, float]] = []
    headers = {"authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=url, timeout=600) as client,
        client.stream("GET", "/api/dashboard/t000/export/csv?period=30d", headers=headers) as r,
    ):
        async for chunk in r.aiter_bytes():  # counted and dropped: the client keeps nothing
            rows += chunk.count(b"\n")
            size += len(chunk)
            if len(checkpoints) < rows // 100_000:
                checkpoints.append((rows, rss_mb()))
    stop.set()
    sampler.join()
    seconds = time.perf_counter() - t0
    print(
        f"\nCSV export: {rows - 1:,} rows, {size / 2**20:.0f} MiB in {seconds:.1f}s"
        f" ({(rows - 1) / seconds:,.0f} rows/s)"
    )
    print(f"  RSS before {start_rss:.0f} MB, peak while streaming {peak[0]:.0f} MB (+{peak[0] - start_rss:.0f} MB)")
    print("  RSS by rows streamed: " + ", ".join(f"{r:,}: {m:.0f} MB" for r, m in checkpoints))
    return {"rows": rows - 1, "rows_per_s": (rows - 1) / seconds, "rss_growth_mb": peak[0] - start_rss}


if __name__ == "__main__":
    asyncio.run(main())
