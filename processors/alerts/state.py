"""The state machine of one rule (pure): ok -> pending -> firing -> resolved (-> ok).

`step` takes the rule, its current state and this evaluation's condition and returns the new state
and the transition to record, if any:

- ok: the condition holds -> pending (or straight to firing when `for_seconds` is 0);
- pending: it held for `for_seconds` -> firing (notify); it stopped holding -> ok ("cleared", quiet);
- firing: it stopped holding -> clearing starts (`clear_since`); back -> clearing forgotten;
  false for `resolve_after_seconds` -> resolved (notify) and ok; still holding and a reminder is
  due (`repeat_seconds`, at least 300 s, not acknowledged) -> reminder (notify).

`condition` is None when there is no data or too few samples: it counts as false.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from schemas.alerts import AlertRule, RuleState, Transition

NOTIFYING = ("firing", "reminder", "resolved")


@dataclass(frozen=True)
class Step:
    state: RuleState | None
    """None: the rule is ok."""
    transition: Transition | None


def compare(value: float, comparator: str, threshold: Decimal) -> bool:
    limit = float(threshold)
    return {
        "gt": value > limit,
        "gte": value >= limit,
        "lt": value < limit,
        "lte": value <= limit,
    }[comparator]


def incident_id(rule: AlertRule, fired_at: datetime) -> str:
    return f"{rule.tenant_id}:{rule.rule_id}:{int(fired_at.timestamp())}"


def step(
    rule: AlertRule, state: RuleState | None, value: float | None, now: datetime, acknowledged: bool = False
) -> Step:
    """Advance one rule by one evaluation at `now` with the metric's `value` (None: no data)."""
    holds = value is not None and compare(value, rule.comparator, rule.threshold)

    def transition(kind: str, incident: str) -> Transition:
        return Transition(
            rule_id=rule.rule_id,
            kind=kind,  # type: ignore[arg-type]
            at=now,
            value=value,
            threshold=rule.threshold,
            metric=rule.metric,
            severity=rule.severity,
            name=rule.name,
            incident=incident,
        )

    def fire() -> Step:
        incident = incident_id(rule, now)
        fired = RuleState(status="firing", since=now, incident=incident, value=value, last_notified=now)
        return Step(fired, transition("firing", incident))

    if state is None or state.status == "ok":
        if not holds:
            return Step(None, None)
        if rule.for_seconds == 0:
            return fire()
        return Step(RuleState(status="pending", since=now, value=value), transition("pending", ""))
    if state.status == "pending":
        if not holds:
            return Step(None, transition("cleared", ""))
        if now - state.since >= timedelta(seconds=rule.for_seconds):
            return fire()
        return Step(state.model_copy(update={"value": value}), None)
    # firing
    if holds:
        updated = state.model_copy(update={"value": value, "clear_since": None})
        due = (
            rule.reminder_seconds() > 0
            and not acknowledged
            and state.last_notified is not None
            and now - state.last_notified >= timedelta(seconds=rule.reminder_seconds())
        )
        if due:
            return Step(updated.model_copy(update={"last_notified": now}), transition("reminder", state.incident))
        return Step(updated, None)
    clear_since = state.clear_since or now
    if now - clear_since >= timedelta(seconds=rule.resolve_after_seconds):
        return Step(None, transition("resolved", state.incident))
    return Step(state.model_copy(update={"value": value, "clear_since": clear_since}), None)
