"""The chaos command's workload and the totals it must produce, computed independently (pure).

Events over many tenants and models, a share of them re-sent later with the same id (duplicates),
some older than the allowed lateness (late: stored raw, counted under 'late', not in the windows),
some old but within the lateness (they update their windows). Expected totals are computed from
the generated events themselves, pricing each distinct usage with genai-prices' own calculation
(not the worker's fast path).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import cache
from typing import Any

import orjson
from genai_prices import Usage, calc_price

from schemas.records import batch_headers, encode_batches, format_of, split_events

MODELS = (
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4o"),
    ("anthropic", "claude-3-5-haiku-latest"),
    ("groq", "llama-3.1-8b-instant"),
)
QUANTUM = Decimal(1).scaleb(-12)


@cache
def _price(provider: str, model: str, input_tokens: int, output_tokens: int, cached: int, day: str) -> Decimal:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached)
    when = datetime.fromisoformat(day)
    total: Decimal = calc_price(usage, model, provider_id=provider, genai_request_timestamp=when).total_price
    return total.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


@dataclass
class Expected:
    """Per tenant: what the raw table and the rollups must hold once the pipeline has drained."""

    raw_events: Counter[str] = field(default_factory=Counter)
    raw_cost: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    rollup_events: Counter[str] = field(default_factory=Counter)
    rollup_cost: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    rollup_input_tokens: Counter[str] = field(default_factory=Counter)
    late: Counter[str] = field(default_factory=Counter)


@dataclass
class Workload:
    records: list[tuple[bytes, bytes]]
    """(key, value) in produce order, duplicates included."""
    expected: Expected
    duplicates: int
    late: int


def _event(rng: random.Random, tenant: str, ts: datetime) -> dict[str, Any]:
    base = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "tenant_id": tenant,
        "timestamp": ts.isoformat(),
        "session_id": f"s-{rng.randrange(2000)}",
        "end_user_id": f"u-{rng.randrange(500)}",
    }
    roll = rng.random()
    if roll < 0.55:
        provider, model = rng.choice(MODELS)
        tin = rng.randint(50, 8000)
        return {
            **base,
            "type": "llm_call",
            "provider": provider,
            "model": model,
            "input_tokens": tin,
            "output_tokens": rng.randint(0, 1500),
            "cached_input_tokens": rng.choice((0, 0, tin // 2)),
            "latency_ms": rng.randint(80, 9000),
            "status": "error" if rng.random() < 0.03 else "ok",
            "feature": rng.choice(("chat", "search", "recommend")),
        }
    if roll < 0.85:
        return {
            **base,
            "type": "message",
            "role": rng.choice(("user", "assistant")),
            "content_chars": rng.randint(1, 900),
        }
    if roll < 0.95:
        return {
            **base,
            "type": "search",
            "query": rng.choice(("serum", "vegan lipstick", "beard oil")),
            "results_count": rng.choice((0, 3, 7)),
        }
    return {**base, "type": "product_event", "action": "recommended", "product_id": f"sku-{rng.randrange(40)}"}


def generate(
    events: int, tenants: int, now: datetime, seed: int = 7, lateness: timedelta = timedelta(hours=2)
) -> Workload:
    """`events` distinct events (plus ~3% re-sent duplicates) with their expected totals."""
    rng = random.Random(seed)
    expected = Expected()
    records: list[tuple[bytes, bytes]] = []
    resend: list[tuple[int, tuple[bytes, bytes]]] = []  # (emit after this many events, record)
    duplicates = late = 0
    for i in range(events):
        while resend and resend[0][0] <= i:
            records.append(resend.pop(0)[1])
        tenant = f"chaos-{i % tenants}"
        roll = rng.random()
        if roll < 0.02:  # older than the lateness: late
            ts = now - lateness - timedelta(minutes=rng.randint(30, 120))
        elif roll < 0.07:  # old, but within the lateness: still updates its windows
            ts = now - lateness + timedelta(minutes=rng.randint(10, 40))
        else:
            ts = now - timedelta(seconds=rng.randint(0, 1800))
        event = _event(rng, tenant, ts)
        value = orjson.dumps(event)
        records.append((tenant.encode(), value))
        if rng.random() < 0.03:  # the client re-sends it later (same id)
            resend.append((i + rng.randint(1, 2000), (tenant.encode(), value)))
            resend.sort(key=lambda item: item[0])
            duplicates += 1
        cost = Decimal(0)
        if event["type"] == "llm_call":
            cost = _price(
                event["provider"],
                event["model"],
                event["input_tokens"],
                event["output_tokens"],
                event["cached_input_tokens"],
                ts.date().isoformat(),
            )
        expected.raw_events[tenant] += 1
        expected.raw_cost[tenant] += cost
        if ts < now - lateness:
            expected.late[tenant] += 1
            late += 1
        else:
            expected.rollup_events[tenant] += 1
            expected.rollup_cost[tenant] += cost
            expected.rollup_input_tokens[tenant] += event.get("input_tokens", 0)
    records.extend(record for _, record in resend)
    return Workload(records, expected, duplicates, late)


TopicRecord = tuple[bytes, bytes, list[tuple[str, bytes]]]
"""(key, value, headers) of one record of the events topic."""


def topic_records(
    records: list[tuple[bytes, bytes]],
    seed: int = 7,
    single_share: float = 0.25,
    batch_events: tuple[int, int] = (100, 500),
) -> list[TopicRecord]:
    """The workload's events as the topic would hold them from ingest and from direct producers at once.

    About `single_share` of the events go out as single-event records (no header); the rest are
    gathered per tenant, in order, into batch records formed the way ingest forms them (schemas.records,
    each of a size drawn in `batch_events`, as one request of that many events would be). A tenant's
    open batch goes out when full, and all at the end: every event is in exactly one record.
    """
    rng = random.Random(seed)
    out: list[TopicRecord] = []
    open_batches: dict[bytes, tuple[int, list[bytes]]] = {}
    for key, value in records:
        if rng.random() < single_share:
            out.append((key, value, []))
            continue
        size, events = open_batches.setdefault(key, (rng.randint(*batch_events), []))
        events.append(value)
        if len(events) >= size:
            out += _batch_records(key, events)
            del open_batches[key]
    for key, (_, events) in open_batches.items():
        out += _batch_records(key, events)
    return out


def _batch_records(key: bytes, events: list[bytes]) -> list[TopicRecord]:
    return [(key, value, batch_headers()) for value in encode_batches(events, len(events), 512 * 1024)]


def events_of(records: list[TopicRecord]) -> list[tuple[bytes, bytes]]:
    """Every event of the topic records, as (key, value), in record and index order."""
    return [(key, event) for key, value, headers in records for event in split_events(format_of(headers), value)]
