"""Delivery of alert notifications, apart from stream processing.

A `Deliverer` consumes the alert-state topic in its own consumer group. For each `AlertTick` it
stores the transitions in `alert_events` (the history the API lists), then sends each
notification to its channel, retrying with exponential backoff, and records the outcome in
`alert_deliveries`. The offset is committed only after that, so a restart re-reads unfinished
ticks; a notification whose delivery is already recorded is not sent again. The one window left
open — a crash after the channel accepted and before the outcome is recorded — resends once, with
the same `X-Tally-Notification-Id` (and PagerDuty's dedup key) for the receiver to drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
from aiokafka import AIOKafkaConsumer

from alerting.channels import DeliveryError, SmtpSettings, send
from processors import metrics
from schemas.alerts import AlertTick, Notification
from schemas.ddl import ch_datetime64
from schemas.ddl_alerts import ALERT_DELIVERIES_TABLE, ALERT_EVENTS_TABLE
from storage import Warehouse

log = logging.getLogger(__name__)


class Deliverer:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        warehouse: Warehouse,
        database: str,
        smtp: SmtpSettings | None = None,
        attempts: int = 6,
        backoff: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._bootstrap, self._topic, self._group = bootstrap, topic, group
        self._warehouse, self._database = warehouse, database
        self._smtp, self._attempts, self._backoff, self._clock = smtp, attempts, backoff, clock
        self._consumer: AIOKafkaConsumer | None = None
        self._http: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request otherwise
        self._http = httpx.AsyncClient(timeout=10)
        self._consumer = AIOKafkaConsumer(
            self._topic,
            bootstrap_servers=self._bootstrap,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="alert-deliverer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
        if self._http is not None:
            await self._http.aclose()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        if record.value is not None:
                            await self.handle(AlertTick.model_validate_json(record.value))
                if batches:
                    await self._consumer.commit()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store or the broker: nothing committed, the records come back
                log.exception("alert delivery failed; retrying")
                await asyncio.sleep(1.0)

    async def handle(self, tick: AlertTick) -> None:
        """Store the tick's transitions, then deliver its notifications (concurrently)."""
        if tick.transitions:
            await self._warehouse.insert(
                f"{self._database}.{ALERT_EVENTS_TABLE}",
                [
                    {
                        "tenant_id": tick.tenant_id,
                        "rule_id": t.rule_id,
                        "kind": t.kind,
                        "at": ch_datetime64(t.at),
                        "name": t.name,
                        "metric": t.metric,
                        "severity": t.severity,
                        "value": t.value,
                        "threshold": str(t.threshold),
                        "incident": t.incident,
                        "notifications": [
                            n.notification_id
                            for n in tick.notifications
                            if any(i.rule_id == t.rule_id for i in n.items)
                        ],
                        "silenced": int(t.rule_id in tick.silenced),
                    }
                    for t in tick.transitions
                ],
            )
        await asyncio.gather(*(self._deliver(tick.tenant_id, n) for n in tick.notifications))

    async def _delivered(self, notification_id: str) -> bool:
        rows = await self._warehouse.query(
            f"SELECT count() AS n FROM {self._database}.{ALERT_DELIVERIES_TABLE} "
            "WHERE notification_id = {id:String} AND status = 'delivered'",
            {"id": notification_id},
        )
        return bool(int(rows[0]["n"]))

    async def _deliver(self, tenant_id: str, notification: Notification) -> None:
        assert self._http is not None
        if await self._delivered(notification.notification_id):
            return
        error, attempt = "", 0
        for attempt in range(1, self._attempts + 1):
            try:
                await send(notification.channel, tenant_id, notification, self._http, self._smtp)
                error = ""
                break
            except DeliveryError as exc:
                error = str(exc)
                log.warning("notification %s to %s: %s (attempt %d)", notification.notification_id,
                            notification.channel.kind, error, attempt)  # fmt: skip
                if attempt < self._attempts:
                    await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        metrics.ALERT_DELIVERIES.labels(notification.channel.kind, "failed" if error else "delivered").inc()
        await self._warehouse.insert(
            f"{self._database}.{ALERT_DELIVERIES_TABLE}",
            [
                {
                    "tenant_id": tenant_id,
                    "notification_id": notification.notification_id,
                    "channel": notification.channel.kind,
                    "status": "failed" if error else "delivered",
                    "attempts": attempt,
                    "error": error,
                    "at": ch_datetime64(self._clock()),
                    "rule_ids": sorted({i.rule_id for i in notification.items}),
                }
            ],
        )
