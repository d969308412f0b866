"""Hostile tenants against alerting, over real HTTP against the real worker + views (`tallystream-combined`):
channel URLs aimed at internal addresses are refused before any connection (the receivers of these
tests listen on 127.0.0.2, the only range the operator allows here), test sends report categories
and are rate-limited, secrets are write-only (a PUT keeps them by reference), quotas hold, control
characters are refused, and a receiver that drips its answer delays only its own tenant."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from alerting.channels import verify
from tests.factories import llm_call
from tests.live import Combined, Keys, create_tenant, start_ingest_topics

pytestmark = pytest.mark.integration

SECRET = "whsec-hostile-0123456789abcdef"
ALLOWED = "127.0.0.2"


@dataclass
class Receiver:
    """A minimal HTTP server on 127.0.0.2: answers `status` (or drips its answer forever), records requests."""

    status: int = 200
    drip: bool = False
    port: int = 0
    accepted: list[float] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str], bytes, float]] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self, host: str = ALLOWED) -> Receiver:
        self.server = await asyncio.start_server(self._handle, host, 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str, host: str = ALLOWED) -> str:
        return f"http://{host}:{self.port}/{path}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted.append(time.time())
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            lines = head.split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append((lines[0].split(" ")[1], headers, body, time.time()))
            if self.drip:
                writer.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(300):  # a byte every 2 s: no single read ever waits long enough to time out
                    writer.write(b"X")
                    await writer.drain()
                    await asyncio.sleep(2)
            writer.write(f"HTTP/1.1 {self.status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def stack(kafka_bootstrap: str, tmp_path: Path) -> AsyncIterator[Combined]:
    prefix = f"hostile-{uuid.uuid4().hex[:8]}"
    await start_ingest_topics(kafka_bootstrap, prefix)
    combined = Combined(
        kafka_bootstrap,
        prefix,
        tmp_path,
        TALLY_ALERT_INTERVAL_SECONDS="0.3",
        TALLY_OUTBOUND_ALLOW_CIDRS=f"{ALLOWED}/32",
        TALLY_OUTBOUND_DEADLINE_SECONDS="5",
        TALLY_ALERT_MAX_RULES="3",
        TALLY_ALERT_MAX_RECIPIENTS="2",
        TALLY_ALERT_TESTS_PER_MINUTE="3",
    )
    await combined.start()
    try:
        yield combined
    finally:
        combined.stop()


def _rule(name: str, channels: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {"name": name, "metric": "requests", "window": "5m", "threshold": "0", "channels": channels, **fields}


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def test_internal_addresses_are_refused_secrets_stay_write_only_and_limits_hold(
    kafka_bootstrap: str, stack: Combined
) -> None:
    acme = await create_tenant(kafka_bootstrap, stack.env["TALLY_DIRECTORY_TOPIC"], "acme")
    trap = await Receiver().start("127.0.0.1")  # listens, but must never be connected to
    good, missing = await Receiver().start(), await Receiver(status=404).start()
    closed = await Receiver().start()
    closed.close()  # a port nobody listens on any more
    channels = [
        {"kind": "webhook", "url": trap.url("x", "127.0.0.1"), "secret": SECRET},
        {"kind": "slack", "webhook_url": "http://169.254.169.254/latest/meta-data/iam/"},
        {"kind": "pagerduty", "routing_key": "R0UT1NGKEY", "url": "http://10.1.2.3:8080/enqueue"},
        {"kind": "webhook", "url": f"http://localhost:{trap.port}/y", "secret": SECRET},
        {"kind": "webhook", "url": good.url("ok"), "secret": SECRET},
        {"kind": "webhook", "url": missing.url("gone"), "secret": SECRET},
        {"kind": "webhook", "url": closed.url("closed"), "secret": SECRET},
    ]
    base = "/api/dashboard/acme/alerts"
    try:
        async with httpx.AsyncClient(base_url=stack.url, headers=_auth(acme.admin), timeout=60) as views:
            created = await views.post(f"{base}/rules", json=_rule("Internal", channels))
            assert created.status_code == 201, created.text
            assert SECRET not in created.text and "R0UT1NGKEY" not in created.text  # not even echoed
            rule = created.json()
            tested = await views.post(f"{base}/rules/{rule['rule_id']}/test")
            assert tested.status_code == 200, tested.text
            results = [r["result"] for r in tested.json()["results"]]
            assert results == ["refused", "refused", "refused", "refused", "delivered", "HTTP 4xx", "connection failed"]
            assert trap.accepted == []  # refused before connecting: the trap never saw a connection
            assert [p for p, *_ in good.requests] == ["/ok"]
            _, headers, body, _ = good.requests[0]
            assert verify(SECRET, headers["x-tally-signature"], body, int(time.time()))

            listed = await views.get(f"{base}/rules", headers=_auth(acme.read))
            (mine,) = [r["rule"] for r in listed.json()["rules"] if r["rule"]["rule_id"] == rule["rule_id"]]
            assert [c["target"] for c in mine["channels"]][:3] == [
                f"http://127.0.0.1:{trap.port}/…{trap.url('x', '127.0.0.1')[-4:]}", "http://169.254.169.254/…iam/",
                "10.1.2.3 key …GKEY",
            ]  # fmt: skip
            assert SECRET not in listed.text and "R0UT1NGKEY" not in listed.text

            # a PUT that keeps the good channel by id: its secret is still the one that signs
            kept = [{"kind": "keep", "id": mine["channels"][4]["id"]}]
            put = await views.put(f"{base}/rules/{rule['rule_id']}", json=_rule("Internal", kept))
            assert put.status_code == 200
            assert [c["target"] for c in put.json()["channels"]] == [f"{good.url('')}…{good.url('ok')[-4:]}"]
            assert (await views.post(f"{base}/rules/{rule['rule_id']}/test")).json()["results"][0]["result"] == (
                "delivered"
            )
            assert verify(SECRET, good.requests[1][1]["x-tally-signature"], good.requests[1][2], int(time.time()))
            unknown = await views.put(
                f"{base}/rules/{rule['rule_id']}", json=_rule("Internal", [{"kind": "keep", "id": "ch_000000000fff"}])
            )
            assert unknown.status_code == 422 and unknown.json()["detail"][0]["loc"] == ["body", "channels", 0, "id"]

            # test sends are rate-limited per tenant (3 a minute here: this is the third, the fourth waits)
            assert (await views.post(f"{base}/rules/{rule['rule_id']}/test")).status_code == 200
            limited = await views.post(f"{base}/rules/{rule['rule_id']}/test")
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
            assert "TALLY_ALERT_TESTS_PER_MINUTE" in limited.json()["error"]

            # control characters, recipients and rules per tenant
            newline = await views.post(f"{base}/rules", json=_rule("Cost\r\nBcc: victim@evil.test", []))
            assert newline.status_code == 422 and newline.json()["detail"][0]["loc"] == ["body", "name"]
            mail = {"kind": "email", "to": ["a@acme.test", "b@acme.test", "c@acme.test"]}
            recipients = await views.post(f"{base}/rules", json=_rule("Mail", [mail]))
            assert recipients.status_code == 422 and recipients.json()["detail"][0]["loc"] == [
                "body",
                "channels",
                0,
                "to",
            ]
            assert "at most 2 recipients" in recipients.text
            statuses = [(await views.post(f"{base}/rules", json=_rule(f"R{i}", []))).status_code for i in range(3)]
            assert statuses == [201, 201, 409]  # the first rule above counts too: 3 at most
            over = await views.post(f"{base}/rules", json=_rule("R9", []))
            assert over.status_code == 409 and "at most 3 rules" in over.json()["error"]
    finally:
        for receiver in (trap, good, missing):
            receiver.close()


async def _fire(producer: AIOKafkaProducer, topic: str, tenant: str) -> None:
    await producer.send_and_wait(topic, orjson.dumps(llm_call(tenant, datetime.now(UTC))), key=tenant.encode())


async def _until(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_drip_feeding_receiver_delays_only_its_own_tenant(kafka_bootstrap: str, stack: Combined) -> None:
    directory = stack.env["TALLY_DIRECTORY_TOPIC"]
    alpha: Keys = await create_tenant(kafka_bootstrap, directory, "alpha")
    beta: Keys = await create_tenant(kafka_bootstrap, directory, "beta")
    drip, good = await Receiver(drip=True).start(), await Receiver().start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        async with httpx.AsyncClient(base_url=stack.url) as views:
            for keys, receiver in ((alpha, drip), (beta, good)):
                hook = [{"kind": "webhook", "url": receiver.url(keys.tenant_id), "secret": SECRET}]
                created = await views.post(
                    f"/api/dashboard/{keys.tenant_id}/alerts/rules",
                    json=_rule("Traffic", hook),
                    headers=_auth(keys.admin),
                )
                assert created.status_code == 201, created.text
        await _fire(producer, stack.env["TALLY_EVENTS_TOPIC"], "alpha")
        await _until(lambda: bool(drip.requests), timeout=45)  # alpha's delivery is now stuck on its receiver
        await _fire(producer, stack.env["TALLY_EVENTS_TOPIC"], "beta")
        await _until(lambda: bool(good.requests), timeout=45)
    finally:
        await producer.stop()
        drip.close()
        good.close()
    path, _, body, received = good.requests[0]
    alert = orjson.loads(body)["alerts"][0]
    assert path == "/beta" and alert["kind"] == "firing"
    delay = received - datetime.fromisoformat(alert["at"]).timestamp()
    assert delay < 2.0, f"beta's notification came {delay:.2f} s after its transition"
