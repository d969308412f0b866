"""Write-only channels (masked views, `keep` references), control characters refused, the email
builder safe anyway, and the recipients quota."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import ValidationError

from alerting.channel_input import ChannelInputError, resolve_channels
from alerting.channels import email_message
from alerting.limits import AlertLimits
from schemas.alerts import (
    AlertRule,
    ChannelRef,
    EmailChannel,
    KeepChannel,
    Notification,
    PagerDutyChannel,
    RuleIn,
    SlackChannel,
    Transition,
    WebhookChannel,
)

T0 = datetime(2026, 3, 18, 12, tzinfo=UTC)
HOOK = WebhookChannel(id="ch_0000000000aa", url="https://hooks.test/in/abcd1234", secret="whsec-0123456789abcdef")
SLACK = SlackChannel(id="ch_0000000000bb", webhook_url="https://hooks.slack.com/services/T0/B0/XyZsecretQ9k2")
PD = PagerDutyChannel(id="ch_0000000000cc", routing_key="R0UT1NGKEY77")
MAIL = EmailChannel(id="ch_0000000000dd", to=["oncall@acme.test"])


def test_views_show_kind_and_a_masked_target_never_a_secret() -> None:
    rule = AlertRule(rule_id="r", tenant_id="acme", name="n", metric="cost", threshold=Decimal(1),
                     created_at=T0, updated_at=T0, channels=[HOOK, SLACK, PD, MAIL])  # fmt: skip
    view = rule.view()
    assert [(c.id, c.kind, c.target) for c in view.channels] == [
        ("ch_0000000000aa", "webhook", "https://hooks.test/…1234"),
        ("ch_0000000000bb", "slack", "https://hooks.slack.com/…Q9k2"),
        ("ch_0000000000cc", "pagerduty", "events.pagerduty.com key …EY77"),
        ("ch_0000000000dd", "email", "o…@acme.test"),
    ]
    text = view.model_dump_json()
    for secret in (HOOK.secret, "XyZsecret", "R0UT1NGKEY", "oncall@"):
        assert secret not in text


def test_keep_takes_the_saved_channel_and_new_channels_get_new_ids() -> None:
    limits = AlertLimits()
    fresh = WebhookChannel(url="https://hooks.test/new", secret="another-secret-0123")
    out = resolve_channels([KeepChannel(id=HOOK.id), fresh], [HOOK, SLACK], limits)
    assert out[0] == HOOK  # secret and all, unchanged
    assert (
        out[1].id.startswith("ch_")
        and out[1].id != HOOK.id
        and out[1].model_dump(exclude={"id"}) == fresh.model_dump(exclude={"id"})
    )
    with pytest.raises(ChannelInputError) as unknown:
        resolve_channels([KeepChannel(id="ch_0000000000ff")], [HOOK], limits)
    assert unknown.value.field == "channels.0.id"
    with pytest.raises(ChannelInputError, match="kept twice"):
        resolve_channels([KeepChannel(id=HOOK.id), KeepChannel(id=HOOK.id)], [HOOK], limits)


def test_recipients_quota_names_the_field_and_the_limit() -> None:
    many = EmailChannel(to=[f"p{i}@acme.test" for i in range(4)])
    with pytest.raises(ChannelInputError, match="at most 3 recipients") as refused:
        resolve_channels([SLACK, many], [], AlertLimits(max_recipients=3))
    assert refused.value.field == "channels.1.to"
    assert len(resolve_channels([many], [], AlertLimits(max_recipients=4))[0].to) == 4  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["Cost\nBcc: victim@evil.test", "a\rb", "nul\x00", "tab\there", "del\x7f", "ls\u2028"])
def test_control_characters_are_refused_in_rule_names(name: str) -> None:
    with pytest.raises(ValidationError, match="name") as refused:
        RuleIn.model_validate({"name": name, "metric": "cost", "threshold": "1"})
    assert "control characters" in str(refused.value)


def test_control_characters_are_refused_in_channel_fields() -> None:
    with pytest.raises(ValidationError, match="to"):
        EmailChannel.model_validate({"to": ["a@acme.test\nbcc: x@evil.test"]})
    with pytest.raises(ValidationError, match="secret"):
        WebhookChannel.model_validate({"url": "https://hooks.test/a", "secret": "0123456789abcdef\r\n"})
    with pytest.raises(ValidationError, match="routing_key"):
        PagerDutyChannel.model_validate({"routing_key": "R0UT\x00NGKEY"})


def test_the_email_builder_never_raises_on_control_characters() -> None:
    item = Transition.model_construct(
        rule_id="r", kind="firing", at=T0, value=1.0, threshold=Decimal(1), metric="cost", severity="warning",
        name="Cost\r\nBcc: victim@evil.test", incident="i",
    )  # fmt: skip
    n = Notification.model_construct(notification_id="n\n1", channel=ChannelRef(kind="email", id=MAIL.id), items=[item])
    mail = email_message(MAIL, "alerts@tally.test", "acme", n)
    assert "\n" not in mail["Subject"] and "\r" not in mail["Subject"] and mail["Bcc"] is None
    assert mail["Subject"].startswith("[FIRING] Cost Bcc: victim@evil.test")
    head, _, body = mail.as_bytes().partition(b"\n\n")
    assert b"\nBcc:" not in head and b"\nBcc:" not in body
