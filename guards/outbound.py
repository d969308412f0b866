"""The one HTTP client for tenant-supplied URLs (alert channels now; scheduled reports and gateway
webhooks later): no request reaches an address the operator did not allow.

- Every address a host name resolves to is checked when the connection is made, and the connection
  goes to that checked address (the host name is kept for the Host header and TLS SNI), so a DNS
  answer that changes between check and connect (rebinding) cannot swap it. Refused: loopback,
  link-local, private, shared (100.64/10), unique-local, multicast, unspecified, reserved and any
  other non-global address, IPv4-mapped / 6to4 / Teredo IPv6 forms of them included — unless inside
  `TALLY_OUTBOUND_ALLOW_CIDRS` (e.g. "10.1.0.0/16,127.0.0.0/8").
- No redirects, no proxies from the environment, no cookies kept.
- One total deadline per request (`TALLY_OUTBOUND_DEADLINE_SECONDS`, connect to last body byte), so
  a receiver that drips a byte at a time is cut; at most `TALLY_OUTBOUND_MAX_RESPONSE_BYTES` of the
  answer are read.

Failures are one of three exceptions (`OutboundRefused`, `OutboundTimeout`, `OutboundFailed`) whose
messages never carry the peer's text, so callers can report a category and nothing more.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import certifi
import httpcore
import httpx
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]


class OutboundError(Exception):
    """A request to a tenant-supplied URL did not get an answer (the message is a fixed category)."""


class OutboundRefused(OutboundError):
    """The destination address is not allowed (nothing was sent to it)."""


class OutboundTimeout(OutboundError):
    """The request did not finish within its deadline."""


class OutboundFailed(OutboundError):
    """The connection failed (name not resolved, refused, reset, TLS, protocol)."""


def parse_cidrs(text: str) -> tuple[Network, ...]:
    """'10.1.0.0/16, 127.0.0.0/8' -> networks (ValueError naming the bad entry)."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError as exc:
            raise ValueError(f"not a CIDR range: {part!r}") from exc
    return tuple(out)


class OutboundSettings(BaseSettings):
    """Operator settings of outbound requests, from `TALLY_OUTBOUND_*`."""

    model_config = SettingsConfigDict(env_prefix="TALLY_OUTBOUND_", extra="ignore")

    allow_cidrs: str = ""
    """Comma-separated ranges allowed although not public (e.g. an internal webhook relay)."""
    deadline_seconds: float = 10.0
    """Total time of one request: resolving, connecting, sending, and reading the answer."""
    max_response_bytes: int = 65_536

    @field_validator("allow_cidrs")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        parse_cidrs(value)
        return value

    @field_validator("deadline_seconds")
    @classmethod
    def _deadline(cls, value: float) -> float:
        if not 0 < value <= 300:
            raise ValueError("must be within (0, 300] seconds")
        return value


def _embedded(ip: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address an IPv6 form carries (mapped, 6to4, Teredo)."""
    found: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            found.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            found.append(ip.sixtofour)
        if ip.teredo is not None:
            found.extend(ip.teredo)
    return found


def _public(ip: IPAddress) -> bool:
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local)


@dataclass(frozen=True)
class AddressPolicy:
    allow: tuple[Network, ...] = ()

    def allowed(self, address: str) -> bool:
        """Whether a connection to this literal address may be made."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip.version == net.version and ip in net for net in self.allow):
            return True
        return all(_public(a) for a in _embedded(ip))


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked addresses."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._policy = policy
        self._resolve = resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self._resolve(host.strip("[]"), port)
        except OSError as exc:
            raise OutboundFailed("connection failed") from exc
        if not addresses or not all(self._policy.allowed(a) for a in addresses):
            raise OutboundRefused("refused")
        failure: Exception | None = None
        for address in addresses:  # the checked addresses themselves, never the name again
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                failure = exc
        raise OutboundFailed("connection failed") from failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise OutboundRefused("refused")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose every connection goes through `GuardedBackend`."""

    def __init__(self, backend: GuardedBackend) -> None:
        super().__init__(trust_env=False, retries=0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=backend,
        )


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    body: bytes
    """At most `max_response_bytes` of it."""


class OutboundClient:
    """POSTs to tenant-supplied URLs under the guard; one per process (it pools connections)."""

    def __init__(
        self,
        settings: OutboundSettings | None = None,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.settings = settings or OutboundSettings()
        policy = AddressPolicy(parse_cidrs(self.settings.allow_cidrs))
        transport = GuardedTransport(GuardedBackend(policy, resolver, inner))
        self._http = httpx.AsyncClient(
            transport=transport, follow_redirects=False, trust_env=False, timeout=self.settings.deadline_seconds
        )

    async def post(self, url: str, content: bytes, headers: Mapping[str, str]) -> OutboundResponse:
        """POST `content`; the answer's status and the first bytes of its body, or an OutboundError."""
        limit = self.settings.max_response_bytes
        try:
            async with asyncio.timeout(self.settings.deadline_seconds):
                async with self._http.stream("POST", url, content=content, headers=dict(headers)) as response:
                    body = b""
                    async for chunk in response.aiter_raw():
                        body += chunk[: limit - len(body)]
                        if len(body) >= limit:
                            break
                    return OutboundResponse(response.status_code, body)
        except OutboundError:
            raise
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise OutboundTimeout("timeout") from exc
        except (httpx.HTTPError, httpx.InvalidURL, OSError, ssl.SSLError, ValueError) as exc:
            if isinstance(exc.__cause__, OutboundError):
                raise exc.__cause__ from None
            raise OutboundFailed("connection failed") from exc

    async def aclose(self) -> None:
        await self._http.aclose()
