"""Wiring of alerting in the worker: the rules follower, the engine's writer and restore, the deliverer.

The Faust leader checks every `CHECK_SECONDS` and evaluates when a batch was stored since the last
evaluation (`changed`, called by the agent) or `alert_interval_seconds` passed, so rules follow the
rollups as they change and still move when traffic stops. A worker that
becomes leader — at start or after a rebalance — first rebuilds the engine's state from the
alert-state topic, so a new leader continues where the old one stopped.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from mode import Service

from alerting.channels import SmtpEnv
from alerting.rulebook import RuleBook
from guards.outbound import OutboundSettings
from processors.alerts.deliver import Deliverer
from processors.alerts.engine import AlertEngine
from processors.alerts.probe import PipelineProbe
from processors.settings import WorkerSettings
from storage import Warehouse
from tenancy.directory import Directory
from tenancy.kafka_log import KeyedLogFollower, KeyedLogWriter, ensure_keyed_log

log = logging.getLogger(__name__)

CHECK_SECONDS = 0.1
MIN_GAP_SECONDS = 0.25
"""Evaluations that follow stored batches are at least this far apart (each reads the rollups)."""


class AlertService(Service):  # type: ignore[misc]
    def __init__(
        self, settings: WorkerSettings, warehouse: Warehouse, database: str, directory: Directory, rules: RuleBook
    ) -> None:
        super().__init__()
        self._settings = settings
        self.rules = rules
        self._follower = KeyedLogFollower(settings.kafka_bootstrap, settings.alert_rules_topic, rules)
        self._writer = KeyedLogWriter(settings.kafka_bootstrap, settings.alert_state_topic)
        probe = PipelineProbe(
            settings.kafka_bootstrap, settings.worker_group, settings.events_topic, settings.dlq_topic
        )
        self.engine = AlertEngine(warehouse, database, rules, directory, self._writer.write, probe)
        self._deliverer = Deliverer(
            settings.kafka_bootstrap,
            settings.alert_state_topic,
            settings.alert_delivery_group,
            warehouse,
            database,
            rules,  # notifications refer to channels: the deliverer looks them up in the same rule book
            smtp=SmtpEnv().settings(),
            outbound=OutboundSettings(),
        )
        self._last_evaluation = 0.0
        self._changed = False

    def changed(self) -> None:
        """Rollups changed (a batch was stored): evaluate at the next check, without waiting for the interval."""
        self._changed = True

    def due(self) -> bool:
        """Whether to evaluate now: rollups changed, or the interval passed (time-driven rules, resolving)."""
        since = time.monotonic() - self._last_evaluation
        return (self._changed and since >= MIN_GAP_SECONDS) or since >= self._settings.alert_interval_seconds

    async def on_start(self) -> None:
        for topic, configs in (
            (self._settings.alert_rules_topic, {"cleanup.policy": "compact"}),
            (self._settings.alert_state_topic, {"cleanup.policy": "compact", "min.compaction.lag.ms": "604800000"}),
        ):
            await ensure_keyed_log(self._settings.kafka_bootstrap, topic, configs, self._settings.replication)
        await self._follower.start()
        await self._writer.start()
        await self._deliverer.start()

    async def on_stop(self) -> None:
        await self._deliverer.stop()
        await self._writer.stop()
        await self._follower.stop()

    async def restore(self) -> None:
        """Rebuild every tenant's rule states from the alert-state topic (read to its end)."""
        self.engine.states.clear()
        reader = KeyedLogFollower(self._settings.kafka_bootstrap, self._settings.alert_state_topic, self.engine)
        await reader.start()
        await reader.stop()
        log.info("alert state restored: %d tenants with active rules", len(self.engine.states))

    async def evaluate(self, now: datetime) -> None:
        """One evaluation (restoring first when this worker was not evaluating just before)."""
        if time.monotonic() - self._last_evaluation > 5 * self._settings.alert_interval_seconds + 2:
            await self.restore()
        self._changed = False
        await self.engine.evaluate(now)
        self._last_evaluation = time.monotonic()
