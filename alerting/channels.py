"""Delivering notifications: webhook (signed JSON), Slack incoming webhook, PagerDuty Events v2, email.

Payloads are built by pure functions (tested as values); `send` posts them through the guarded
outbound client (guards.outbound: tenant URLs never reach internal addresses) or mails them, and
raises `DeliveryError` on any failure (the caller retries) whose message is one of `CATEGORIES`,
never the peer's or an exception's text. Every HTTP request carries
`X-Tally-Notification-Id`, so a receiver can drop the rare repeat a crash between sending and
recording can cause; PagerDuty deduplicates by the incident id itself (`dedup_key`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import smtplib
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Final

import orjson
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from guards.outbound import OutboundClient, OutboundError, OutboundRefused, OutboundTimeout
from schemas.alert_fields import CONTROL
from schemas.alerts import (
    Channel,
    EmailChannel,
    Notification,
    PagerDutyChannel,
    SlackChannel,
    Transition,
    WebhookChannel,
)

SIGNATURE_HEADER = "X-Tally-Signature"
ID_HEADER = "X-Tally-Notification-Id"


CATEGORIES: Final = (
    "refused",  # the address is not allowed (TALLY_OUTBOUND_ALLOW_CIDRS); nothing was sent
    "timeout",
    "HTTP 3xx",  # redirects are not followed
    "HTTP 4xx",
    "HTTP 5xx",
    "connection failed",
    "no SMTP server",
    "SMTP failed",
    "invalid message",
    "channel gone",  # the saved channel a notification refers to was changed or deleted
    "tenant notification budget exceeded",  # TALLY_ALERT_NOTIFICATIONS_PER_MINUTE: not sent
    "unsigned record",  # an alert-state record without a valid signature: nothing of it is sent
    "internal error",
)
"""How a delivery failed, as the history and test sends report it (never more: no port scanning)."""


class DeliveryError(RuntimeError):
    """A notification could not be delivered; the message is one of `CATEGORIES`."""

    def __init__(self, category: str) -> None:
        assert category in CATEGORIES, category
        super().__init__(category)
        self.category = category


class SmtpEnv(BaseSettings):
    """The SMTP server of email channels, from `TALLY_SMTP_HOST`, `_PORT`, `_SENDER`, `_STARTTLS`, `_SSL`,
    `_USERNAME`, `_PASSWORD` (the password is never logged)."""

    model_config = SettingsConfigDict(env_prefix="TALLY_SMTP_", extra="ignore")

    host: str | None = None
    port: int = 25
    sender: str = "tallystream@localhost"
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: SecretStr | None = None

    def settings(self) -> SmtpSettings | None:
        if self.host is None:
            return None
        secret = self.password.get_secret_value() if self.password else None
        return SmtpSettings(self.host, self.port, self.sender, self.starttls, self.ssl, self.username, secret)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    sender: str = "tallystream@localhost"
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The webhook signature header value: `t=<unix>,v1=<hex HMAC-SHA256 of "<unix>." + body>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance: int = 300) -> bool:
    """Check a signature header as a receiver would (constant time, timestamp within `tolerance`)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(expected, parts.get("v1", ""))


def headline(item: Transition) -> str:
    """One line for a transition: '[FIRING] High daily cost: cost 61.2 > 50 (tenant acme)'."""
    verb = {"firing": "FIRING", "reminder": "STILL FIRING", "resolved": "RESOLVED"}.get(item.kind, item.kind.upper())
    value = "no data" if item.value is None else f"{item.value:.6g}"
    return header_text(f"[{verb}] {item.name}: {item.metric} {value} (threshold {item.threshold:f}, {item.severity})")


def webhook_body(tenant_id: str, notification: Notification, sent_at: int) -> bytes:
    items = [item.model_dump(mode="json") for item in notification.items]
    return orjson.dumps(
        {"notification_id": notification.notification_id, "tenant_id": tenant_id, "sent_at": sent_at, "alerts": items}
    )


def slack_body(tenant_id: str, notification: Notification) -> dict[str, Any]:
    lines = [headline(i) for i in notification.items]
    return {
        "text": f"tallystream: {len(lines)} alert update(s) for {tenant_id}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(f"• {line}" for line in lines)}}],
    }


