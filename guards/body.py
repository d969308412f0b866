"""Request body limits, enforced while the body is read: before authentication and before any parsing.

A pure ASGI middleware (it never buffers a body): a request whose Content-Length is over its route's
limit is answered 413 at once, without reading a byte of the body; a body without Content-Length
(chunked), or longer than it declared, is counted as it streams in and answered 413 as soon as it
passes the limit. The 413 names the limit and closes the connection, so the rest is never read.

Each app declares its route classes once (`BodyLimits`); every route not listed gets the default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

KIB = 1024


class BodyLimitSettings(BaseSettings):
    """Body limits of the routes that are not ingest routes (those use the ingest settings), both roles."""

    model_config = SettingsConfigDict(env_prefix="TALLY_BODY_LIMIT_", extra="ignore")

    admin_bytes: int = Field(default=64 * KIB, ge=KIB)
    """Largest body of an admin or settings route (tenants, keys, a tenant's settings and channels)."""
    default_bytes: int = Field(default=64 * KIB, ge=KIB)
    """Largest body of every other route (alert rules, and routes that take no body at all)."""


@dataclass(frozen=True, slots=True)
class RouteLimit:
    """Requests whose path matches `pattern` may send at most `limit` body bytes (as sent, compressed).

    `pattern` is a path where `*` stands for one segment and a trailing `/**` for any rest (or none).
    """

    name: str
    """The route class, named in the 413 (`admin`, `events` ...)."""
    pattern: str
    limit: int
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", _compile(self.pattern))


def _compile(pattern: str) -> re.Pattern[str]:
    rest = pattern.endswith("/**")
    parts = (pattern[:-3] if rest else pattern).split("/")
    body = "/".join("[^/]+" if part == "*" else re.escape(part) for part in parts)
    return re.compile(body + ("(?:/.*)?" if rest else "/?") + r"\Z")


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """An app's route classes, first match wins, and the limit of every other route."""

    routes: Sequence[RouteLimit]
    default: int

    def for_path(self, path: str) -> RouteLimit:
        for route in self.routes:
            if route.regex.match(path):
                return route
        return RouteLimit("other", "/**", self.default)


def _error(status: int, message: str) -> tuple[Message, Message]:
    body = orjson.dumps({"error": message})
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),  # the rest of the body is never read
        ],
    }
    return start, {"type": "http.response.body", "body": body}


def too_large(route: RouteLimit) -> str:
    return f"request body is larger than {route.limit} bytes, the limit of {route.name} requests"


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length; None when absent; ValueError when not a number."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            if not text.isdigit():
                raise ValueError(text)
            return int(text)
    return None


class BodyLimitMiddleware:
    """Refuses (413) bodies over their route's limit, before the app reads or parses them.

    `on_refused` is told the route class of each refusal (for metrics).
    """

    def __init__(
        self, app: ASGIApp, limits: BodyLimits, on_refused: Callable[[RouteLimit], None] | None = None
    ) -> None:
        self.app = app
        self.limits = limits
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self.limits.for_path(scope.get("path", ""))
        try:
            declared = declared_length(scope)
        except ValueError:
            for message in _error(400, "Content-Length is not a number"):
                await send(message)
            return
        if declared is not None and declared > route.limit:
            await self._refuse(route, send)
            return
        guard = _Guard(self, route, receive, send)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            if not guard.refused:
                raise
            # the app failed on the body cut short at the limit; the client already has its 413

    async def _refuse(self, route: RouteLimit, send: Send) -> None:
        if self.on_refused is not None:
            self.on_refused(route)
        for message in _error(413, too_large(route)):
            await send(message)


class _Guard:
    """One request's body count: the app reads through `receive` and answers through `send`."""

    def __init__(self, middleware: BodyLimitMiddleware, route: RouteLimit, receive: Receive, send: Send) -> None:
        self._middleware = middleware
        self._route = route
        self._receive = receive
        self._send = send
        self.received = 0
        self.started = False
        self.cut = False
        """The body passed the limit: the app reads a disconnect from there on."""
        self.refused = False
        """The 413 was sent (the app had not started answering)."""

    async def receive(self) -> Message:
        if self.cut:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self._route.limit:
                self.cut = True
                if not self.started:  # else the app is already answering: it only sees the disconnect
                    self.refused = True
                    await self._middleware._refuse(self._route, self._send)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the app's answer to a body cut short: the client has the 413 instead
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)
