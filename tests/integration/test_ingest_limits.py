"""Ingest under hostile bodies, over real HTTP: limits before auth and parsing, bounded refusals, and
refusals that cost rate-limit tokens."""

from __future__ import annotations

import asyncio
import gzip
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.factories import message
from tests.live import IngestServer, Keys, create_tenant, free_port, start_ingest_topics, stop
from tests.rawhttp import chunked, exchange

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
NOW = datetime.now(UTC) - timedelta(minutes=5)
MAX_BODY = 5 * MIB  # IngestSettings.max_body_bytes default


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def empty_objects_gzip(decoded: int = MAX_BODY) -> bytes:
    """The gzip of a JSON array of `{}` items, `decoded` bytes at most once inflated: the worst body that
    gets past the decoded-size bound (a gzip that is itself ~5 MiB inflates to ~5 GiB and is refused by
    that bound after 5 MiB of output; it was already). About 1.75 million items for 5 MiB."""
    n = (decoded - 2) // 3
    return gzip.compress(b"[" + b",".join([b"{}"] * n) + b"]")


def _vm(pid: int, field: str) -> int:
    """A /proc/<pid>/status memory figure (VmRSS, VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


@dataclass
class IngestProcess:
    url: str
    pid: int
    tenant: Keys


@pytest.fixture
async def ingest_process(kafka_bootstrap: str, unique: str, tmp_path: Path) -> AsyncIterator[IngestProcess]:
    """`tallystream-ingest` in its own process with default limits (its memory is measurable alone)."""
    await start_ingest_topics(kafka_bootstrap, unique)
    tenant = await create_tenant(kafka_bootstrap, f"{unique}.tenants", f"acme-{unique}")
    port = free_port()
    env = {
        **os.environ,
        "TALLY_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TALLY_EVENTS_TOPIC": f"{unique}.raw",
        "TALLY_DIRECTORY_TOPIC": f"{unique}.tenants",
        "TALLY_INGEST_PORT": str(port),
    }
    log = tmp_path / "ingest.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("tallystream-ingest"))], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(300):  # up, with the directory loaded (the key is known)
                assert proc.poll() is None, log.read_text()[-3000:]
                try:
                    ok = await client.post(
                        "/v1/events", json=[message(tenant.tenant_id, NOW)], headers=_auth(tenant.ingest)
                    )
                    if ok.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"ingest did not come up: {log.read_text()[-3000:]}")
        yield IngestProcess(url, proc.pid, tenant)
    finally:
        stop(proc)


async def test_a_batch_of_millions_of_empty_items_is_refused_without_building_them(
    ingest_process: IngestProcess,
) -> None:
    t = ingest_process.tenant
    bomb = empty_objects_gzip()
    ndjson_bomb = gzip.compress(b"{}\n" * ((MAX_BODY - 1) // 3))
    headers = {"content-encoding": "gzip", **_auth(t.ingest)}
    async with httpx.AsyncClient(base_url=ingest_process.url, timeout=60) as client:
        warm = await client.post("/v1/events", json=[message(t.tenant_id, NOW)] * 50, headers=_auth(t.ingest))
        assert warm.status_code == 200
        peak_before = _vm(ingest_process.pid, "VmHWM")
        started = time.perf_counter()
        refused = await client.post("/v1/events", content=bomb, headers=headers)
        elapsed = time.perf_counter() - started
        refused_ndjson = await client.post(
            "/v1/events", content=ndjson_bomb, headers={"content-type": "application/x-ndjson", **headers}
        )
        peak_after = _vm(ingest_process.pid, "VmHWM")
    assert (refused.status_code, refused_ndjson.status_code) == (413, 413), refused.text
    # before: ~680 MB more at the peak (orjson and pydantic built ~1.75 million items, then 413); now the
    # decoded 5 MiB and a few copies of its brackets
    print(f"bomb: {elapsed:.3f} s, peak RSS +{(peak_after - peak_before) / MIB:.1f} MiB")
    assert peak_after - peak_before < 50 * MIB, (peak_before, peak_after)
    assert elapsed < 5, elapsed  # ~0.1 s; generous for a loaded machine
    assert refused.json() == {"error": "batch has more than 5000 events; at most 5000 per request"}
    assert refused_ndjson.json() == refused.json()


async def test_an_anonymous_100_mb_admin_body_is_refused_before_it_is_sent(ingest_server: IngestServer) -> None:
    headers = {"content-type": "application/json", "content-length": str(100 * MIB)}
    answer = exchange(ingest_server.url, "PUT", "/v1/admin/tenants/x", headers, [b" " * 1024])
    assert answer.status == 413  # before: the server waited for the 100 MB, then read them all before the 401
    assert answer.error() == "request body is larger than 65536 bytes, the limit of admin requests"
    assert answer.sent <= 1024  # refused on the head alone: typically before the client sent any of the body


async def test_a_chunked_body_over_the_limit_is_refused_as_it_streams(ingest_server: IngestServer) -> None:
    parts = chunked([b" " * 16384] * 256)  # 4 MiB if it were all read
    answer = exchange(
        ingest_server.url, "PUT", "/v1/admin/tenants/x", {"transfer-encoding": "chunked"}, parts, end=b"0\r\n\r\n"
    )
    assert answer.status == 413, answer  # before: all 4 MiB read, then 401
    assert answer.error() == "request body is larger than 65536 bytes, the limit of admin requests"
    assert answer.sent < 1 * MIB  # the limit, and what the socket buffers took before the answer
    events = exchange(
        ingest_server.url,
        "POST",
        "/v1/events",
        {"transfer-encoding": "chunked", **_auth(ingest_server.tenant.ingest)},
        chunked([b" " * 65536] * 160),  # 10 MiB
        end=b"0\r\n\r\n",
    )
    assert events.status == 413
    assert events.error() == f"request body is larger than {MAX_BODY} bytes, the limit of events requests"


def empty_spans(size: int) -> bytes:
    """An OTLP/protobuf export of empty spans, `size` bytes at most (2 bytes a span)."""
    export = ExportTraceServiceRequest()
    scope = export.resource_spans.add().scope_spans.add()
    for _ in range((size - 16) // 2):
        scope.spans.add()
    return bytes(export.SerializeToString())


async def test_megabytes_of_empty_otlp_spans_are_refused_before_mapping(ingest_server: IngestServer) -> None:
    t = ingest_server.tenant
    body = empty_spans(int(4.8 * MIB))
    assert len(body) > 4.7 * MIB
    as_json = orjson.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{}] * 1001}]}]})
    async with httpx.AsyncClient(base_url=ingest_server.url, timeout=60) as client:
        started = time.perf_counter()
        refused = await client.post(
            "/v1/traces", content=body, headers={"content-type": "application/x-protobuf", **_auth(t.ingest)}
        )
        elapsed = time.perf_counter() - started
        refused_json = await client.post(
            "/v1/traces", content=as_json, headers={"content-type": "application/json", **_auth(t.ingest)}
        )
    assert refused.status_code == 413, refused.text  # before: 200 after mapping 2.5 million spans (2.8 s)
    assert refused.json() == {"error": "batch has more than 1000 spans; at most 1000 per request"}
    assert elapsed < 3, elapsed
    assert refused_json.status_code == 413
    assert refused_json.json() == {"error": "batch has more than 1000 spans; at most 1000 per request"}


async def _slow_tenant(client: httpx.AsyncClient, server: IngestServer, tenant_id: str, rate: float) -> str:
    operator = _auth(server.operator_key)
    put = await client.put(
        f"/v1/admin/tenants/{tenant_id}", json={"name": tenant_id, "rate_limit_per_second": rate}, headers=operator
    )
    assert put.status_code == 200, put.text
    created = await client.post("/v1/admin/keys", json={"tenant_id": tenant_id, "scope": "ingest"}, headers=operator)
    return str(created.json()["key"])


async def test_refused_requests_use_up_the_tenants_rate_limit(ingest_server: IngestServer) -> None:
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        key = await _slow_tenant(client, ingest_server, "refused-tenant", 2)  # a burst of 4
        statuses = []
        for _ in range(12):
            answer = await client.post("/v1/events", content=b'[{"event_id": ', headers=_auth(key))
            statuses.append(answer.status_code)
            if answer.status_code == 429:
                break
        assert statuses[0] == 400 and statuses[-1] == 429, statuses  # before: 400 every time
        assert len(statuses) <= 7, statuses
        assert int(answer.headers["retry-after"]) >= 1
        assert answer.json()["error"] == "tenant 'refused-tenant' is over its rate limit of 2 events/s; retry later"

        # one batch over the limit costs as many tokens as the limit: the next request waits
        key = await _slow_tenant(client, ingest_server, "oversize-tenant", 2)
        over = await client.post("/v1/events", content=b"[" + b",".join([b"{}"] * 1001) + b"]", headers=_auth(key))
        after = await client.post("/v1/events", json=[message("oversize-tenant", NOW)], headers=_auth(key))
    assert over.status_code == 413
    assert after.status_code == 429 and int(after.headers["retry-after"]) >= 1
