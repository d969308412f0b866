"""The load of bench/e2e.py: requests of one tenant's events through ingest, and what they must add up to.

Every request body is a template of one tenant's `batch` events (LLM calls and messages over several
models), made once with holes for the event id and the timestamp; each request fills in fresh ids
(unique in the run) and timestamps of the last two minutes, so a request costs the sender ~0.5 us an
event, not the ~10 us of building and serialising each event. A template's totals (events, tokens,
cost priced with the worker's own PriceBook) are known, so the `Ledger` adds them up for every
request ingest answered 200: what the views API must show at the end, to the event and to the cent.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import orjson

from processors.pricing import PriceBook

MODELS = [
    ("openai", "gpt-4o-mini"), ("openai", "gpt-4o"), ("openai", "gpt-4.1-mini"), ("openai", "o3-mini"),
    ("anthropic", "claude-3-5-haiku-latest"), ("anthropic", "claude-sonnet-4-0"), ("groq", "llama-3.1-8b-instant"),
    ("google", "gemini-2.0-flash"),
]  # fmt: skip
ID_HOLE, TS_HOLE, MAX_AGE_S = b"@ID@", b"@TS@", 120
FRESH = "fresh"
"""The tenant of the freshness markers."""


@dataclass
class Totals:
    """What a tenant's events add up to in the rollups."""

    llm_calls: int = 0
    messages: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)

    def add(self, other: Totals) -> None:
        self.llm_calls += other.llm_calls
        self.messages += other.messages
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd

    @property
    def events(self) -> int:
        return self.llm_calls + self.messages


@dataclass
class Template:
    """One tenant's request body with a hole for each event's id and timestamp, and its totals."""

    tenant: str
    segments: list[bytes]
    """The body cut at the holes: segment, id, segment, timestamp, segment, id ... segment."""
    ages: list[int]
    """Each event's age in seconds (its timestamp is now minus that)."""
    totals: Totals


def _event(rng: random.Random, tenant: str, i: int, book: PriceBook, now: datetime) -> tuple[dict[str, Any], Totals]:
    """A realistic event (4 in 5 LLM calls, the rest messages) with holes, and what it adds to the totals."""
    doc: dict[str, Any] = {"event_id": ID_HOLE.decode(), "tenant_id": tenant, "timestamp": TS_HOLE.decode()}
    doc |= {"session_id": f"s-{rng.randrange(200_000)}", "end_user_id": f"u-{rng.randrange(20_000)}"}
    doc["domain"] = f"shop{i % 3}.example.com"
    if i % 5 == 4:
        doc |= {"type": "message", "role": "user" if i % 2 else "assistant", "content_chars": rng.randint(5, 900)}
        return doc, Totals(messages=1)
    provider, model = MODELS[rng.randrange(len(MODELS))]
    tokens = {"input_tokens": rng.randint(100, 6000), "output_tokens": rng.randint(10, 900)}
    tokens["cached_input_tokens"] = rng.choice([0, 0, 64])
    doc |= {"type": "llm_call", "provider": provider, "model": model, "feature": rng.choice(["chat", "search"])}
    doc |= {**tokens, "latency_ms": rng.randint(80, 4000), "status": "error" if rng.random() < 0.03 else "ok"}
    cost = book.price_llm_call(provider=provider, model=model, tenant_id=tenant, at=now, **tokens).cost_usd
    return doc, Totals(1, 0, tokens["input_tokens"], tokens["output_tokens"], cost)


def templates(tenants: list[str], variants: int, batch: int, seed: int = 7) -> list[Template]:
    """`variants` templates of `batch` events for each tenant, interleaved (tenant 0, 1 ... 0, 1 ...)."""
    rng, book, now, out = random.Random(seed), PriceBook(), datetime.now(UTC), []
    for _ in range(variants):
        for tenant in tenants:
            docs, totals, ages = [], Totals(), []
            for i in range(batch):
                doc, adds = _event(rng, tenant, i, book, now)
                docs.append(orjson.dumps(doc))
                totals.add(adds)
                ages.append(rng.randrange(MAX_AGE_S))
            body = b"[" + b",".join(docs) + b"]"
            segments = [s for part in body.split(ID_HOLE) for s in part.split(TS_HOLE)]
            out.append(Template(tenant, segments, ages, totals))
    return out