def pagerduty_events(channel: PagerDutyChannel, tenant_id: str, notification: Notification) -> list[dict[str, Any]]:
    """One Events v2 event per transition: trigger (firing, reminder) or resolve, deduplicated by incident."""
    severity = {"critical": "critical", "warning": "warning", "info": "info"}
    return [
        {
            "routing_key": channel.routing_key,
            "event_action": "resolve" if item.kind == "resolved" else "trigger",
            "dedup_key": item.incident,
            "payload": {
                "summary": headline(item)[:1024],
                "source": f"tallystream/{tenant_id}",
                "severity": severity[item.severity],
                "custom_details": item.model_dump(mode="json"),
            },
        }
        for item in notification.items
    ]


def header_text(text: str) -> str:
    """A header value without control characters (they would end or forge the header)."""
    return CONTROL.sub(" ", text)


def email_message(channel: EmailChannel, sender: str, tenant_id: str, notification: Notification) -> EmailMessage:
    """The mail of a notification; never raises on the text it carries (control characters become spaces)."""
    message = EmailMessage()
    first = notification.items[0]
    more = f" (+{len(notification.items) - 1} more)" if len(notification.items) > 1 else ""
    message["Subject"] = header_text(f"{headline(first)}{more} — {tenant_id}")
    message["From"] = header_text(sender)
    message["To"] = header_text(", ".join(channel.to))
    message["X-Tally-Notification-Id"] = header_text(notification.notification_id)
    message.set_content(
        "\n".join(headline(i) for i in notification.items) + f"\n\nnotification {notification.notification_id}\n"
    )
    return message


_SMTP_THREADS = ThreadPoolExecutor(32, thread_name_prefix="alert-smtp")
"""Mail goes out on its own threads (each send at most 10 s per step), never the loop's default pool."""


def cost(channel_kind: str, notification: Notification) -> int:
    """What a notification costs of its tenant's budget: the requests it makes (PagerDuty: one per event)."""
    return len(notification.items) if channel_kind == "pagerduty" else 1


def _smtp_send(settings: SmtpSettings, message: EmailMessage) -> None:
    context = ssl.create_default_context()
    smtp_class = smtplib.SMTP_SSL if settings.ssl else smtplib.SMTP
    kwargs: dict[str, Any] = {"context": context} if settings.ssl else {}
    with smtp_class(settings.host, settings.port, timeout=10, **kwargs) as smtp:
        if settings.starttls:
            smtp.starttls(context=context)
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        smtp.send_message(message)


async def _post(http: OutboundClient, url: str, body: bytes, headers: dict[str, str], owner: str) -> None:
    try:
        response = await http.post(url, body, {"content-type": "application/json", **headers}, owner=owner)
    except OutboundRefused as exc:
        raise DeliveryError("refused") from exc
    except OutboundTimeout as exc:
        raise DeliveryError("timeout") from exc
    except OutboundError as exc:
        raise DeliveryError("connection failed") from exc
    klass = response.status // 100
    if klass != 2:
        raise DeliveryError(f"HTTP {min(max(klass, 3), 5)}xx")


async def send(
    channel: Channel, tenant_id: str, notification: Notification, http: OutboundClient, smtp: SmtpSettings | None
) -> None:
    """Deliver one notification to one channel, or raise DeliveryError."""
    ident = {ID_HEADER: notification.notification_id}
    if isinstance(channel, WebhookChannel):
        now = int(time.time())
        body = webhook_body(tenant_id, notification, now)
        signed = {SIGNATURE_HEADER: sign(channel.secret, now, body), **ident}
        await _post(http, channel.url, body, signed, tenant_id)
    elif isinstance(channel, SlackChannel):
        await _post(http, channel.webhook_url, orjson.dumps(slack_body(tenant_id, notification)), ident, tenant_id)
    elif isinstance(channel, PagerDutyChannel):
        for event in pagerduty_events(channel, tenant_id, notification):
            await _post(http, channel.url, orjson.dumps(event), ident, tenant_id)
    else:
        if smtp is None:
            raise DeliveryError("no SMTP server")
        try:
            message = email_message(channel, smtp.sender, tenant_id, notification)
        except (ValueError, TypeError) as exc:
            raise DeliveryError("invalid message") from exc
        try:
            await asyncio.get_running_loop().run_in_executor(_SMTP_THREADS, _smtp_send, smtp, message)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError("SMTP failed") from exc
