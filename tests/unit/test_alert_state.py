"""The rule state machine: pending, firing once, reminders, hysteresis, resolving once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from processors.alerts.state import step
from schemas.alerts import AlertRule, RuleState

T0 = datetime(2026, 3, 18, 12, tzinfo=UTC)


def rule(**fields: Any) -> AlertRule:
    base: dict[str, Any] = {
        "rule_id": "cost", "tenant_id": "acme", "name": "Cost", "metric": "cost", "window": "day",
        "threshold": Decimal(50), "created_at": T0, "updated_at": T0, "resolve_after_seconds": 60,
    }  # fmt: skip
    return AlertRule(**{**base, **fields})


def run(r: AlertRule, values: list[float | None], every: int = 10) -> tuple[RuleState | None, list[tuple[int, str]]]:
    state, seen = None, []
    for i, value in enumerate(values):
        result = step(r, state, value, T0 + timedelta(seconds=every * i))
        state = result.state
        if result.transition is not None:
            seen.append((every * i, result.transition.kind))
    return state, seen


def test_fires_once_and_resolves_once_after_the_hysteresis() -> None:
    state, seen = run(rule(), [10, 60, 70, 80, 40, 70, 40, 40, 40, 40, 40, 40, 40, 40])
    # back above the line at 50 s forgets the clearing that started at 40 s; clear from 60 s, resolved at 120 s
    assert seen == [(10, "firing"), (120, "resolved")]
    assert state is None


def test_for_duration_goes_through_pending_and_a_blip_is_cleared_quietly() -> None:
    r = rule(for_seconds=30)
    _, seen = run(r, [60, 60, 10, 60, 60, 60, 60, 60])
    assert seen == [(0, "pending"), (20, "cleared"), (30, "pending"), (60, "firing")]


def test_reminders_repeat_while_firing_unless_acknowledged() -> None:
    r = rule(repeat_seconds=300)
    _, seen = run(r, [60] * 8, every=100)
    assert seen == [(0, "firing"), (300, "reminder"), (600, "reminder")]
    state = step(r, None, 60, T0).state
    assert state is not None
    quiet = step(r, state, 60, T0 + timedelta(seconds=900), acknowledged=True)
    assert quiet.transition is None


def test_a_rule_saved_with_a_short_repeat_reminds_at_most_every_five_minutes() -> None:
    # saved before the minimum existed: the record still reads, but reminders keep the minimum
    _, seen = run(rule(repeat_seconds=1), [60] * 700, every=1)
    assert seen == [(0, "firing"), (300, "reminder"), (600, "reminder")]


def test_no_data_and_too_few_samples_count_as_false() -> None:
    _, seen = run(rule(resolve_after_seconds=0), [60, None])
    assert seen == [(0, "firing"), (10, "resolved")]


def test_comparators_and_incident_ids() -> None:
    below = rule(comparator="lt", threshold=Decimal(5))
    fired = step(below, None, 4.99, T0)
    assert fired.transition is not None and fired.transition.kind == "firing"
    assert fired.transition.incident == f"acme:cost:{int(T0.timestamp())}"
    assert step(rule(comparator="gte"), None, 50, T0).transition is not None
    assert step(rule(comparator="gt"), None, 50, T0).transition is None
