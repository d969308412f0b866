"""guards.body: route classes, and the middleware refusing bodies over their limit (pure ASGI, no server)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.types import Message, Receive, Scope, Send

from guards.body import BodyLimitMiddleware, BodyLimits, RouteLimit

LIMITS = BodyLimits(
    (RouteLimit("settings", "/api/dashboard/*/settings", 10), RouteLimit("admin", "/v1/admin/**", 20)), default=30
)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/dashboard/acme/settings", "settings"),
        ("/api/dashboard/acme/settings/", "settings"),
        ("/api/dashboard/acme/x/settings", "other"),
        ("/api/dashboard//settings", "other"),
        ("/v1/admin", "admin"),
        ("/v1/admin/tenants/x", "admin"),
        ("/v1/administrator", "other"),
        ("/v1/events", "other"),
    ],
)
def test_a_path_gets_its_first_matching_route_class(path: str, name: str) -> None:
    assert LIMITS.for_path(path).name == name


class Recorder:
    """An app that reads its whole body, then answers 200 with its length; and what the client got."""

    def __init__(self) -> None:
        self.read = 0
        self.sent: list[Message] = []
        self.pulled = 0

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RuntimeError("client gone")  # what Starlette raises (ClientDisconnect)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.read = len(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})

    async def run(self, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, Any]:
        async def receive() -> Message:
            self.pulled += 1
            index = self.pulled - 1
            return {"type": "http.request", "body": chunks[index], "more_body": index < len(chunks) - 1}

        async def send(message: Message) -> None:
            self.sent.append(message)

        scope = {"type": "http", "method": "PUT", "path": path, "headers": headers}
        await BodyLimitMiddleware(self.app, LIMITS)(scope, receive, send)
        start, body = self.sent
        return start["status"], body["body"]


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    app = Recorder()
    status, body = await app.run("/api/dashboard/a/settings", [(b"content-length", b"11")], [b"x" * 11])
    assert (status, orjson.loads(body)) == (
        413,
        {"error": "request body is larger than 10 bytes, the limit of settings requests"},
    )
    assert app.pulled == 0 and app.read == 0
    assert (b"connection", b"close") in app.sent[0]["headers"]


async def test_a_streamed_body_is_refused_once_past_the_limit() -> None:
    app = Recorder()
    status, body = await app.run("/v1/admin/x", [], [b"x" * 8, b"x" * 8, b"x" * 8, b"x" * 8])
    assert (status, orjson.loads(body)) == (
        413,
        {"error": "request body is larger than 20 bytes, the limit of admin requests"},
    )
    assert app.pulled == 3  # the fourth chunk is never asked for
    assert len(app.sent) == 2  # the app's own answer to the cut body is dropped


async def test_a_lying_content_length_is_counted_too() -> None:
    app = Recorder()
    status, _ = await app.run("/v1/events", [(b"content-length", b"5")], [b"x" * 20, b"x" * 20])
    assert status == 413


async def test_bodies_within_their_limit_pass_whole() -> None:
    app = Recorder()
    assert await app.run("/v1/events", [(b"content-length", b"30")], [b"x" * 10, b"x" * 20]) == (200, b"30")


async def test_a_content_length_that_is_no_number_is_a_400() -> None:
    app = Recorder()
    status, body = await app.run("/v1/events", [(b"content-length", b"-1")], [b""])
    assert (status, orjson.loads(body)) == (400, {"error": "Content-Length is not a number"})
