"""Channel URLs over real HTTP against the views API and a real broker: a bad URL is a 422 naming the
field and nothing is written; a bad record already on the rules topic (saved before URLs were
checked in full) does not break reading the tenant's rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import httpx
import pytest

from alerting.rulebook import RuleBook
from schemas.alerts import AlertChannels, AlertRule, SlackChannel, WebhookChannel, channels_record_key, rule_record_key
from tenancy.kafka_log import DirectoryFollower, KeyedLogFollower, KeyedLogWriter, ensure_keyed_log
from tests.live import Keys, create_tenant, free_port, read_records, serve, start_ingest_topics
from views_api.main import create_app

pytestmark = pytest.mark.integration

SECRET = "whsec-0123456789abcdef"
BAD_URLS = ["http://a:99999/x", "http://[::1/x", "http://a:abc/x", "http://u:p@hooks.test/x", "http://a:0/x"]


@dataclass
class Views:
    url: str
    keys: Keys
    rules_topic: str
    bootstrap: str


@pytest.fixture
async def views(kafka_bootstrap: str, unique: str) -> AsyncIterator[Views]:
    _, _, directory = await start_ingest_topics(kafka_bootstrap, unique)
    rules_topic = f"{unique}.alert-rules"
    await ensure_keyed_log(kafka_bootstrap, rules_topic, {"cleanup.policy": "compact"})
    keys = await create_tenant(kafka_bootstrap, directory, "acme")
    book = RuleBook()
    app = create_app(
        cast(Any, None), "db", (follower := DirectoryFollower(kafka_bootstrap, directory)).directory,
        follower=follower, rules=book, rules_follower=KeyedLogFollower(kafka_bootstrap, rules_topic, book),
        rules_writer=KeyedLogWriter(kafka_bootstrap, rules_topic),
    )  # fmt: skip
    with serve(app, free_port()) as url:
        yield Views(url, keys, rules_topic, kafka_bootstrap)


def _rule(channel: dict[str, Any]) -> dict[str, Any]:
    return {"name": "Traffic", "metric": "requests", "threshold": "0", "channels": [channel]}


async def test_a_bad_channel_url_is_a_422_naming_the_field_and_nothing_is_written(views: Views) -> None:
    base = f"{views.url}/api/dashboard/acme/alerts"
    auth = {"authorization": f"Bearer {views.keys.admin}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as client:
        for url in BAD_URLS:
            for channel, field in (
                ({"kind": "webhook", "url": url, "secret": SECRET}, "url"),
                ({"kind": "slack", "webhook_url": url}, "webhook_url"),
                ({"kind": "pagerduty", "routing_key": "R0UT1NGKEY", "url": url}, "url"),
            ):
                created = await client.post(f"{base}/rules", json=_rule(channel))
                assert created.status_code == 422, (url, created.text)
                assert created.json()["detail"][0]["loc"][-1] == field
                defaults = await client.put(f"{base}/channels", json={"channels": [channel]})
                assert defaults.status_code == 422, (url, defaults.text)
                assert defaults.json()["detail"][0]["loc"][-1] == field
        repeat = await client.post(f"{base}/rules", json={**_rule({"kind": "keep", "id": "ch_000000000000"}),
                                                            "channels": [], "repeat_seconds": 1})  # fmt: skip
        assert repeat.status_code == 422 and repeat.json()["detail"][0]["loc"] == ["body", "repeat_seconds"]
        listed = await client.get(f"{base}/rules")
        assert listed.status_code == 200
        assert [r["rule"]["rule_id"] for r in listed.json()["rules"]] == ["default-daily-cost", "default-error-rate"]
    assert await read_records(views.bootstrap, views.rules_topic, want=1, max_wait_s=1.5) == []


async def test_a_bad_url_saved_before_the_check_does_not_break_reading_the_rules(views: Views) -> None:
    now = datetime.now(UTC)
    bad_hook = WebhookChannel(id="ch_0000000000aa", url="http://a:99999/x", secret=SECRET)
    bad_slack = SlackChannel(id="ch_0000000000bb", webhook_url="http://[::1/x")
    rule = AlertRule(rule_id="old", tenant_id="acme", name="Old", metric="requests", threshold=Decimal(0),
                     created_at=now, updated_at=now, channels=[bad_hook], repeat_seconds=1)  # fmt: skip
    writer = KeyedLogWriter(views.bootstrap, views.rules_topic)
    await writer.start()
    try:  # records as an older version wrote them (signed, like every rules record)
        await writer.write(rule_record_key("acme", "old"), rule.model_dump_json().encode())
        defaults = AlertChannels(tenant_id="acme", channels=[bad_slack])
        await writer.write(channels_record_key("acme"), defaults.model_dump_json().encode())
    finally:
        await writer.stop()
    auth = {"authorization": f"Bearer {views.keys.read}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as client:
        for _ in range(100):
            listed = await client.get(f"{views.url}/api/dashboard/acme/alerts/rules")
            assert listed.status_code == 200, listed.text  # before: 500 for every key of the tenant
            if listed.json()["default_channels"]:
                break
    body = listed.json()
    assert body["default_channels"] == [{"id": "ch_0000000000bb", "kind": "slack", "target": "invalid URL …:1/x"}]
    (old,) = [r["rule"] for r in body["rules"] if r["rule"]["rule_id"] == "old"]
    assert old["channels"] == [{"id": "ch_0000000000aa", "kind": "webhook", "target": "invalid URL …99/x"}]
