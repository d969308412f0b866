"""The one HTTP client for tenant-supplied URLs (alert channels now; scheduled reports and gateway
webhooks later): no request reaches an address the operator did not allow.

- Every address a host name resolves to is checked when the connection is made, and the connection
  goes to that checked address (the host name is kept for the Host header and TLS SNI), so a DNS
  answer that changes between check and connect (rebinding) cannot swap it. Refused: loopback,
  link-local, private, shared (100.64/10), unique-local, multicast, unspecified, reserved and any
  other non-global address, IPv4-mapped / 6to4 / Teredo IPv6 forms of them included — unless inside
  `TALLY_OUTBOUND_ALLOW_CIDRS` (e.g. "10.1.0.0/16:443,127.0.0.0/8": a range, optionally for one
  port). Special-purpose ranges are refused by an explicit list too (`DENIED`: fec0::/10, 198.18/15,
  240/4, NAT64 ...), whatever this Python's `ipaddress` thinks of them.
- No redirects, no proxies from the environment, no cookies kept.
- One total deadline per request (`TALLY_OUTBOUND_DEADLINE_SECONDS`, connect to last body byte), so
  a receiver that drips a byte at a time is cut; at most `TALLY_OUTBOUND_MAX_RESPONSE_BYTES` of the
  answer are read.

Failures are one of three exceptions (`OutboundRefused`, `OutboundTimeout`, `OutboundFailed`) whose
messages never carry the peer's text, so callers can report a category and nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Final

import certifi
import httpcore
import httpx
from pydantic import Field, field_validator
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


DENIED: Final[tuple[Network, ...]] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32",
        "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
"""Refused whatever the `ipaddress` properties of this Python say (they changed between versions:
3.11 calls the deprecated site-local fec0::/10 global): special-purpose ranges (RFC 6890 and after)."""


@dataclass(frozen=True)
class AllowedRange:
    """An operator-allowed range, optionally for one port only ('10.1.0.0/16:443')."""

    network: Network
    port: int | None = None

    def admits(self, ip: IPAddress, port: int | None) -> bool:
        return ip.version == self.network.version and ip in self.network and self.port in (None, port)


def parse_cidrs(text: str) -> tuple[AllowedRange, ...]:
    """'10.1.0.0/16:443, 127.0.0.0/8' -> ranges (ValueError naming the bad entry)."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        address, slash, rest = part.partition("/")
        prefix, colon, port_text = rest.partition(":")
        try:
            port = int(port_text) if colon else None
            if port is not None and not 1 <= port <= 65535:
                raise ValueError(port)
            out.append(AllowedRange(ipaddress.ip_network(address + slash + prefix, strict=False), port))
        except ValueError as exc:
            raise ValueError(f"not a CIDR range (with an optional :port): {part!r}") from exc
    return tuple(out)


class OutboundSettings(BaseSettings):
    """Operator settings of outbound requests, from `TALLY_OUTBOUND_*`."""

    model_config = SettingsConfigDict(env_prefix="TALLY_OUTBOUND_", extra="ignore")

    allow_cidrs: str = ""
    """Comma-separated ranges allowed although not public (e.g. an internal webhook relay), each
    optionally for one port only: "10.1.0.0/16:443,127.0.0.0/8"."""
    deadline_seconds: float = 10.0
    """Total time of one request: resolving, connecting, sending, and reading the answer."""
    max_response_bytes: int = 65_536
    resolve_seconds: float = Field(5.0, gt=0, le=300)
    """Longest wait for a host name's addresses (within the deadline)."""
    resolver_threads: int = Field(64, ge=1, le=1024)
    """Threads of the host-name lookups (their own, never the event loop's default pool)."""
    lookups_per_owner: int = Field(2, ge=1, le=64)
    """Lookups of one tenant at a time (a DNS server that never answers holds these, no more)."""

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
    if any(ip.version == net.version and ip in net for net in DENIED):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local)


