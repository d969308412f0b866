"""Building blocks shared by the sync and async clients: secrets, stats, event preparation, encoding.

Nothing here does I/O.
"""

from __future__ import annotations

import gzip
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, TypedDict, TypeVar

import orjson

from schemas.events import EVENT_MODELS, AnyEvent, EventBase, parse_event

E = TypeVar("E", bound=EventBase)

USER_AGENT = "tallystream-sdk-python/0.1.0"
"""User-Agent sent with every request."""


class Secret:
    """A string that never shows itself in `repr`, `str` or f-strings (only `reveal()` gives it)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise ValueError("api_key must not be empty")
        self._value = value

    def reveal(self) -> str:
        """The secret value itself."""
        return self._value

    def scrub(self, text: str) -> str:
        """`text` with every occurrence of the secret replaced by `***`."""
        return text.replace(self._value, "***")

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class Stats:
    """A snapshot of a client's delivery counters (events, not requests)."""

    sent: int = 0
    """Events the server accepted."""
    rejected: int = 0
    """Events the server refused one by one (207): invalid, never retried."""
    dropped: int = 0
    """Events dropped before sending: queue full, or tracked after `close()`."""
    retries: int = 0
    """Requests re-sent after a 429, 5xx or network error."""
    failed: int = 0
    """Events given up on: 400/401/403, retries exhausted, or one event too large (413)."""
    queued: int = 0
    """Events waiting in the queue when the snapshot was taken."""


class StatsCounter:
    """Thread-safe counters behind `Stats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = {"sent": 0, "rejected": 0, "dropped": 0, "retries": 0, "failed": 0}

    def add(self, **counts: int) -> None:
        """Add to the named counters."""
        with self._lock:
            for name, n in counts.items():
                self._values[name] += n

    def snapshot(self, queued: int) -> Stats:
        """The counters now, with the current queue length."""
        with self._lock:
            return Stats(queued=queued, **self._values)


@dataclass(frozen=True, slots=True)
class Failure:
    """One event the server did not take, reported to `on_failure`."""

    event_id: str | None
    """The event's id (None when the server could not name it)."""
    kind: Literal["rejected", "failed"]
    """`rejected`: the server refused this event (207); `failed`: its whole batch could not be delivered."""
    status: int | None
    """HTTP status of the answer, None for network errors."""
    error: str
    """The server's reason, or what went wrong."""


class Item(NamedTuple):
    """One queued event in wire form: its id (for reports) and its JSON bytes (sent as is on every retry)."""

    event_id: str
    payload: bytes


class BaseFields(TypedDict, total=False):
    """Optional fields shared by every event except `session_id` (for builders that require it)."""

    end_user_id: str
    """The tenant's end user."""
    domain: str
    """The tenant's site or domain."""
    properties: Mapping[str, str]
    """Free-form string dimensions."""
    timestamp: datetime
    """When it happened (default: now, UTC)."""
    event_id: uuid.UUID | str
    """The event id (default: a fresh uuid4)."""


class EventFields(BaseFields, total=False):
    """Optional fields shared by every event, accepted as keyword arguments by the builders."""

    session_id: str
    """The chat session the event belongs to."""


def now_utc() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


def build_event(
    cls: type[E], event_type: str, tenant_id: str, fields: Mapping[str, Any], common: Mapping[str, Any]
) -> E:
    """Validate one event of model `cls`; `None` values are left out so model defaults apply."""
    data: dict[str, Any] = {k: v for k, v in {**fields, **common}.items() if v is not None}
    data["type"] = event_type
    data.setdefault("event_id", uuid.uuid4())
    data.setdefault("tenant_id", tenant_id)
    data.setdefault("timestamp", now_utc())
    return cls.model_validate(data)


def prepare_event(event: EventBase | Mapping[str, Any], tenant_id: str) -> AnyEvent:
    """A validated event of `tenant_id` from a model or a dict (missing event_id/tenant_id/timestamp filled in).

    Raises pydantic.ValidationError for an invalid dict, ValueError when the event belongs to another
    tenant (the server would refuse the whole batch with 403), TypeError for anything else.
    """
    if isinstance(event, Mapping):
        data = dict(event)
        data.setdefault("event_id", str(uuid.uuid4()))
        data.setdefault("tenant_id", tenant_id)
        data.setdefault("timestamp", now_utc().isoformat())
        parsed = parse_event(data)
    elif isinstance(event, EVENT_MODELS):
        parsed = parse_event(event)
    else:
        raise TypeError(f"track() takes an event model or a dict, not {type(event).__name__}")
    if parsed.tenant_id != tenant_id:
        raise ValueError(f"event tenant_id {parsed.tenant_id!r} is not this client's tenant {tenant_id!r}")
    return parsed


def to_item(event: EventBase) -> Item:
    """The wire form of one event."""
    return Item(str(event.event_id), orjson.dumps(event.model_dump(mode="json", exclude_none=True)))


def encode_body(items: list[Item], use_gzip: bool) -> tuple[bytes, dict[str, str]]:
    """The request body (a JSON array, gzipped if asked) and its content headers."""
    body = b"[" + b",".join(item.payload for item in items) + b"]"
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if use_gzip:
        body = gzip.compress(body, compresslevel=6, mtime=0)
        headers["Content-Encoding"] = "gzip"
    return body, headers
