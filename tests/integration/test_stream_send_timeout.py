"""A live stream or CSV export whose client stops reading does not hold its tenant slot forever: each
send waits at most the send timeout, then the response is aborted and the slot freed (real HTTP)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

from fastapi import FastAPI

from tests.live import free_port, serve
from views_api.limits import Slots, SlotStreamingResponse

CHUNK = b"x" * 65536


def _app(slots: Slots, sent: list[int]) -> FastAPI:
    app = FastAPI()

    @app.get("/export")
    async def export() -> SlotStreamingResponse:
        async def endless() -> AsyncIterator[bytes]:
            while True:  # an export of ever more rows
                sent[0] += len(CHUNK)
                yield CHUNK

        return SlotStreamingResponse(endless(), slots.acquire("acme"), send_timeout=1.0, media_type="text/csv")

    return app


async def test_a_client_that_stops_reading_loses_its_export_and_frees_the_slot() -> None:
    slots = Slots("CSV exports", "exports_per_tenant", 1)
    sent = [0]
    with serve(_app(slots, sent), free_port()) as url:
        port = int(url.rsplit(":", 1)[1])
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        try:
            sock.sendall(b"GET /export HTTP/1.1\r\nhost: x\r\n\r\n")
            assert sock.recv(16).startswith(b"HTTP/1.1 200")  # then it reads nothing more
            for _ in range(300):
                if slots.open("acme") == 0:
                    break
                await asyncio.sleep(0.1)
            held = slots.open("acme")
            stalled_at = sent[0]
            await asyncio.sleep(1.5)
        finally:
            sock.close()
    assert held == 0  # before: the slot stayed taken for as long as the client kept the connection open
    assert sent[0] == stalled_at  # the export stopped producing
    assert stalled_at < 64 * 1024 * 1024  # only what the socket buffers took was produced
