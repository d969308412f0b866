"""The alert engine with a scripted store: values per rule, grouping, silences, acknowledgements, restore."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from alerting.rulebook import RuleBook, default_rules, dump
from processors.alerts.engine import AlertEngine
from processors.alerts.metrics import rule_value
from schemas.alerts import (
    AlertChannels,
    AlertControl,
    AlertRule,
    AlertTick,
    ChannelRef,
    SlackChannel,
    WebhookChannel,
    channels_record_key,
    control_record_key,
    rule_record_key,
)
from schemas.tenancy import TenantRecord, tenant_record_key
from tenancy.directory import Directory

NOW = datetime(2026, 3, 18, 12, 30, 20, tzinfo=UTC)
HOOK = WebhookChannel(url="https://hooks.test/a", secret="s" * 16)
SLACK = SlackChannel(webhook_url="https://hooks.slack.test/x")


def row(window: datetime | None = None, granularity: str = "m5", **m: Any) -> dict[str, Any]:
    base = {"tenant_id": "acme", "granularity": granularity, "window": int(window.timestamp()) if window else 0, "provider": "openai",
            "model": "gpt-4o", "feature": "chat", "domain": "shop", "events": "0", "errors": "0", "input_tokens": "0",
            "output_tokens": "0", "cost_usd": Decimal(0), "unpriced": "0", "latency_buckets": ["0"] * 16}  # fmt: skip
    return {**base, **m}


def rule(rule_id: str, **fields: Any) -> AlertRule:
    base: dict[str, Any] = {"rule_id": rule_id, "tenant_id": "acme", "name": rule_id, "metric": "requests",
                            "window": "5m", "threshold": Decimal(0), "created_at": NOW, "updated_at": NOW}  # fmt: skip
    return AlertRule(**{**base, **fields})


class Store:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    async def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.rows


def engine(rows: list[dict[str, Any]], book: RuleBook, written: list[AlertTick]) -> AlertEngine:
    directory = Directory()
    tenant = TenantRecord(tenant_id="acme", name="Acme", created_at=NOW, monthly_budget_usd=Decimal(100))
    directory.apply(tenant_record_key("acme"), tenant.model_dump_json().encode())

    async def write(key: bytes, value: bytes) -> int:
        written.append(AlertTick.model_validate_json(value))
        return len(written)

    return AlertEngine(Store(rows), "db", book, directory, write)  # type: ignore[arg-type]


def test_rolling_windows_filters_day_and_month_values() -> None:
    # rolling rows come summed by the store per window (see the chDB test of tick_query)
    day = NOW.replace(hour=0, minute=0, second=0)
    rows = [
        row(events="3", errors="1", cost_usd=Decimal("0.5")),
        row(events="2", cost_usd=Decimal("0.25"), model="gpt-4o-mini"),
        row(granularity="m15", events="13", errors="1"),
        row(granularity="m15", events="2", model="gpt-4o-mini"),
        row(day, "day", events="40", cost_usd=Decimal("30")),
        row(day - timedelta(days=1), "day", events="40", cost_usd=Decimal("28")),
        row(day - timedelta(days=20), "day", events="40", cost_usd=Decimal("7")),  # February
    ]
    utc = ZoneInfo("UTC")
    value = lambda **f: rule_value(rule("r", **f), rows, NOW, utc, Decimal(100), {})  # noqa: E731
    assert value() == 5
    assert value(window="15m") == 15
    assert value(filters={"model": "gpt-4o"}) == 3
    assert value(metric="error_rate") == 20.0
    assert value(metric="error_rate", min_samples=6) is None
    assert value(metric="cost", window="day") == 30.0
    assert value(metric="budget_used_pct") == 58.0  # 30 + 28 of 100 this month
    # projected: 58 + (28 + 30 ... only the last 7 complete days: 28) / 7 per day x 13.48 days left
    projected = value(metric="projected_budget_pct")
    assert projected is not None and round(projected, 2) == round((58 + 4 * (13 + 11.5 / 24 - 20 / 86400)), 2)


async def test_a_storm_is_one_message_per_channel_and_silences_withhold_it() -> None:
    book = RuleBook()
    for i in range(30):
        book.apply(rule_record_key("acme", f"r{i}"), dump(rule(f"r{i}", channels=[HOOK, SLACK])))
    book.apply(control_record_key("silence", "acme", "r7"), dump(
        AlertControl(kind="silence", tenant_id="acme", rule_id="r7", at=NOW, until=NOW + timedelta(hours=1))
    ))  # fmt: skip
    written: list[AlertTick] = []
    e = engine([row(events="1")], book, written)
    await e.evaluate(NOW)
    (tick,) = written
    assert len([t for t in tick.transitions if t.kind == "firing" and t.rule_id.startswith("r")]) == 30
    assert [n.channel.kind for n in tick.notifications] == ["slack", "webhook"]
    assert all(len(n.items) == 29 for n in tick.notifications) and tick.silenced == ["r7"]
    await e.evaluate(NOW + timedelta(seconds=1))
    assert len(written) == 1  # still firing: nothing new to record


async def test_defaults_use_the_tenant_channels_and_restore_continues_the_incident() -> None:
    book = RuleBook()
    book.apply(channels_record_key("acme"), dump(AlertChannels(tenant_id="acme", channels=[HOOK])))
    day = NOW.replace(hour=0, minute=0, second=0)
    rows = [row(day, "day", events="10", cost_usd=Decimal("85"))]
    written: list[AlertTick] = []
    e = engine(rows, book, written)
    await e.evaluate(NOW)
    fired = {t.rule_id for t in written[0].transitions}
    assert fired == {"default-daily-cost", "default-budget-80"}  # 85 > 50 and 85 % of the 100 budget
    assert [n.channel for n in written[0].notifications] == [ChannelRef(kind="webhook", id="ch_000000000000")]
    assert HOOK.secret not in written[0].model_dump_json() and "hooks.test" not in written[0].model_dump_json()

    restarted = engine(rows, book, written)
    restarted.restore(b"acme", written[0].model_dump_json().encode())
    await restarted.evaluate(NOW + timedelta(seconds=5))
    assert len(written) == 1  # the restored engine knows they already fired

    book.apply(rule_record_key("acme", "default-daily-cost"), dump(
        default_rules("acme", None)[0].model_copy(update={"enabled": False})
    ))  # fmt: skip
    await restarted.evaluate(NOW + timedelta(seconds=6))
    assert [t.kind for t in written[-1].transitions] == [] and "default-daily-cost" not in written[-1].states


async def test_acknowledged_incidents_get_no_reminders() -> None:
    book = RuleBook()
    book.apply(rule_record_key("acme", "r"), dump(rule("r", repeat_seconds=300, channels=[HOOK])))
    written: list[AlertTick] = []
    e = engine([row(events="1")], book, written)
    await e.evaluate(NOW)
    await e.evaluate(NOW + timedelta(seconds=301))
    assert [t.kind for t in written[-1].transitions if t.rule_id == "r"] == ["reminder"]
    book.apply(control_record_key("ack", "acme", "r"), dump(
        AlertControl(kind="ack", tenant_id="acme", rule_id="r", at=NOW + timedelta(seconds=302))
    ))  # fmt: skip
    count = len(written)
    await e.evaluate(NOW + timedelta(seconds=610))
    assert len(written) == count
