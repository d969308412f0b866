"""Alerts end to end: events through the real broker and worker push a rule to firing and back, and
every channel (webhook, Slack, PagerDuty on a local HTTP receiver, email on a local SMTP server)
hears each change exactly once — through duplicated events and a worker killed between the two."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request

from alerting.channels import verify
from tests.conftest import free_port
from tests.factories import llm_call
from tests.live import Combined, create_tenant, read_records, serve, start_ingest_topics

pytestmark = pytest.mark.integration

SECRET = "whsec-test-0123456789abcdef"


@dataclass
class Inbox:
    http: list[tuple[str, dict[str, str], bytes, float]] = field(default_factory=list)
    mail: list[bytes] = field(default_factory=list)

    def on(self, path: str) -> list[dict[str, Any]]:
        return [orjson.loads(body) for p, _, body, _ in self.http if p == path]


class _Smtp:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.inbox.mail.append(envelope.content)
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, str, int]]:
    box = Inbox()
    receiver = FastAPI()

    @receiver.post("/{path}")
    async def receive(path: str, request: Request) -> dict[str, bool]:
        box.http.append((path, dict(request.headers), await request.body(), time.monotonic()))
        return {"ok": True}

    smtp_port = free_port()
    controller = Controller(_Smtp(box), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        with serve(receiver, free_port()) as url:
            yield box, url, smtp_port
    finally:
        controller.stop()


@pytest.fixture
async def stack(kafka_bootstrap: str, tmp_path: Path, inbox: tuple[Inbox, str, int]) -> AsyncIterator[Combined]:
    prefix = f"alerts-{uuid.uuid4().hex[:8]}"
    await start_ingest_topics(kafka_bootstrap, prefix)
    combined = Combined(
        kafka_bootstrap,
        prefix,
        tmp_path,
        TALLY_ALERT_INTERVAL_SECONDS="0.3",
        TALLY_SMTP_HOST="127.0.0.1",
        TALLY_SMTP_PORT=str(inbox[2]),
        TALLY_OUTBOUND_ALLOW_CIDRS="127.0.0.0/8",  # the local receivers; everything non-public is refused otherwise
    )
    await combined.start()
    try:
        yield combined
    finally:
        combined.stop()


async def _until(check: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_a_rule_fires_once_survives_a_kill_and_resolves_once(
    kafka_bootstrap: str, stack: Combined, inbox: tuple[Inbox, str, int]
) -> None:
    box, receiver, _ = inbox
    env = stack.env
    acme = await create_tenant(kafka_bootstrap, env["TALLY_DIRECTORY_TOPIC"], "acme")
    rule = {
        "name": "LLM errors",
        "metric": "error_rate",
        "window": "5m",
        "threshold": "50",
        "min_samples": 4,
        "resolve_after_seconds": 2,
        "severity": "critical",
        "channels": [
            {"kind": "webhook", "url": f"{receiver}/webhook", "secret": SECRET},
            {"kind": "slack", "webhook_url": f"{receiver}/slack"},
            {"kind": "pagerduty", "routing_key": "R0UT1NGKEY", "url": f"{receiver}/pagerduty"},
            {"kind": "email", "to": ["oncall@acme.test"]},
        ],
    }
    admin = {"authorization": f"Bearer {acme.admin}"}
    async with httpx.AsyncClient(base_url=stack.url, headers=admin) as views:
        created = await views.post("/api/dashboard/acme/alerts/rules", json=rule)
        assert created.status_code == 201, created.text
        rule_id = created.json()["rule_id"]
        refused = await views.post(
            "/api/dashboard/acme/alerts/rules", json=rule, headers={"authorization": f"Bearer {acme.read}"}
        )
        assert refused.status_code == 403

    now = datetime.now(UTC)
    errors = [llm_call("acme", now, status="error", error_type="rate_limit") for _ in range(5)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()

    async def send(events: list[dict[str, Any]]) -> None:
        for e in events:
            await producer.send(env["TALLY_EVENTS_TOPIC"], orjson.dumps(e), key=b"acme")
        await producer.flush()

    try:
        await send(errors)
        await _until(lambda: len(box.on("webhook")) >= 1 and len(box.mail) >= 1)
        await send(errors)  # the same events again: counted once, the rule stays firing, nothing new is sent
        await asyncio.sleep(3)
        assert [len(box.on(p)) for p in ("webhook", "slack", "pagerduty")] == [1, 1, 1]
        assert len(box.mail) == 1

        stack.stop(kill=True)  # between firing and resolving: the restarted worker re-reads and re-evaluates
        await stack.start()
        await asyncio.sleep(4)
        assert [len(box.on(p)) for p in ("webhook", "slack", "pagerduty")] == [1, 1, 1]
        assert len(box.mail) == 1

        await send([llm_call("acme", datetime.now(UTC)) for _ in range(25)])  # 5 errors in 30: 16.7 %
        await _until(lambda: len(box.on("webhook")) >= 2 and len(box.mail) >= 2, timeout=45)
        await asyncio.sleep(3)
    finally:
        await producer.stop()

    webhooks = box.on("webhook")
    assert [w["alerts"][0]["kind"] for w in webhooks] == ["firing", "resolved"]
    assert webhooks[0]["alerts"][0]["rule_id"] == rule_id and webhooks[0]["alerts"][0]["value"] == 100.0
    for path, headers, body, _ in box.http:
        if path == "webhook":
            assert verify(SECRET, headers["x-tally-signature"], body, int(time.time()))
            assert not verify("wrong-secret-0123456789", headers["x-tally-signature"], body, int(time.time()))
    assert len(box.on("slack")) == 2 and "[RESOLVED] LLM errors" in box.on("slack")[1]["blocks"][0]["text"]["text"]
    pd = box.on("pagerduty")
    assert [(e["event_action"], e["routing_key"]) for e in pd] == [("trigger", "R0UT1NGKEY"), ("resolve", "R0UT1NGKEY")]
    assert pd[0]["dedup_key"] == pd[1]["dedup_key"] and pd[0]["payload"]["severity"] == "critical"
    subjects = [message_from_bytes(m)["Subject"] for m in box.mail]
    assert subjects[0].startswith("[FIRING] LLM errors") and subjects[1].startswith("[RESOLVED] LLM errors")

    async with httpx.AsyncClient(base_url=stack.url, headers=admin) as views:
        history = (await views.get("/api/dashboard/acme/alerts/history")).json()["items"]
        mine = [h for h in history if h["rule_id"] == rule_id]
        assert [h["kind"] for h in mine] == ["resolved", "firing"]
        assert all(len(h["deliveries"]) == 4 and {d["status"] for d in h["deliveries"]} == {"delivered"} for h in mine)
        active = (await views.get("/api/dashboard/acme/alerts/active")).json()["alerts"]
        assert rule_id not in [a["rule_id"] for a in active]
        listed = await views.get("/api/dashboard/acme/alerts/rules", headers={"authorization": f"Bearer {acme.read}"})
    (mine_listed,) = [r["rule"] for r in listed.json()["rules"] if r["rule"]["rule_id"] == rule_id]
    assert [c["kind"] for c in mine_listed["channels"]] == ["webhook", "slack", "pagerduty", "email"]
    secrets = (SECRET, "R0UT1NGKEY", f"{receiver}/slack", f"{receiver}/webhook", "oncall@acme.test")
    assert not [s for s in secrets if s in listed.text]  # a read key sees kinds and masked targets only
    ticks = await read_records(kafka_bootstrap, env["TALLY_ALERT_STATE_TOPIC"], want=2)
    assert len(ticks) >= 2 and any(t["notifications"] for _, t in ticks)
    assert not [s for s in secrets for _, t in ticks if s in orjson.dumps(t).decode()]  # references, not secrets
