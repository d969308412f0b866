"""The chaos workload sent the way clients send it: over HTTP to `tallystream-ingest`, as each tenant.

A 2xx means Kafka acknowledged every event of the request (acks=all); a 503 means it did not (a
broker is gone and its partitions are moving), and the client re-sends the same events, which the
worker counts once. Any other answer is a failure of the run. `IngestStats` records what ingest
answered, and what it acknowledged after a broker was killed (writes must keep succeeding).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from deploy.chaos_workload import Workload
from schemas.tenancy import TenantRecord
from tenancy.kafka_log import DirectoryWriter

RETRYABLE = frozenset({502, 503, 504})
"""Answers a client re-sends after (the events were not acknowledged)."""


@dataclass
class IngestStats:
    status: Counter[int] = field(default_factory=Counter)
    """Answers by HTTP status ('0': the connection failed or timed out)."""
    resent_events: int = 0
    """Events sent again after a 503 or a failed connection."""
    acknowledged: int = 0
    """Events ingest answered 2xx for (every event, once the run is over)."""
    acknowledged_after_kill: int = 0
    """Events acknowledged by requests sent after a broker was killed for good."""
    failures: list[str] = field(default_factory=list)
    """Answers that are neither 2xx nor retryable (a workload event refused): the run fails."""

    def report(self) -> dict[str, Any]:
        return {
            "status": {str(code): n for code, n in sorted(self.status.items())},
            "resent_events": self.resent_events,
            "acknowledged": self.acknowledged,
            "acknowledged_after_kill": self.acknowledged_after_kill,
            "failures": self.failures[:10],
        }


async def provision(bootstrap: str, directory_topic: str, tenants: list[str]) -> dict[str, str]:
    """Each tenant in the directory with an ingest key; returns tenant -> plaintext key."""
    writer = DirectoryWriter(bootstrap, directory_topic)
    await writer.start()
    try:
        keys = {}
        for tenant in tenants:
            await writer.put_tenant(TenantRecord(tenant_id=tenant, name=tenant, created_at=datetime.now(UTC)))
            keys[tenant] = (await writer.create_key(tenant, "ingest", "chaos"))[0]
        return keys
    finally:
        await writer.stop()


async def _post_until_acknowledged(
    client: httpx.AsyncClient, key: str, values: list[bytes], stats: IngestStats, killed_at: Callable[[], float | None]
) -> None:
    body = b"[" + b",".join(values) + b"]"
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    while True:
        sent_at = time.monotonic()
        try:
            response = await client.post("/v1/events", content=body, headers=headers)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        stats.status[status] += 1
        if 200 <= status < 300:
            accepted = int(response.json()["accepted"])
            stats.acknowledged += accepted
            kill = killed_at()
            if kill is not None and sent_at > kill:
                stats.acknowledged_after_kill += accepted
            if accepted != len(values):
                stats.failures.append(f"{status}: {accepted} of {len(values)} accepted: {response.text[:300]}")
            return
        if status and status not in RETRYABLE:
            stats.failures.append(f"{status}: {response.text[:300]}")
            return
        stats.resent_events += len(values)
        await asyncio.sleep(1.0)  # Retry-After: 1


async def send(
    url: str,
    keys: dict[str, str],
    workload: Workload,
    seconds: float,
    stats: IngestStats,
    killed_at: Callable[[], float | None],
) -> None:
    """Send every record through ingest, spread over about `seconds` in two rounds a second (a broker
    failover meets requests in flight): per round, one request per tenant (concurrently), each re-sent
    until ingest acknowledges it."""
    rounds = max(1.0, seconds * 2)
    chunk = max(50, round(len(workload.records) / rounds))
    pause = seconds / rounds
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for start in range(0, len(workload.records), chunk):
            by_tenant: dict[str, list[bytes]] = {}
            for key, value in workload.records[start : start + chunk]:
                by_tenant.setdefault(key.decode(), []).append(value)
            await asyncio.gather(
                *(
                    _post_until_acknowledged(client, keys[tenant], values, stats, killed_at)
                    for tenant, values in by_tenant.items()
                )
            )
            await asyncio.sleep(pause)
