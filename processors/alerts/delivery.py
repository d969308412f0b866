"""Handling one alert-state record: store its transitions, deliver each notification, record each outcome.

`TickHandler.handle_record` returns only once the record is finished, and raises nothing but
cancellation: storing is retried in place (with capped backoff) until it succeeds, a record that does
not parse is retried in place too (a newer writer's format: the code that reads it is coming) after
being recorded once as failed, and a notification is attempted `attempts` times — any exception
counts as a failed attempt — then recorded as `failed` with its category (alerting.channels.CATEGORIES)
in `alert_deliveries` and counted. Nothing is skipped silently. A notification refers to a saved
channel (`ChannelRef`); it is looked up in this process's rule book at each attempt, so a follower a
moment behind the engine catches up, and a channel changed or deleted since is `channel gone`.

Hostile tenants (alerting.limits): a record must carry the engine's signature (tenancy.signing, the
`tally-sig` header over topic, key and value) or nothing of it is stored or sent — it is recorded
once as `unsigned record`, counted and logged without its content; each tenant has a notification
budget per minute (past it: recorded as failed, `tenant notification budget exceeded`, counted, not
sent — not deferred, so one tenant's backlog never holds back its later ticks nor the offsets) and
at most `concurrent_sends` sends in flight (a tenant's ticks are handled one at a time, by its lane).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from alerting.channels import DeliveryError, SmtpSettings, cost, send
from alerting.limits import AlertLimits, alert_limits
from alerting.rulebook import RuleBook
from guards.outbound import OutboundClient
from guards.ratelimit import RateLimiter
from processors import metrics
from schemas.alerts import AlertTick, Channel, Notification
from schemas.ddl import ch_datetime64
from schemas.ddl_alerts import ALERT_DELIVERIES_TABLE, ALERT_EVENTS_TABLE
from storage import Warehouse
from tenancy.signing import verify

log = logging.getLogger(__name__)

T = TypeVar("T")
Send = Callable[[Channel, str, Notification, OutboundClient, SmtpSettings | None], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]


class TickHandler:
    def __init__(
        self,
        warehouse: Warehouse,
        database: str,
        book: RuleBook,
        http: OutboundClient,
        smtp: SmtpSettings | None = None,
        *,
        topic: str,
        signing_key: bytes,
        limits: AlertLimits | None = None,
        attempts: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sender: Send = send,
        sleep: Sleep = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._warehouse, self._database, self._book, self._http = warehouse, database, book, http
        self._smtp, self._attempts, self._backoff, self._max_backoff = smtp, attempts, backoff, max_backoff
        self._clock, self._send, self._sleep, self._monotonic = clock, sender, sleep, monotonic
        self._topic, self._key = topic, signing_key
        self.limits = limits or alert_limits()
        self._budget = RateLimiter(burst_seconds=60.0)

    def _pause(self, attempt: int) -> float:
        return float(min(self._max_backoff, self._backoff * 2 ** (attempt - 1)))

    async def _until_done(self, stage: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work` until it succeeds (the store or the broker: transient), backing off."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await work()
            except asyncio.CancelledError:
                raise
            except Exception:
                metrics.ALERT_TICK_RETRIES.labels(stage).inc()
                log.warning("alert delivery: %s failed (attempt %d); retrying in place", stage, attempt, exc_info=True)
                await self._sleep(self._pause(attempt))

    async def handle_record(self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> None:
        """Finish one record of the alert-state topic (see the module's docstring)."""
        if value is None:
            return
        if not verify(self._key, self._topic, key, value, headers):
            metrics.ALERT_DELIVERY_FAILURES.labels("-", "unsigned record").inc()
            log.warning("refused a record of %s: not signed with the signing key (nothing of it sent)", self._topic)
            tenant = (key or b"").decode(errors="replace")[:64]
            await self._record(
                tenant, f"unsigned-{hashlib.sha256(value).hexdigest()[:24]}", "-", "unsigned record", 0, []
            )
            return
        attempt = 0
        while True:
            attempt += 1
            try:
                tick = AlertTick.model_validate_json(value)
                break
            except ValueError:
                metrics.ALERT_TICK_RETRIES.labels("parse").inc()
                log.error("alert-state record of %r does not parse (attempt %d); retrying in place", key, attempt)
                if attempt == 1:
                    await self._record(
                        (key or b"").decode(errors="replace")[:64],
                        f"unreadable-{hashlib.sha256(value).hexdigest()[:24]}",
                        "-",
                        "internal error",
                        0,
                        [],
                    )
                await self._sleep(self._pause(attempt))
        await self.handle(tick)

    async def handle(self, tick: AlertTick) -> None:
        """Store the tick's transitions, then deliver its notifications (concurrently)."""
        if tick.transitions:
            rows = _event_rows(tick)
            await self._until_done(
                "store", lambda: self._warehouse.insert(f"{self._database}.{ALERT_EVENTS_TABLE}", rows)
            )
        sends = asyncio.Semaphore(self.limits.concurrent_sends)  # the tenant's ticks come one at a time
        await asyncio.gather(*(self._deliver(tick.tenant_id, n, sends) for n in tick.notifications))

    def _within_budget(self, tenant_id: str, notification: Notification) -> bool:
        rate = self.limits.notifications_per_minute / 60.0
        units = min(cost(notification.channel.kind, notification), int(self._budget.capacity(rate)))
        return self._budget.take(tenant_id, units, rate, self._monotonic()) is None

    async def _delivered(self, notification_id: str) -> bool:
        rows = await self._warehouse.query(
            f"SELECT count() AS n FROM {self._database}.{ALERT_DELIVERIES_TABLE} "
            "WHERE notification_id = {id:String} AND status = 'delivered'",
            {"id": notification_id},
        )
        return bool(int(rows[0]["n"]))

    async def _deliver(self, tenant_id: str, notification: Notification, sends: asyncio.Semaphore) -> None:
        if await self._until_done("lookup", lambda: self._delivered(notification.notification_id)):
            return
        error, attempt = "", 0
        if not self._within_budget(tenant_id, notification):
            error = "tenant notification budget exceeded"
            log.warning("notification %s of %s: tenant notification budget exceeded (not sent)",
                        notification.notification_id, tenant_id)  # fmt: skip
        attempts = 0 if error else self._attempts  # over budget: recorded as failed, nothing sent
        for attempt in range(1, attempts + 1):
            channel = self._book.resolve(tenant_id, notification.channel)
            try:
                if channel is None:
                    raise DeliveryError("channel gone")
                async with sends:
                    await self._send(channel, tenant_id, notification, self._http, self._smtp)
                error = ""
                break
            except asyncio.CancelledError:
                raise
            except DeliveryError as exc:
                error = exc.category
            except Exception:  # a bug must not lose the notification: it is one more failed attempt
                log.exception("notification %s: unexpected error", notification.notification_id)
                error = "internal error"
            log.warning("notification %s to %s: %s (attempt %d)", notification.notification_id,
                        notification.channel.kind, error, attempt)  # fmt: skip
            if not notification.channel.id:
                break  # written before channel references: nothing to look up, however long we wait
            if attempt < self._attempts:
                await self._sleep(self._pause(attempt))
        kind = notification.channel.kind
        metrics.ALERT_DELIVERIES.labels(kind, "failed" if error else "delivered").inc()
        if error:
            metrics.ALERT_DELIVERY_FAILURES.labels(kind, error).inc()
        rule_ids = sorted({i.rule_id for i in notification.items})
        await self._record(tenant_id, notification.notification_id, kind, error, attempt, rule_ids)

    async def _record(
        self, tenant_id: str, notification_id: str, channel: str, error: str, attempts: int, rule_ids: list[str]
    ) -> None:
        row = {
            "tenant_id": tenant_id,
            "notification_id": notification_id,
            "channel": channel,
            "status": "failed" if error else "delivered",
            "attempts": attempts,
            "error": error,
            "at": ch_datetime64(self._clock()),
            "rule_ids": rule_ids,
        }
        table = f"{self._database}.{ALERT_DELIVERIES_TABLE}"
        await self._until_done("record", lambda: self._warehouse.insert(table, [row]))


def _event_rows(tick: AlertTick) -> list[dict[str, Any]]:
    return [
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
                n.notification_id for n in tick.notifications if any(i.rule_id == t.rule_id for i in n.items)
            ],
            "silenced": int(t.rule_id in tick.silenced),
        }
        for t in tick.transitions
    ]
