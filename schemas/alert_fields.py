"""Field types of alert rules and channels that a tenant writes: plain text without control
characters, target URLs checked in full, e-mail addresses, channel ids, and how a URL is masked for
reading (channel secrets are write-only: `schemas.alerts`)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Final
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
"""Characters that end or forge a header line: refused in what tenants write, replaced in what is sent."""


def no_control(value: str) -> str:
    """Refuse control characters (newlines included): names and addresses end up in mail headers."""
    if CONTROL.search(value):
        raise ValueError("control characters (newlines, tabs, NUL ...) are not allowed")
    return value


PlainText = Annotated[str, StringConstraints(max_length=256), AfterValidator(no_control)]
"""Text shown in notifications (subject lines, headers): no control characters."""
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
MIN_REPEAT_SECONDS: Final = 300
"""Reminders come at most this often (`repeat_seconds` is 0: never, or at least this)."""


def _valid_host(host: str) -> bool:
    """An IP address (IPv6 without a zone) or a DNS name of valid labels (IDN allowed)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return False
    labels = ascii_host.removesuffix(".").split(".")
    return len(ascii_host) <= 253 and all(_LABEL.match(label) for label in labels)


def target_url(value: str) -> str:
    """A URL a channel may be saved with: http(s), a valid host, a port in 1..65535 if any, no
    user info, no whitespace (ValueError saying which)."""
    if any(c.isspace() for c in value):
        raise ValueError("whitespace is not allowed in a URL")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("the URL must start with http:// or https://")
    if "@" in parts.netloc:
        raise ValueError("user info (user:password@) is not allowed in the URL")
    if not parts.hostname or not _valid_host(parts.hostname):
        raise ValueError("the URL needs a valid host name or IP address")
    if "%" in parts.hostname:
        raise ValueError("IPv6 zone ids are not allowed in the URL")
    if (port is not None and not 1 <= port <= 65535) or parts.netloc.endswith(":"):
        raise ValueError("the port must be within 1..65535")
    return value


HttpUrl = Annotated[str, Field(max_length=2048, pattern=r"^https?://[^\s]+$"), AfterValidator(no_control)]
"""A URL as saved (records already on the topic are read with it: reads must never fail on them)."""
TargetUrl = Annotated[HttpUrl, AfterValidator(target_url)]
"""A URL as clients send it (checked in full: a bad one is a 422 naming the field)."""
Email = Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$"), AfterValidator(no_control)]
ChannelId = Annotated[str, Field(pattern=r"^ch_[0-9a-f]{12}$")]
"""Set by the server when a channel is saved; a rule or PUT refers to a saved channel by it."""
NewChannelId = Annotated[str, Field(pattern=r"^(ch_[0-9a-f]{12})?$")]
"""Empty in a new channel a client sends (the server assigns one)."""


def mask_url(url: str) -> str:
    """'https://hooks.slack.com/services/T0/B0/XyZ9abcd' -> 'https://hooks.slack.com/…abcd'; never
    raises (a URL saved before URLs were checked in full shows as 'invalid URL …abcd')."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return f"invalid URL …{url[-4:]}"
    return f"{parts.scheme}://{parts.hostname or ''}{port}/…{url[-4:]}"


def url_host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return "invalid URL"