@dataclass(frozen=True)
class AddressPolicy:
    allow: tuple[AllowedRange, ...] = ()

    def allowed(self, address: str, port: int | None = None) -> bool:
        """Whether a connection to this literal address (and port) may be made."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(entry.admits(ip, port) for entry in self.allow):
            return True
        return all(_public(a) for a in _embedded(ip))


_OWNER: ContextVar[str] = ContextVar("outbound_owner", default="")
"""Whose request this is (a tenant): lookups are bounded per owner."""


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is waiting any more
        loop.call_soon_threadsafe(callback, *args)


class SystemResolver:
    """The system's getaddrinfo on this resolver's own threads (never the event loop's default pool),
    at most `per_owner` lookups of one owner at a time. A lookup that hangs keeps its thread until the
    system resolver gives up, and its owner's slot with it: a tenant whose DNS never answers blocks
    its own lookups only, while fewer than `threads / per_owner` owners hang at once."""

    def __init__(self, threads: int = 64, per_owner: int = 2) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="outbound-dns")
        self._per_owner = per_owner
        self._owners: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}
        """owner -> (its slots, [lookups holding or waiting for one])"""

    async def __call__(self, host: str, port: int) -> list[str]:
        owner = _OWNER.get()
        slots, users = self._owners.setdefault(owner, (asyncio.Semaphore(self._per_owner), [0]))
        users[0] += 1
        try:
            await slots.acquire()
        except BaseException:
            self._release(owner, None)
            raise
        loop = asyncio.get_running_loop()
        try:
            job = self._pool.submit(socket.getaddrinfo, host, port, 0, socket.SOCK_STREAM)
        except BaseException:
            self._release(owner, slots)
            raise
        # the slot is free again when the thread is (not when the waiter gives up on it)
        job.add_done_callback(lambda _: _call_soon(loop, self._release, owner, slots))
        infos = await asyncio.wrap_future(job)
        return list(dict.fromkeys(str(info[4][0]) for info in infos))

    def _release(self, owner: str, slots: asyncio.Semaphore | None) -> None:
        if slots is not None:
            slots.release()
        users = self._owners[owner][1]
        users[0] -= 1
        if users[0] == 0:
            del self._owners[owner]  # nothing in progress: forget the owner (bounded memory)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to checked addresses."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
        resolve_seconds: float = 5.0,
    ) -> None:
        self._policy = policy
        self._resolve = resolver
        self._inner = inner or httpcore.AnyIOBackend()
        self._resolve_seconds = resolve_seconds

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(self._resolve_seconds):
                addresses = await self._resolve(host.strip("[]"), port)
        except TimeoutError as exc:
            raise OutboundTimeout("timeout") from exc
        except OSError as exc:
            raise OutboundFailed("connection failed") from exc
        if not addresses or not all(self._policy.allowed(a, port) for a in addresses):
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

    def __init__(self, backend: GuardedBackend, max_connections: int) -> None:
        super().__init__(trust_env=False, retries=0)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=max_connections,
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
    """POSTs to tenant-supplied URLs under the guard; one per process (it pools connections).

    At most `max_connections` requests run at once; a request waits for its turn *before* its deadline
    starts, so the pool never queues inside a deadline (callers bound each tenant's share: the alert
    deliverer sizes the pool to its lanes times the sends each tenant may have in flight). Host names
    are looked up on the resolver's own threads, bounded per `owner` (`SystemResolver`), within
    `resolve_seconds`."""

    def __init__(
        self,
        settings: OutboundSettings | None = None,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
        max_connections: int = 100,
    ) -> None:
        self.settings = settings or OutboundSettings()
        self._system: SystemResolver | None = None
        if resolver is None:
            resolver = self._system = SystemResolver(self.settings.resolver_threads, self.settings.lookups_per_owner)
        policy = AddressPolicy(parse_cidrs(self.settings.allow_cidrs))
        backend = GuardedBackend(policy, resolver, inner, self.settings.resolve_seconds)
        self._slots = asyncio.Semaphore(max_connections)
        self._http = httpx.AsyncClient(
            transport=GuardedTransport(backend, max_connections),
            follow_redirects=False,
            trust_env=False,
            timeout=self.settings.deadline_seconds,
        )

    async def post(self, url: str, content: bytes, headers: Mapping[str, str], owner: str = "") -> OutboundResponse:
        """POST `content` for `owner` (a tenant: bounds its lookups); the answer's status and the first
        bytes of its body, or an OutboundError."""
        async with self._slots:  # outside the deadline: a busy pool is not the receiver's time
            token = _OWNER.set(owner)
            try:
                return await self._post(url, content, headers)
            finally:
                _OWNER.reset(token)

    async def _post(self, url: str, content: bytes, headers: Mapping[str, str]) -> OutboundResponse:
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
        if self._system is not None:
            self._system.close()
