"""One tenant's alerts cannot starve another's deliveries: tenant A with a hundred channels on a
receiver that never answers and on host names whose DNS never answers (a blocking getaddrinfo), and
tenant B's notification still arrives within 2 s (before: B's lookup queued behind A's on the event
loop's six default threads and B's notification ended as `timeout`)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import TopicPartition

from alerting.limits import AlertLimits
from alerting.rulebook import RuleBook, dump
from guards.outbound import OutboundSettings
from processors.alerts.deliver import Deliverer
from schemas.alerts import AlertRule, AlertTick, ChannelRef, Notification, Transition, WebhookChannel, rule_record_key
from tenancy.signing import HEADER, signature
from tests.unit.test_alert_delivery import Store

KEY, TOPIC = b"state-signing-key-0123456789abcdef", "alert-state"
T0 = datetime(2026, 3, 18, 12, tzinfo=UTC)
SECRET = "whsec-0123456789abcdef"


class Record:
    def __init__(self, key: bytes, value: bytes, offset: int) -> None:
        self.key, self.value, self.offset = key, value, offset
        self.headers = [(HEADER, signature(KEY, TOPIC, key, value))]


@pytest.fixture
async def receivers() -> AsyncIterator[tuple[int, int, list[float]]]:
    """A receiver that accepts and never answers, and one that answers 200 (noting when)."""
    got: list[float] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    async def good(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        got.append(time.monotonic())
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    slow_server = await asyncio.start_server(silent, "127.0.0.1", 0)
    good_server = await asyncio.start_server(good, "127.0.0.1", 0)
    yield slow_server.sockets[0].getsockname()[1], good_server.sockets[0].getsockname()[1], got
    slow_server.close()
    good_server.close()


@pytest.fixture
def hanging_dns(monkeypatch: pytest.MonkeyPatch) -> Any:
    """getaddrinfo blocks (a DNS server that never answers) for *.hang.test; good.test is 127.0.0.1."""
    released = threading.Event()
    real = socket.getaddrinfo

    def lookup(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".hang.test"):
            released.wait(60)
            raise socket.gaierror("no answer")
        return real("127.0.0.1" if host == "good.test" else host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    yield
    released.set()


def _tick(tenant: str, refs: list[ChannelRef]) -> AlertTick:
    item = Transition(rule_id="r", kind="firing", at=T0, value=2.0, threshold=Decimal(1), metric="requests",
                      severity="warning", name="Traffic", incident=f"{tenant}:r:1")  # fmt: skip
    notes = [Notification(notification_id=f"{tenant}-{i}", channel=ref, items=[item]) for i, ref in enumerate(refs)]
    return AlertTick(tenant_id=tenant, at=T0, states={}, transitions=[item], notifications=notes)


def _rule(tenant: str, channels: list[WebhookChannel]) -> AlertRule:
    return AlertRule(rule_id="r", tenant_id=tenant, name="Traffic", metric="requests", threshold=Decimal(0),
                     created_at=T0, updated_at=T0, channels=channels)  # fmt: skip


async def test_a_flooding_tenant_on_slow_receivers_and_hanging_dns_does_not_delay_another(
    receivers: tuple[int, int, list[float]], hanging_dns: Any
) -> None:
    slow_port, good_port, got = receivers
    book = RuleBook()
    flood = [
        WebhookChannel(id=f"ch_{i:012x}", secret=SECRET,
                       url=f"http://127.0.0.1:{slow_port}/a{i}" if i % 2 else f"http://a{i}.hang.test:{slow_port}/")
        for i in range(100)
    ]  # fmt: skip
    beta_hook = WebhookChannel(id="ch_00000000beef", url=f"http://good.test:{good_port}/beta", secret=SECRET)
    book.apply(rule_record_key("alpha", "r"), dump(_rule("alpha", [])))  # its channels: many rules' worth
    for tenant, channels in (("alpha", flood), ("beta", [beta_hook])):
        book.apply(rule_record_key(tenant, "r"), dump(_rule(tenant, channels[:10])))
    alpha_refs = [ChannelRef(kind="webhook", id=c.id, rule_id="r") for c in flood[:10]] * 10  # 100 sends
    alpha_tick = _tick("alpha", alpha_refs)
    beta_tick = _tick("beta", [ChannelRef(kind="webhook", id=beta_hook.id, rule_id="r")])
    store = Store()
    deliverer = Deliverer(
        "unused:9092", TOPIC, "g", store, "db", book, attempts=1,  # type: ignore[arg-type]
        outbound=OutboundSettings(allow_cidrs="127.0.0.0/8", deadline_seconds=4, resolve_seconds=3),
        signing_key=KEY, limits=AlertLimits(notifications_per_minute=10_000, concurrent_sends=4),
    )  # fmt: skip
    tp = TopicPartition(TOPIC, 0)
    try:
        deliverer.tracker.add(tp, 0)
        deliverer._enqueue(tp, Record(b"alpha", alpha_tick.model_dump_json().encode(), 0))
        await asyncio.sleep(0.5)  # alpha's sends are stuck on its receiver and its DNS now
        sent = time.monotonic()
        deliverer.tracker.add(tp, 1)
        deliverer._enqueue(tp, Record(b"beta", beta_tick.model_dump_json().encode(), 1))
        deadline = sent + 10
        while not any(r["tenant_id"] == "beta" for r in store.rows.get("alert_deliveries", [])):
            assert time.monotonic() < deadline, "beta's delivery was not recorded"
            await asyncio.sleep(0.05)
        (beta,) = [r for r in store.rows["alert_deliveries"] if r["tenant_id"] == "beta"]
        assert (beta["status"], beta["error"]) == ("delivered", "")  # before: failed, "timeout"
        assert got and got[0] - sent < 2.0, f"beta delivered {got[0] - sent:.2f} s after its tick"
    finally:
        await deliverer.stop()
