"""What reading a body costs a tenant, whatever the answer: bodies that cost CPU without events
(unknown protobuf fields, empty gzip members, blank lines) use up the rate limit, and are bounded."""

from __future__ import annotations

import asyncio
import gzip

import httpx
import pytest

from tests.live import IngestServer
from tests.rawhttp import exchange

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
PROTOBUF = {"content-type": "application/x-protobuf"}


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def _slow_tenant(client: httpx.AsyncClient, server: IngestServer, tenant_id: str, rate: float) -> str:
    """A new tenant at `rate` events/s (a burst of 2 s of it) and its ingest key."""
    operator = _auth(server.operator_key)
    put = await client.put(
        f"/v1/admin/tenants/{tenant_id}", json={"name": tenant_id, "rate_limit_per_second": rate}, headers=operator
    )
    assert put.status_code == 200, put.text
    created = await client.post("/v1/admin/keys", json={"tenant_id": tenant_id, "scope": "ingest"}, headers=operator)
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


async def test_an_otlp_body_of_unknown_fields_is_refused_and_paid_for(ingest_server: IngestServer) -> None:
    unknown = b"\x78\x00" * (5 * MIB // 2 - 8)  # field 15 (varint 0) 2.6 million times: no span at all
    async with httpx.AsyncClient(base_url=ingest_server.url, timeout=60) as client:
        key = await _slow_tenant(client, ingest_server, "fields-tenant", 100)  # a burst of 200
        first = await client.post("/v1/traces", content=unknown, headers={**PROTOBUF, **_auth(key)})
        again = await client.post("/v1/traces", content=unknown, headers={**PROTOBUF, **_auth(key)})
    # before: 200 {} after walking 2.6 million fields (1.1 s of CPU), no token charged, the same again
    assert first.status_code == 400, first.text
    assert first.json() == {"error": "OTLP body has more than 8008 protobuf fields; at most 8008 per request"}
    assert again.status_code == 429, again.text  # the 5 MiB read cost 5120 tokens: the burst and more
    assert int(again.headers["retry-after"]) >= 1


async def test_empty_gzip_members_are_bounded_and_paid_for(ingest_server: IngestServer) -> None:
    members = gzip.compress(b"") * (5 * MIB // 20)  # 262,144 empty members: 5 MiB inflating to nothing
    parts = [members[i : i + 65536] for i in range(0, len(members), 65536)]
    async with httpx.AsyncClient(base_url=ingest_server.url, timeout=60) as client:
        for content_type in ("application/json", "application/x-ndjson"):
            key = await _slow_tenant(client, ingest_server, f"gzip-{content_type[12:]}", 20)  # a burst of 40
            headers = {
                "content-encoding": "gzip",
                "content-type": content_type,
                "content-length": str(len(members)),
                **_auth(key),
            }
            first = await asyncio.to_thread(exchange, ingest_server.url, "POST", "/v1/events", headers, parts)
            again = await asyncio.to_thread(exchange, ingest_server.url, "POST", "/v1/events", headers, parts)
            # before: 400 (JSON, 1 token) or 200 accepted 0 (NDJSON, 0 tokens) after inflating every member
            assert first.status == 400, first
            assert first.error() == "body has more than 64 gzip members; at most 64"
            assert first.sent < MIB  # refused as the body streamed in, at its 65th member
            assert again.status == 429, (content_type, again)  # what was received was charged


async def test_an_accepted_body_without_events_costs_what_it_took_to_read(ingest_server: IngestServer) -> None:
    blank = b"\n" * MIB  # NDJSON: one MiB of empty lines, no event, answered 200
    async with httpx.AsyncClient(base_url=ingest_server.url, timeout=60) as client:
        key = await _slow_tenant(client, ingest_server, "blank-tenant", 100)  # a burst of 200
        headers = {"content-type": "application/x-ndjson", **_auth(key)}
        first = await client.post("/v1/events", content=blank, headers=headers)
        again = await client.post("/v1/events", content=blank, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 0, "rejected": 0, "errors": []}
    assert again.status_code == 429, again.text  # before: 200 again, for nothing, forever
