"""The outbound guard: addresses checked at connect time (every resolved one, the checked one dialled),
operator-allowed ranges, no redirects, one total deadline, a bounded answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import httpcore
import pytest
from pydantic import ValidationError

from guards.outbound import (
    AddressPolicy,
    OutboundClient,
    OutboundFailed,
    OutboundRefused,
    OutboundSettings,
    OutboundTimeout,
    parse_cidrs,
)

LOOPBACK = "127.0.0.0/8"


class Recording(httpcore.AsyncNetworkBackend):
    """The real backend, recording every (host, port) it is asked to dial."""

    def __init__(self) -> None:
        self.dialled: list[tuple[str, int]] = []
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append((host, port))
        return await self._real.connect_tcp(host, port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


def resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        return table[host]

    return resolve


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def local_server() -> AsyncIterator[Callable[[Handler], Awaitable[tuple[int, list[bytes]]]]]:
    servers: list[asyncio.Server] = []

    async def start(handler: Handler) -> tuple[int, list[bytes]]:
        seen: list[bytes] = []

        async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(await reader.readuntil(b"\r\n\r\n"))
            try:
                await handler(reader, writer)
            finally:
                writer.close()

        server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
        servers.append(server)
        return server.sockets[0].getsockname()[1], seen

    yield start
    for server in servers:
        server.close()


async def answer(status: str, body: bytes = b"ok", extra: str = "") -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n{extra}connection: close\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()

    return handler


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "169.254.169.254", "10.1.2.3", "172.16.5.4", "192.168.0.1", "100.64.0.1", "0.0.0.0",
     "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1%eth0", "fd00::1", "ff02::1",
     "::ffff:127.0.0.1", "::ffff:169.254.169.254", "2002:a00:1::1"],
)  # fmt: skip
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not AddressPolicy().allowed(address)


@pytest.mark.parametrize(
    "address",
    ["fec0::1", "feff::1", "100.127.255.254", "192.0.0.170", "198.18.0.1", "198.19.255.255", "240.1.2.3",
     "0.1.2.3", "64:ff9b:1::a00:1", "64:ff9b::a9fe:a9fe", "192.0.2.7", "2001:db8::1", "100::1"],
)  # fmt: skip
def test_special_purpose_ranges_are_refused_by_the_explicit_list(address: str) -> None:
    assert not AddressPolicy().allowed(address)  # fec0::/10 passed on Python 3.11 before


def test_an_allowed_range_may_be_for_one_port_only() -> None:
    policy = AddressPolicy(parse_cidrs("10.1.0.0/16:443, fd00:1::/32:8443, 127.0.0.0/8"))
    assert policy.allowed("10.1.2.3", 443) and not policy.allowed("10.1.2.3", 80)
    assert policy.allowed("fd00:1::5", 8443) and not policy.allowed("fd00:1::5", 443)
    assert policy.allowed("127.0.0.1", 80) and policy.allowed("127.0.0.1", 443)  # no port: every port
    for bad in ("10.1.0.0/16:0", "10.1.0.0/16:99999", "10.1.0.0/16:https", "10.1.0.0:443"):
        with pytest.raises(ValueError, match="CIDR"):
            parse_cidrs(bad)


def test_public_addresses_pass_and_operator_ranges_are_allowed() -> None:
    assert AddressPolicy().allowed("93.184.216.34") and AddressPolicy().allowed("2606:4700::1111")
    assert AddressPolicy().allowed("::ffff:93.184.216.34")
    allowed = AddressPolicy(parse_cidrs(f"10.1.0.0/16, {LOOPBACK}"))
    assert allowed.allowed("10.1.200.3") and allowed.allowed("127.0.0.2") and allowed.allowed("::ffff:127.0.0.1")
    assert not allowed.allowed("10.2.0.1") and not allowed.allowed("169.254.169.254") and not allowed.allowed("::1")


def test_a_bad_allow_list_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValidationError, match="allow_cidrs"):
        OutboundSettings(allow_cidrs="10.0.0.0/8,not-a-range")
    with pytest.raises(ValidationError, match="deadline_seconds"):
        OutboundSettings(deadline_seconds=0)


@pytest.mark.parametrize(
    ("url", "table"),
    [
        ("http://127.0.0.1:9/x", {"127.0.0.1": ["127.0.0.1"]}),
        ("http://169.254.169.254/latest/meta-data/", {"169.254.169.254": ["169.254.169.254"]}),
        ("http://10.1.2.3:8080/hook", {"10.1.2.3": ["10.1.2.3"]}),
        ("https://rebind.example/hook", {"rebind.example": ["127.0.0.1"]}),
        ("https://mixed.example/hook", {"mixed.example": ["93.184.216.34", "10.0.0.7"]}),
        ("http://[::ffff:127.0.0.1]:9/x", {"::ffff:127.0.0.1": ["::ffff:127.0.0.1"]}),
    ],
)
async def test_refused_at_connect_time_before_any_connection(url: str, table: dict[str, list[str]]) -> None:
    inner = Recording()
    client = OutboundClient(OutboundSettings(), resolver(table), inner)
    try:
        with pytest.raises(OutboundRefused):
            await client.post(url, b"{}", {})
    finally:
        await client.aclose()
    assert inner.dialled == []


async def test_a_name_resolving_to_loopback_is_refused_with_the_system_resolver() -> None:
    inner = Recording()
    client = OutboundClient(OutboundSettings(), inner=inner)
    try:
        with pytest.raises(OutboundRefused):
            await client.post("http://localhost:9/hook", b"{}", {})
    finally:
        await client.aclose()
    assert inner.dialled == []


async def test_the_checked_address_is_dialled_with_the_name_as_host(local_server: Any) -> None:
    port, seen = await local_server(await answer("200 OK"))
    inner = Recording()
    client = OutboundClient(OutboundSettings(allow_cidrs=LOOPBACK), resolver({"hooks.example": ["127.0.0.1"]}), inner)
    try:
        response = await client.post(f"http://hooks.example:{port}/in", b"{}", {"x-a": "1"})
    finally:
        await client.aclose()
    assert (response.status, response.body) == (200, b"ok")
    assert inner.dialled == [("127.0.0.1", port)]  # the address checked, not the name again
    assert f"host: hooks.example:{port}".encode() in seen[0].lower()


async def test_redirects_are_not_followed(local_server: Any) -> None:
    port, seen = await local_server(await answer("302 Found", b"", "location: http://169.254.169.254/\r\n"))
    client = OutboundClient(OutboundSettings(allow_cidrs=LOOPBACK))
    try:
        response = await client.post(f"http://127.0.0.1:{port}/in", b"{}", {})
    finally:
        await client.aclose()
    assert response.status == 302 and len(seen) == 1


async def test_a_drip_feeding_receiver_is_cut_at_the_total_deadline(local_server: Any) -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(60):  # a header byte every 0.2 s: no single read ever waits long
            await asyncio.sleep(0.2)
            writer.write(b"x")
            await writer.drain()

    port, _ = await local_server(drip)
    client = OutboundClient(OutboundSettings(allow_cidrs=LOOPBACK, deadline_seconds=1.0))
    started = time.monotonic()
    try:
        with pytest.raises(OutboundTimeout):
            await client.post(f"http://127.0.0.1:{port}/in", b"{}", {})
    finally:
        await client.aclose()
    assert time.monotonic() - started < 5  # cut at ~1 s, not after the 12 s the drip lasts


async def test_the_answer_is_read_only_up_to_the_limit(local_server: Any) -> None:
    port, _ = await local_server(await answer("200 OK", b"y" * 1_000_000))
    client = OutboundClient(OutboundSettings(allow_cidrs=LOOPBACK, max_response_bytes=1000))
    try:
        response = await client.post(f"http://127.0.0.1:{port}/in", b"{}", {})
    finally:
        await client.aclose()
    assert response.status == 200 and response.body == b"y" * 1000


async def test_a_closed_port_is_a_connection_failure() -> None:
    client = OutboundClient(OutboundSettings(allow_cidrs=LOOPBACK))
    try:
        with pytest.raises(OutboundFailed) as failed:
            await client.post("http://127.0.0.1:9/in", b"{}", {})
    finally:
        await client.aclose()
    assert str(failed.value) == "connection failed"
