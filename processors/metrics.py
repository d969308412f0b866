"""Prometheus metrics of the worker (process-wide registry; served at /metrics by the process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_STORED = Counter("tally_worker_events_stored", "Events priced and stored in the warehouse.")
DEAD_LETTERS = Counter("tally_worker_dead_letters", "Records sent to the dead-letter topic, by reason.", ["reason"])
DUPLICATES = Counter(
    "tally_worker_duplicates_dropped",
    "Events dropped as already seen: `batch` (twice in one batch) or `stored` (already in the warehouse).",
    ["where"],
)
REPLAYED = Counter(
    "tally_worker_events_replayed", "Events read again after a restart or rebalance (recounted, not re-stored)."
)
LATE = Counter(
    "tally_worker_events_late",
    "Events later than the allowed lateness: stored raw, counted under type late; reconcile fixes their rollups.",
)
UNKNOWN_MODEL = Counter("tally_worker_unknown_model", "llm_call events whose model has no known price.")
UNKNOWN_MODELS_BUCKETED = Counter(
    "tally_worker_unknown_models_bucketed",
    "llm_call events of an unknown model stored as '(other unknown models)': the tenant passed its distinct cap.",
)
INSERT_RETRIES = Counter("tally_worker_insert_retries", "Failed warehouse inserts (each is retried).")
ALERT_EVALUATION = Histogram(
    "tally_alert_evaluation_seconds",
    "Time of one evaluation of every alert rule (query, state machines, durable write).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
ALERT_TRANSITIONS = Counter("tally_alert_transitions", "Alert rule transitions recorded, by kind.", ["kind"])
ALERT_DELIVERIES = Counter(
    "tally_alert_deliveries", "Notification deliveries, by channel and outcome.", ["channel", "status"]
)
ALERT_DELIVERY_FAILURES = Counter(
    "tally_alert_delivery_failures",
    "Notifications recorded as failed after their last attempt, by channel and category (refused, timeout ...).",
    ["channel", "category"],
)
ALERT_TICK_RETRIES = Counter(
    "tally_alert_tick_retries",
    "Alert-state records retried in place (never skipped), by stage: parse, store, lookup, record.",
    ["stage"],
)


def dead_letter_reason(reason: str) -> str:
    """The bounded label of a dead letter's reason text."""
    if reason.startswith("not JSON"):
        return "not_json"
    if reason.startswith("invalid event"):
        return "invalid_event"
    if reason.startswith("record key"):
        return "key_mismatch"
    if reason.startswith("timestamp"):
        return "out_of_time_range"
    return "other"
