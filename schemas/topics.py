"""Kafka topic names and layout shared by every role."""

from __future__ import annotations

from typing import Final

EVENTS_RAW: Final = "events.raw"
"""Validated events as accepted by ingest, JSON, keyed by tenant id."""
EVENTS_DLQ: Final = "events.dlq"
"""Events the processors could not handle, with the reason, keyed by tenant id."""
DEFAULT_PARTITIONS: Final = 6
"""Partitions of the event topics: the ceiling on worker parallelism."""
TENANTS: Final = "tally.tenants"
"""Tenants and API keys (hashed), one compacted record per tenant or key, keyed `tenant:<id>` / `key:<id>`."""
ALERT_RULES: Final = "tally.alert-rules"
"""Alert rules, default channels, acknowledgements and silences: compacted, one partition (schemas.alerts)."""
ALERT_STATE: Final = "tally.alert-state"
"""The alert engine's evaluations that changed something, keyed by tenant: compacted, one partition."""