class Filler:
    """Fresh event ids (a run prefix and a counter: unique, valid UUIDs) and near-now timestamps."""

    def __init__(self) -> None:
        self.run, self.next = uuid.uuid4().hex[:8], 0
        self.second, self.stamps = -1, [b""] * MAX_AGE_S

    def body(self, template: Template) -> bytes:
        now = int(time.time())
        if now != self.second:  # one timestamp per age, recomputed once a second
            base = datetime.fromtimestamp(now, UTC)
            self.stamps = [(base - timedelta(seconds=a)).isoformat().encode() for a in range(MAX_AGE_S)]
            self.second = now
        n, self.next = self.next, self.next + len(template.ages)
        run = self.run
        ids = [f"{run}-0000-4000-8000-{k:012x}".encode() for k in range(n, n + len(template.ages))]
        stamps = self.stamps
        holes = [h for k, age in zip(ids, template.ages, strict=True) for h in (k, stamps[age])]
        pieces = itertools.chain.from_iterable(zip(template.segments, holes, strict=False))  # the last: below
        return b"".join(pieces) + template.segments[-1]


@dataclass
class Ledger:
    """What ingest accepted: events, statuses, request latencies, and per tenant what the rollups must show."""

    expected: dict[str, Totals] = field(default_factory=dict)
    accepted: int = 0
    statuses: Counter[int | str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    inexact: int = 0
    """Requests whose outcome the totals cannot follow (a 207, or no answer: maybe accepted, maybe not)."""

    def record(self, tenant: str, totals: Totals, status: int | str, accepted: int) -> None:
        self.statuses[status] += 1
        self.accepted += accepted
        if status == 200 and accepted == totals.events:
            self.expected.setdefault(tenant, Totals()).add(totals)
        elif accepted or not isinstance(status, int):
            self.inexact += 1


@dataclass
class Phase:
    """One stretch of load: how long, what ingest accepted in it and how fast it answered."""

    name: str
    wall: float = 0.0
    accepted: int = 0
    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.accepted / self.wall if self.wall else 0.0


class Load:
    """Posts template bodies to ingest from `concurrency` tasks, round-robin over tenants and ingest URLs,
    flat out or paced at `rate` events/s (a request is due every batch/rate seconds; late ones go at once)."""

    def __init__(self, client: httpx.AsyncClient, urls: list[str], keys: dict[str, str], bodies: list[Template]):
        self.client, self.urls, self.bodies = client, itertools.cycle(urls), itertools.cycle(bodies)
        self.headers = {
            t: {"Authorization": f"Bearer {k}", "Content-Type": "application/json"} for t, k in keys.items()
        }
        self.filler, self.ledger = Filler(), Ledger()

    async def post(self, tenant: str, body: bytes, totals: Totals, phase: Phase) -> int | str:
        t = time.perf_counter()
        try:
            r = await self.client.post(f"{next(self.urls)}/v1/events", content=body, headers=self.headers[tenant])
            status: int | str = r.status_code
            accepted = orjson.loads(r.content)["accepted"] if status in (200, 207) else 0
        except httpx.HTTPError as exc:  # no answer: counted by exception name
            status, accepted = type(exc).__name__, 0
        phase.latencies.append(time.perf_counter() - t)
        phase.statuses[status] += 1
        phase.accepted, phase.requests = phase.accepted + accepted, phase.requests + 1
        self.ledger.record(tenant, totals, status, accepted)
        return status

    async def run(self, name: str, seconds: float, rate: float | None, concurrency: int) -> Phase:
        phase, t0 = Phase(name), time.perf_counter()
        end, due = t0 + seconds, itertools.count()

        async def sender() -> None:
            while (now := time.perf_counter()) < end:
                template = next(self.bodies)
                if rate:
                    at = t0 + next(due) * len(template.ages) / rate
                    if at >= end:
                        return
                    await asyncio.sleep(max(0.0, at - now))
                await self.post(template.tenant, self.filler.body(template), template.totals, phase)

        await asyncio.gather(*(sender() for _ in range(concurrency)))
        phase.wall = time.perf_counter() - t0
        return phase


@dataclass
class Freshness:
    """Per marker event, in ms: from the start of its POST to its 2xx, and to being visible in the views."""

    acked: list[float] = field(default_factory=list)
    visible: list[float] = field(default_factory=list)
    sent: int = 0


async def freshness(load: Load, views: httpx.AsyncClient, stop: asyncio.Event, every: float = 0.2) -> Freshness:
    """Until `stop`: every `every` s one LLM call of tenant FRESH with a feature of its own, posted alone to
    ingest (each in its own task: a slow answer does not delay the next); its freshness = from the start of
    its POST to its feature being in the views' rollup series (polled every 0.1 s). Markers not seen within
    30 s after `stop` are left out of `visible` (compare its length with `sent`)."""
    book, started, acked, seen, phase = PriceBook(), {}, {}, {}, Phase("markers")

    async def marker(feature: str) -> None:
        now = datetime.now(UTC)
        doc = {"event_id": str(uuid.uuid4()), "type": "llm_call", "tenant_id": FRESH, "feature": feature}
        doc |= {"timestamp": now.isoformat(), "provider": "openai", "model": "gpt-4o-mini", "latency_ms": 100}
        doc |= {"input_tokens": 10, "output_tokens": 1}
        cost = book.price_llm_call(
            provider="openai", model="gpt-4o-mini", input_tokens=10, output_tokens=1, cached_input_tokens=0, at=now
        ).cost_usd
        if await load.post(FRESH, orjson.dumps([doc]), Totals(1, 0, 10, 1, cost), phase) == 200:
            acked[feature] = time.perf_counter()

    async def markers() -> None:
        tasks = []
        while not stop.is_set():
            feature = f"m{uuid.uuid4().hex[:10]}"
            started[feature] = time.perf_counter()  # its POST starts at the next turn of the loop
            tasks.append(asyncio.create_task(marker(feature)))
            await asyncio.sleep(every)
        await asyncio.gather(*tasks)

    async def watch() -> None:
        params = {"type": "llm_call", "period": "1h", "group_by": "feature", "measures": "events"}
        deadline = float("inf")  # 30 s after `stop`, for the last markers
        while len(seen) < len(started) or not stop.is_set():
            if stop.is_set():
                deadline = min(deadline, time.perf_counter() + 30)
            if time.perf_counter() > deadline:
                return
            r = await views.get(f"/api/dashboard/{FRESH}/series", params=params)
            now = time.perf_counter()
            for point in r.json()["points"]:
                feature = point["group"]["feature"]
                if feature in started and feature not in seen:
                    seen[feature] = now
            await asyncio.sleep(0.1)  # every poll is a query on the worker's store: keep the probe light

    await asyncio.gather(markers(), watch())
    out = Freshness(sent=len(started))
    out.acked = [(acked[f] - started[f]) * 1000 for f in acked]
    out.visible = [(seen[f] - started[f]) * 1000 for f in acked if f in seen]
    return out


async def views_totals(views: httpx.AsyncClient, tenants: list[str]) -> dict[str, Totals]:
    """What the views API's rollup series show for each tenant over the last two days."""
    out: dict[str, Totals] = {}
    llm = {"type": "llm_call", "days": "2", "measures": "events,input_tokens,output_tokens,cost_usd"}
    for tenant in tenants:
        totals = Totals()
        for p in (await views.get(f"/api/dashboard/{tenant}/series", params=llm)).json()["points"]:
            values = p["values"]
            totals.add(Totals(values["events"], 0, values["input_tokens"], values["output_tokens"]))
            totals.cost_usd += Decimal(str(values["cost_usd"]))
        msg = {"type": "message", "days": "2", "measures": "events"}
        totals.messages = sum(
            p["values"]["events"]
            for p in (await views.get(f"/api/dashboard/{tenant}/series", params=msg)).json()["points"]
        )
        out[tenant] = totals
    return out


def compare(expected: dict[str, Totals], shown: dict[str, Totals]) -> list[str]:
    """Every tenant whose rollups differ from what ingest accepted, with both."""
    wrong = []
    for tenant in sorted(set(expected) | set(shown)):
        want, got = expected.get(tenant, Totals()), shown.get(tenant, Totals())
        if want != got:
            wrong.append(f"{tenant}: accepted {want}, views show {got}")
    return wrong
