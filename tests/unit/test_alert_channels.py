"""Channel payloads and signatures, and the rule book's defaults and records."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from pydantic import ValidationError

from alerting.channels import email_message, headline, pagerduty_events, sign, slack_body, verify, webhook_body
from alerting.rulebook import RuleBook, dump
from schemas.alerts import (
    AlertControl,
    AlertRule,
    ChannelRef,
    EmailChannel,
    Notification,
    PagerDutyChannel,
    RuleIn,
    Transition,
    WebhookChannel,
    control_record_key,
    rule_record_key,
)

T0 = datetime(2026, 3, 18, 12, tzinfo=UTC)
ITEM = Transition(
    rule_id="cost", kind="firing", at=T0, value=61.25, threshold=Decimal(50), metric="cost", severity="critical",
    name="High daily cost", incident="acme:cost:1",
)  # fmt: skip
HOOK = WebhookChannel(url="https://hooks.test/a", secret="0123456789abcdef")


def test_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    body = b'{"a":1}'
    header = sign(HOOK.secret, 1_700_000_000, body)
    want = hmac.new(HOOK.secret.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={want}"
    assert verify(HOOK.secret, header, body, 1_700_000_100)
    assert not verify(HOOK.secret, header, body + b" ", 1_700_000_100)  # body changed
    assert not verify(HOOK.secret, header, body, 1_700_000_400)  # too old: replay
    assert not verify("another-secret-123", header, body, 1_700_000_100)
    assert not verify(HOOK.secret, "garbage", body, 1_700_000_100)


def test_payloads_of_each_channel() -> None:
    ref = ChannelRef(kind="webhook", id="ch_0123456789ab")
    n = Notification(notification_id="n1", channel=ref, items=[ITEM, ITEM.model_copy(update={"kind": "resolved"})])
    assert headline(ITEM) == "[FIRING] High daily cost: cost 61.25 (threshold 50, critical)"
    body = orjson.loads(webhook_body("acme", n, 1_700_000_000))
    assert (body["notification_id"], body["tenant_id"], len(body["alerts"])) == ("n1", "acme", 2)
    assert body["alerts"][0]["threshold"] == "50" and body["alerts"][0]["value"] == 61.25
    slack = slack_body("acme", n)
    assert slack["text"] == "tallystream: 2 alert update(s) for acme"
    assert "• [RESOLVED] High daily cost" in slack["blocks"][0]["text"]["text"]
    events = pagerduty_events(PagerDutyChannel(routing_key="R0UT1NGKEY"), "acme", n)
    assert [(e["event_action"], e["dedup_key"]) for e in events] == [
        ("trigger", "acme:cost:1"),
        ("resolve", "acme:cost:1"),
    ]
    assert events[0]["payload"]["severity"] == "critical" and events[0]["payload"]["source"] == "tallystream/acme"
    mail = email_message(EmailChannel(to=["a@x.test", "b@x.test"]), "alerts@tally.test", "acme", n)
    assert mail["To"] == "a@x.test, b@x.test" and mail["Subject"].endswith("(+1 more) — acme")
    assert mail["X-Tally-Notification-Id"] == "n1"


def test_rule_validation_names_the_field() -> None:
    with pytest.raises(ValidationError, match="metric"):
        RuleIn.model_validate({"name": "x", "metric": "vibes", "threshold": "1"})
    with pytest.raises(ValidationError, match="secret"):
        WebhookChannel(url="https://x.test", secret="short")
    with pytest.raises(ValidationError, match="window"):
        RuleIn.model_validate({"name": "x", "metric": "cost", "window": "2h", "threshold": "1"})


def test_rule_book_defaults_records_and_controls() -> None:
    book = RuleBook()
    assert [r.rule_id for r in book.rules("acme")] == ["default-daily-cost", "default-error-rate"]
    with_budget = [r.rule_id for r in book.rules("acme", Decimal(500))]
    assert with_budget == ["default-budget-100", "default-budget-80", "default-daily-cost", "default-error-rate"]
    own = AlertRule(rule_id="default-daily-cost", tenant_id="acme", name="Cost", metric="cost", window="day",
                    threshold=Decimal(80), created_at=T0, updated_at=T0)  # fmt: skip
    book.apply(rule_record_key("acme", "default-daily-cost"), dump(own), offset=3)
    assert book.rules("acme")[0].threshold == Decimal(80)  # the tenant's version replaces the default
    book.apply(rule_record_key("acme", "default-daily-cost"), None, offset=2)  # older than what was applied
    assert book.rules("acme")[0].threshold == Decimal(80)
    book.apply(rule_record_key("acme", "default-daily-cost"), None, offset=4)
    assert book.rules("acme")[0].threshold == Decimal(50)
    silence = AlertControl(kind="silence", tenant_id="acme", rule_id="x", at=T0, until=T0 + timedelta(minutes=5))
    book.apply(control_record_key("silence", "acme", "x"), dump(silence))
    assert book.silenced("acme", "x", T0 + timedelta(minutes=4))
    assert not book.silenced("acme", "x", T0 + timedelta(minutes=5))
    ack = AlertControl(kind="ack", tenant_id="acme", rule_id="x", at=T0)
    book.apply(control_record_key("ack", "acme", "x"), dump(ack))
    assert book.acknowledged("acme", "x", T0 - timedelta(minutes=1))
    assert not book.acknowledged("acme", "x", T0 + timedelta(minutes=1))  # a later incident is not acknowledged
