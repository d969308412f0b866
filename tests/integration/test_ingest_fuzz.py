"""Fuzzing the running ingest service from its own OpenAPI (schemathesis + hypothesis).

Generated requests, valid and invalid, against every operation with a valid key: no 5xx, every
refusal is a JSON `{"error": ...}` or a 422 naming the fields, and the service keeps answering.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.live import IngestServer

pytestmark = pytest.mark.integration

EXAMPLES = 60


def _fuzz_operation(operation: schemathesis.APIOperation, key: str, statuses: dict[str, int]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: schemathesis.Case) -> None:
        response = case.call(headers={"authorization": f"Bearer {key}"}, timeout=30)
        label = f"{case.method} {case.path} {response.status_code}"
        statuses[label] = statuses.get(label, 0) + 1
        assert response.status_code < 500, (label, case.body, response.text[:500])
        if response.status_code >= 400:
            body = response.json()
            assert ("error" in body) or (response.status_code == 422 and "detail" in body), response.text[:500]

    check()


def _fuzz(server: IngestServer) -> dict[str, int]:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    statuses: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        key = server.operator_key if operation.path.startswith("/v1/admin") else server.tenant.ingest
        _fuzz_operation(operation, key, statuses)
    return statuses


async def test_no_generated_request_gets_a_5xx(ingest_server: IngestServer) -> None:
    statuses = await asyncio.to_thread(_fuzz, ingest_server)
    events = {k: v for k, v in statuses.items() if k.startswith("POST /v1/events ")}
    assert sum(events.values()) >= EXAMPLES // 2, statuses  # the events route was really exercised
    assert any(k.endswith((" 200", " 207")) for k in events), statuses  # including accepted batches
    async with httpx.AsyncClient(base_url=ingest_server.url) as client:
        assert (await client.get("/healthz")).status_code == 200
