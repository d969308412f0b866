"""Delivering alert ticks without Kafka: retries in place (nothing skipped), failures recorded and
counted, references resolved in the rule book, lanes per tenant and offsets committed only up to the
lowest unfinished record."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiokafka import TopicPartition

from alerting.channels import DeliveryError, SmtpSettings
from alerting.limits import AlertLimits
from alerting.rulebook import RuleBook, dump
from guards.outbound import OutboundClient
from processors import metrics
from processors.alerts.deliver import Deliverer
from processors.alerts.delivery import TickHandler
from processors.alerts.offsets import OffsetTracker
from schemas.alerts import AlertRule, AlertTick, Channel, ChannelRef, Notification, Transition, WebhookChannel
from schemas.alerts import rule_record_key as rkey
from tenancy.signing import HEADER, signature

T0 = datetime(2026, 3, 18, 12, tzinfo=UTC)
HOOK = WebhookChannel(id="ch_00000000aaaa", url="https://hooks.test/a", secret="s" * 16)
REF = ChannelRef(kind="webhook", id=HOOK.id, rule_id="r")


class Store:
    """A warehouse in memory; `fail_inserts` inserts raise first."""

    def __init__(self, fail_inserts: int = 0) -> None:
        self.rows: dict[str, list[Mapping[str, Any]]] = {}
        self.fail_inserts = fail_inserts

    async def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        if self.fail_inserts > 0:
            self.fail_inserts -= 1
            raise ConnectionError("store down")
        self.rows.setdefault(table.split(".")[-1], []).extend(rows)

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        done = [r for r in self.rows.get("alert_deliveries", []) if r["status"] == "delivered"]
        return [{"n": sum(1 for r in done if params and r["notification_id"] == params["id"])}]

    def deliveries(self) -> list[tuple[str, str, int, str]]:
        return [(r["notification_id"], r["status"], r["attempts"], r["error"]) for r in self.rows["alert_deliveries"]]


def book() -> RuleBook:
    b = RuleBook()
    rule = AlertRule(rule_id="r", tenant_id="acme", name="Cost", metric="cost", threshold=Decimal(1),
                     created_at=T0, updated_at=T0, channels=[HOOK])  # fmt: skip
    b.apply(rkey("acme", "r"), dump(rule))
    return b


def tick(nid: str, ref: ChannelRef = REF) -> AlertTick:
    item = Transition(rule_id="r", kind="firing", at=T0, value=2.0, threshold=Decimal(1), metric="cost",
                      severity="warning", name="Cost", incident="acme:r:1")  # fmt: skip
    notification = Notification(notification_id=nid, channel=ref, items=[item])
    return AlertTick(tenant_id="acme", at=T0, states={}, transitions=[item], notifications=[notification])


class Sender:
    """Fails the first `failures` calls (with `error`), records every channel it was given."""

    def __init__(self, failures: int = 0, error: Exception | None = None) -> None:
        self.failures, self.error, self.sent = failures, error or RuntimeError("boom"), []

    async def __call__(
        self, channel: Channel, tenant: str, n: Notification, http: OutboundClient, smtp: SmtpSettings | None
    ) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        self.sent.append((tenant, n.notification_id, channel))


async def no_sleep(_: float) -> None:
    return None


KEY, TOPIC = b"state-signing-key-0123456789abcdef", "alert-state"


def signed(key: bytes, value: bytes, signing_key: bytes = KEY) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """A record as the engine writes it: (key, value, headers with its signature)."""
    return key, value, [(HEADER, signature(signing_key, TOPIC, key, value))]


def handler(store: Store, sender: Sender, attempts: int = 3, **kw: Any) -> TickHandler:
    return TickHandler(store, "db", book(), OutboundClient(), attempts=attempts, sender=sender, sleep=no_sleep,  # type: ignore[arg-type]
                       topic=TOPIC, signing_key=KEY, **kw)  # fmt: skip


async def test_a_notification_whose_first_attempt_raised_is_delivered_on_retry() -> None:
    store, sender = Store(), Sender(failures=1, error=ValueError("header has a newline"))
    await handler(store, sender).handle_record(*signed(b"acme", tick("n1").model_dump_json().encode()))
    assert [(t, n, c.id) for t, n, c in sender.sent] == [("acme", "n1", HOOK.id)]  # resolved from the book
    assert sender.sent[0][2].secret == HOOK.secret
    assert store.deliveries() == [("n1", "delivered", 2, "")]


async def test_a_failing_notification_is_recorded_and_counted_and_the_next_tick_goes_on() -> None:
    store, sender = Store(), Sender(failures=3, error=DeliveryError("HTTP 5xx"))
    before = metrics.ALERT_DELIVERY_FAILURES.labels("webhook", "HTTP 5xx")._value.get()
    h = handler(store, sender)
    await h.handle_record(*signed(b"acme", tick("n1").model_dump_json().encode()))
    await h.handle_record(*signed(b"acme", tick("n2").model_dump_json().encode()))
    assert store.deliveries() == [("n1", "failed", 3, "HTTP 5xx"), ("n2", "delivered", 1, "")]
    assert metrics.ALERT_DELIVERY_FAILURES.labels("webhook", "HTTP 5xx")._value.get() == before + 1
    assert len(store.rows["alert_events"]) == 2


async def test_a_store_failure_is_retried_in_place_and_nothing_is_sent_before_it_is_stored() -> None:
    store, sender = Store(fail_inserts=2), Sender()
    await handler(store, sender).handle_record(*signed(b"acme", tick("n1").model_dump_json().encode()))
    assert len(store.rows["alert_events"]) == 1 and store.deliveries() == [("n1", "delivered", 1, "")]


async def test_a_channel_gone_by_delivery_time_is_recorded_as_failed() -> None:
    store, sender = Store(), Sender()
    gone = ChannelRef(kind="webhook", id="ch_0000000bbbbb", rule_id="r")
    await handler(store, sender).handle_record(*signed(b"acme", tick("n1", gone).model_dump_json().encode()))
    assert sender.sent == [] and store.deliveries() == [("n1", "failed", 3, "channel gone")]


async def test_an_unreadable_record_is_recorded_and_retried_in_place_not_skipped() -> None:
    store, sender, pauses = Store(), Sender(), []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            raise asyncio.CancelledError

    h = TickHandler(store, "db", book(), OutboundClient(), sender=sender, sleep=sleep, topic=TOPIC, signing_key=KEY)  # type: ignore[arg-type]
    with pytest.raises(asyncio.CancelledError):
        await h.handle_record(*signed(b"acme", b'{"tenant_id": "acme", "from": "the future"}'))
    assert pauses == [0.5, 1.0, 2.0]  # still on it after three tries
    ((nid, status, _, error),) = store.deliveries()
    assert nid.startswith("unreadable-") and (status, error) == ("failed", "internal error")


def test_offsets_commit_only_up_to_the_lowest_unfinished_record() -> None:
    t: OffsetTracker[int] = OffsetTracker()
    for offset in (10, 11, 12):
        t.add(0, offset)
    t.done(0, 11)
    t.done(0, 12)
    assert t.committable() == {0: 10}  # 10 not finished: nothing past it
    t.committed({0: 10})
    assert t.committable() == {}
    t.done(0, 10)
    assert t.committable() == {0: 13} and t.pending == 0


async def test_a_slow_tenant_delays_only_itself_and_holds_back_only_its_offsets() -> None:
    release = asyncio.Event()
    finished: list[bytes] = []

    class Slow:
        async def handle_record(self, key: bytes | None, value: bytes | None, headers: Any) -> None:
            if key == b"slow":
                await release.wait()
            finished.append(value or b"")

    deliverer = Deliverer("unused:9092", "t", "g", Store(), "db", RuleBook(), signing_key=KEY)  # type: ignore[arg-type]
    deliverer.handler = Slow()  # type: ignore[assignment]
    tp = TopicPartition("t", 0)

    class Record:
        def __init__(self, key: bytes, offset: int) -> None:
            self.key, self.value, self.offset, self.headers = key, f"{key.decode()}-{offset}".encode(), offset, []

    for key, offset in ((b"slow", 0), (b"fast", 1), (b"slow", 2), (b"fast", 3)):
        deliverer.tracker.add(tp, offset)
        deliverer._enqueue(tp, Record(key, offset))
    for _ in range(20):
        await asyncio.sleep(0)
    assert finished == [b"fast-1", b"fast-3"]  # the other tenant went on
    assert deliverer.tracker.committable() == {tp: 0}  # the slow tenant's first record holds the commit
    release.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert finished[2:] == [b"slow-0", b"slow-2"]  # in order within the tenant
    assert deliverer.tracker.committable() == {tp: 4}
    await deliverer.stop()


async def test_only_records_signed_with_the_signing_key_are_delivered() -> None:
    store, sender = Store(), Sender()
    h = handler(store, sender)
    forged = tick("forged").model_dump_json().encode()
    await h.handle_record(b"acme", forged, [])  # no signature at all
    await h.handle_record(*signed(b"acme", forged, b"another-key-0123456789abcdef0123456"))
    key, value, headers = signed(b"acme", forged)
    await h.handle_record(b"globex", value, headers)  # signed for another key (tenant)
    await h.handle_record(key, value + b" ", headers)  # altered after signing
    assert sender.sent == [] and "alert_events" not in store.rows  # nothing stored, nothing sent
    refused = [(status, error, attempts) for _, status, attempts, error in store.deliveries()]
    assert refused == [("failed", "unsigned record", 0)] * 4
    assert all(n.startswith("unsigned-") for n, *_ in store.deliveries())
    await h.handle_record(*signed(b"acme", tick("genuine").model_dump_json().encode()))
    assert [n for _, n, _ in sender.sent] == ["genuine"]


async def test_past_its_budget_a_tenants_notifications_are_recorded_as_failed_and_counted() -> None:
    store, sender, now = Store(), Sender(), [0.0]
    limits = AlertLimits(notifications_per_minute=3, concurrent_sends=2)
    h = handler(store, sender, limits=limits, monotonic=lambda: now[0])
    before = metrics.ALERT_DELIVERY_FAILURES.labels("webhook", "tenant notification budget exceeded")._value.get()
    for i in range(5):
        await h.handle_record(*signed(b"acme", tick(f"n{i}").model_dump_json().encode()))
    assert [n for _, n, _ in sender.sent] == ["n0", "n1", "n2"]
    over = ("failed", 0, "tenant notification budget exceeded")
    assert [d[1:] for d in store.deliveries()] == [("delivered", 1, "")] * 3 + [over] * 2
    after = metrics.ALERT_DELIVERY_FAILURES.labels("webhook", "tenant notification budget exceeded")._value.get()
    assert after == before + 2
    now[0] = 20.0  # a third of a minute later: one more
    await h.handle_record(*signed(b"acme", tick("n5").model_dump_json().encode()))
    await h.handle_record(*signed(b"acme", tick("n6").model_dump_json().encode()))
    assert [n for _, n, _ in sender.sent][3:] == ["n5"] and store.deliveries()[-1][1:] == over


async def test_a_tenants_sends_in_flight_are_capped() -> None:
    in_flight, most, release = [0], [0], asyncio.Event()

    async def slow(channel: Channel, tenant: str, n: Notification, http: Any, smtp: Any) -> None:
        in_flight[0] += 1
        most[0] = max(most[0], in_flight[0])
        await release.wait()
        in_flight[0] -= 1

    store = Store()
    limits = AlertLimits(notifications_per_minute=1000, concurrent_sends=2)
    h = TickHandler(store, "db", book(), OutboundClient(), sender=slow, sleep=no_sleep, topic=TOPIC,  # type: ignore[arg-type]
                    signing_key=KEY, limits=limits)  # fmt: skip
    many = tick("n0")
    many = many.model_copy(update={"notifications": [
        n.model_copy(update={"notification_id": f"n{i}"}) for i in range(6) for n in many.notifications
    ]})  # fmt: skip
    task = asyncio.create_task(h.handle_record(*signed(b"acme", many.model_dump_json().encode())))
    for _ in range(50):
        await asyncio.sleep(0)
    assert most[0] == 2
    release.set()
    await task
    assert [d[1] for d in store.deliveries()] == ["delivered"] * 6
