"""Channel URLs are checked in full when clients send them (a bad one is refused naming the field),
masking never raises (records saved before the check still read), and reminders keep a minimum."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError

from alerting.channel_input import resolve_channels
from alerting.limits import AlertLimits
from alerting.rulebook import RuleBook, default_rules
from schemas.alerts import (
    MIN_REPEAT_SECONDS,
    AlertRule,
    ChannelIn,
    PagerDutyChannel,
    RuleIn,
    SlackChannel,
    WebhookChannel,
    rule_record_key,
)

T0 = datetime(2026, 3, 18, 12, tzinfo=UTC)
SECRET = "whsec-0123456789abcdef"
BAD_URLS = [
    "http://a:99999/x",
    "http://[::1/x",
    "http://a:abc/x",
    "http://a:0/x",
    "http://a:/x",
    "http://user:pw@hooks.test/x",
    "http:///x",
    "http://-a.test/x",
    "http://a..b/x",
    "http://[fe80::1%25eth0]/x",
    "ftp://hooks.test/x",
]
GOOD_URLS = ["https://hooks.slack.com/services/T0/B0/x", "http://1.2.3.4:65535/", "http://[2001:db8::1]:8443/h"]


@pytest.mark.parametrize("url", BAD_URLS)
def test_a_bad_url_in_any_channel_kind_is_refused_naming_the_field(url: str) -> None:
    adapter: TypeAdapter[ChannelIn] = TypeAdapter(ChannelIn)
    for channel, field in (
        ({"kind": "webhook", "url": url, "secret": SECRET}, "url"),
        ({"kind": "slack", "webhook_url": url}, "webhook_url"),
        ({"kind": "pagerduty", "routing_key": "R0UT1NGKEY", "url": url}, "url"),
    ):
        with pytest.raises(ValidationError) as caught:
            RuleIn.model_validate({"name": "n", "metric": "cost", "threshold": "1", "channels": [channel]})
        assert caught.value.errors()[0]["loc"][-1] == field, (url, channel)
        with pytest.raises(ValidationError):
            adapter.validate_python(channel)


@pytest.mark.parametrize("url", GOOD_URLS)
def test_good_urls_are_accepted_and_saved_as_the_plain_channel_class(url: str) -> None:
    rule = RuleIn.model_validate(
        {
            "name": "n",
            "metric": "cost",
            "threshold": "1",
            "channels": [{"kind": "webhook", "url": url, "secret": SECRET}],
        }
    )
    (saved,) = resolve_channels(rule.channels, [], AlertLimits())
    assert type(saved) is WebhookChannel and saved.url == url and saved.id.startswith("ch_")


@pytest.mark.parametrize(
    ("url", "host"), [("http://a:99999/x", "a"), ("http://[::1/x", "invalid URL"), ("http://a:abc/x", "a")]
)
def test_masking_a_bad_url_saved_before_the_check_never_raises(url: str, host: str) -> None:
    hook = WebhookChannel(id="ch_0000000000aa", url=url, secret=SECRET)  # the record's (lenient) form
    slack = SlackChannel(id="ch_0000000000bb", webhook_url=url)
    pd = PagerDutyChannel(id="ch_0000000000cc", routing_key="R0UT1NGKEY", url=url)
    assert hook.target() == slack.target() == f"invalid URL …{url[-4:]}"
    assert pd.target() == f"{host} key …GKEY"
    rule = AlertRule(rule_id="r", tenant_id="acme", name="n", metric="cost", threshold=Decimal(1),
                     created_at=T0, updated_at=T0, channels=[hook, slack, pd])  # fmt: skip
    book = RuleBook()
    book.apply(rule_record_key("acme", "r"), rule.model_dump_json().encode())  # still reads
    assert [c.kind for c in book.rules("acme")[-1].view().channels] == ["webhook", "slack", "pagerduty"]


def test_repeat_seconds_is_zero_or_at_least_the_minimum() -> None:
    base = {"name": "n", "metric": "requests", "threshold": "0"}
    for bad in (1, 59, MIN_REPEAT_SECONDS - 1):
        with pytest.raises(ValidationError) as caught:
            RuleIn.model_validate({**base, "repeat_seconds": bad})
        assert caught.value.errors()[0]["loc"] == ("repeat_seconds",)
    assert RuleIn.model_validate({**base, "repeat_seconds": 0}).repeat_seconds == 0
    assert RuleIn.model_validate({**base, "repeat_seconds": MIN_REPEAT_SECONDS}).repeat_seconds == 300
    assert all(r.reminder_seconds() in (0,) for r in default_rules("acme", Decimal(100)))  # seeded rules validate
    legacy = AlertRule(rule_id="r", tenant_id="acme", name="n", metric="cost", threshold=Decimal(1),
                       created_at=T0, updated_at=T0, repeat_seconds=1)  # fmt: skip
    assert legacy.reminder_seconds() == MIN_REPEAT_SECONDS
