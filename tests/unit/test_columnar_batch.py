"""The columnar batch step stores exactly what the row path stores: the same random record streams go
through `BatchHandler` and `ColumnarBatchHandler`, each with its own in-memory warehouse, through the same
batch cuts, crashes and replays; raw rows (every column), rollup rows, dead letters and acks must be equal."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from processors.columnar_batch import ColumnarBatchHandler
from processors.pipeline import BatchHandler, Handled
from processors.rows import DeadLetter, Record
from processors.sink import EventSink
from schemas.records import EVENTS_BATCH_V1
from schemas.registry import DISTINCT_MEASURES
from schemas.tenancy import PriceOverride
from tests.unit.test_batch_handler import MemoryWarehouse

NOW = datetime(2026, 11, 21, 12, 0, 0, 250_731, tzinfo=UTC)
TENANTS = {"acme": "UTC", "globex": "Europe/Paris", "initech": "America/New_York"}
MODELS = [("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-haiku-latest"), ("acme-ai", "house-model")]
OWN_PRICE = PriceOverride(input_per_mtok=1.25, output_per_mtok=3.5)  # type: ignore[arg-type]


def overrides(tenant: str, provider: str, model: str) -> PriceOverride | None:
    return OWN_PRICE if (tenant, model) == ("globex", "gpt-4o-mini") else None


def zone_of(tenant: str) -> ZoneInfo:
    return ZoneInfo(TENANTS.get(tenant, "UTC"))


def _event(rng: random.Random, tenant: str, sent: list[dict[str, Any]]) -> dict[str, Any]:
    """A random event: mostly valid and recent, some late, too old, too new, re-sent or of another type."""
    roll = rng.random()
    if sent and roll < 0.08:
        return rng.choice(sent)  # a re-send: the same event again (a duplicate in the batch or stored)
    ago = rng.choice([timedelta(seconds=rng.uniform(0, 600)), timedelta(minutes=rng.uniform(0, 90))])
    if roll < 0.14:
        ago = timedelta(hours=rng.uniform(2.5, 6))  # later than the lateness: counted as late
    elif roll < 0.17:
        ago = timedelta(days=31)  # older than the raw retention
    elif roll < 0.20:
        ago = -timedelta(days=2)  # more than a day ahead
    ts = NOW - ago + timedelta(microseconds=rng.randrange(1000))
    doc: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "tenant_id": tenant,
        "timestamp": ts.isoformat(),
        "session_id": rng.choice(["s-1", "s-2", "s-3", "s-3", "s-3", None]),
        "end_user_id": rng.choice(["u-1", "u-2", None]),
        "domain": rng.choice(["shop.example.com", None]),
    }
    kind = rng.random()
    if kind < 0.6:
        provider, model = rng.choice(MODELS)
        doc |= {
            "type": "llm_call", "provider": provider, "model": model, "input_tokens": rng.randrange(0, 5000),
            "output_tokens": rng.randrange(0, 900), "latency_ms": rng.randrange(50, 4000),
            "status": rng.choice(["ok", "ok", "error"]), "feature": rng.choice(["chat", None]),
        }  # fmt: skip
        if rng.random() < 0.2:
            doc["cached_input_tokens"] = rng.randrange(0, doc["input_tokens"] + 1)
    elif kind < 0.75:
        doc |= {"type": "message", "role": rng.choice(["user", "assistant"]), "content_chars": rng.randrange(900)}
    elif kind < 0.85:
        doc |= {"type": "conversion", "order_id": f"o-{rng.randrange(99)}", "revenue": f"{rng.randrange(10**5)}.25"}
        doc["currency"] = rng.choice(["EUR", "USD"])
        doc["category"] = rng.choice(["pumps", "filters", "", None])
        doc["feature"] = rng.choice(["chat", None])
    elif kind < 0.93:
        doc |= {"type": "feedback", "thumbs": rng.choice(["up", "down"])}
    else:
        doc |= {
            "type": "custom", "name": "build", "dimensions": {"status": rng.choice(["ok", "failed"])},
            "measures": {"seconds": rng.choice([0.1, 0.2, 12.5, 0.0])},
        }  # fmt: skip
    if rng.random() < 0.04:
        doc["input_tokens"] = -5  # invalid (or an unknown field on other types)
    return {k: v for k, v in doc.items() if v is not None}


def _value(rng: random.Random, doc: dict[str, Any]) -> bytes:
    return b"{nope" if rng.random() < 0.02 else orjson.dumps(doc)


def stream(rng: random.Random, partitions: int, records: int) -> list[Record]:
    """Records of every partition in arrival order: single-event and batch records, foreign keys,
    broken framing, record timestamps some seconds after now or missing."""
    sent: list[dict[str, Any]] = []
    offsets = [0] * partitions
    out = []
    for _ in range(records):
        partition = rng.randrange(partitions)
        tenant = rng.choice(list(TENANTS))
        key = tenant.encode() if rng.random() > 0.03 else b"intruder"
        stamp = None if rng.random() < 0.05 else NOW + timedelta(seconds=rng.uniform(-30, 30))
        if rng.random() < 0.5:
            doc = _event(rng, tenant, sent)
            sent.append(doc)
            out.append(Record(key, _value(rng, doc), partition, offsets[partition], stamp))
        else:
            docs = [_event(rng, tenant, sent) for _ in range(rng.randint(1, 7))]
            sent += docs
            value = b"\n".join(_value(rng, d) for d in docs)
            if rng.random() < 0.03:
                value = rng.choice([b"", value + b"\n\n" + value])  # broken framing: refused whole
            fmt = EVENTS_BATCH_V1 if rng.random() > 0.02 else b"events-batch-v9"
            out.append(Record(key, value, partition, offsets[partition], stamp, fmt))
        offsets[partition] += 1
    return out


@dataclass
class Worker:
    """One path's worker: its warehouse survives crashes, its handler does not."""

    columnar: bool
    span: int
    warehouse: MemoryWarehouse = field(default_factory=MemoryWarehouse)
    dead: list[DeadLetter] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.crash()

    def crash(self) -> None:
        async def send_dead(letter: DeadLetter) -> None:
            self.dead.append(letter)

        def sink(table: str) -> EventSink:
            return EventSink(self.warehouse, table, first_backoff=0, max_backoff=0)

        kind = ColumnarBatchHandler if self.columnar else BatchHandler
        self.handler = kind(
            self.warehouse, sink("db.events"), sink("db.rollups"), "db", send_dead, overrides, zone_of,
            retention=timedelta(days=30), lateness=timedelta(hours=2), range_span=self.span,
        )  # fmt: skip

    async def handle(self, records: list[Record]) -> Handled:
        return await self.handler.handle(records, NOW)


def _plain_rollup(row: dict[str, Any]) -> dict[str, Any]:
    return {k: sorted(v) if k in DISTINCT_MEASURES else v for k, v in row.items()}


def assert_same_state(rows: Worker, cols: Worker) -> None:
    place = lambda r: (r["source_partition"], r["source_offset"], r["source_index"])  # noqa: E731
    a, b = sorted(rows.warehouse.events, key=place), sorted(cols.warehouse.events, key=place)
    assert len(a) == len(b)
    for want, got in zip(a, b, strict=True):
        assert list(got) == list(want)  # the events table's columns, in order
        for name in want:
            assert got[name] == want[name], (name, want, got)
            # the same kind of value (an empty Float64 is 0 in a row, 0.0 in Arrow; money is Decimal either way)
            assert type(got[name]) is type(want[name]) or {type(got[name]), type(want[name])} == {int, float}, name
    assert rows.warehouse.rollups.keys() == cols.warehouse.rollups.keys()
    for key, want in rows.warehouse.rollups.items():
        assert _plain_rollup(dict(cols.warehouse.rollups[key])) == _plain_rollup(dict(want)), key
    assert cols.dead == rows.dead


async def run(seed: int) -> tuple[int, int, int]:
    rng = random.Random(seed)
    partitions, span = rng.randint(1, 3), rng.choice([2, 3, 5, 50])
    log = stream(rng, partitions, rng.randint(10, 60))
    paths = [Worker(False, span), Worker(True, span)]
    committed = dict.fromkeys(range(partitions), 0)
    position = dict.fromkeys(range(partitions), 0)  # next offset to read per partition
    reads = 0
    while reads < 40 and any(position[p] < sum(r.partition == p for r in log) for p in position):
        reads += 1
        pending = [r for r in log if r.offset >= position[r.partition]]
        batch = pending[: rng.randint(1, 12)]
        first: dict[int, Record] = {}
        for r in batch:
            first.setdefault(r.partition, r)
        batched = {p for p, r in first.items() if r.format is not None}
        seeks = [w.handler.ranges.realign({p: r.offset for p, r in first.items()}, batched) for w in paths]
        assert seeks[0] == seeks[1]
        if seeks[0]:  # as the agent does: read again from where the range starts
            position.update(seeks[0])
            continue
        handled = [await w.handle(batch) for w in paths]
        assert handled[0].update.ack_below == handled[1].update.ack_below
        assert handled[0].update.restarted == handled[1].update.restarted
        assert handled[0].late == handled[1].late
        assert [len(h.batch.dead) for h in handled] == [len(handled[0].batch.dead)] * 2
        assert handled[0].batch.duplicates == handled[1].batch.duplicates
        assert handled[0].batch.unknown_model == handled[1].batch.unknown_model
        for partition, below in handled[0].update.ack_below.items():
            committed[partition] = max(committed[partition], below)
        for r in batch:
            position[r.partition] = r.offset + 1
        if rng.random() < 0.15:  # a crash: both workers restart from the committed offsets
            for w in paths:
                w.crash()
            position = dict(committed)
        elif rng.random() < 0.05:  # a deep replay from the start (a rebalance to an old offset)
            position = dict.fromkeys(position, 0)
        assert_same_state(*paths)
    rows = paths[0]
    return len(rows.warehouse.events), len(rows.warehouse.rollups), len(rows.dead)


@pytest.mark.parametrize("columnar", [True, False])
async def test_a_batch_prepared_while_the_one_before_is_stored_stores_the_same(columnar: bool) -> None:
    """The agent prepares batch N+1 while batch N is being written: N's new events must count as
    stored for N+1 (a re-sent event is a duplicate, not new twice), and the result equals one at a time.
    The row path does its whole batch in `prepare` (its ranges move with its writes)."""
    for seed in range(25):
        rng = random.Random(seed)
        log = stream(rng, rng.randint(1, 3), rng.randint(10, 60))
        cuts, start = [], 0
        while start < len(log):
            size = rng.randint(1, 12)
            cuts.append(log[start : start + size])
            start += size
        one_by_one, overlapped = Worker(columnar, 5), Worker(columnar, 5)
        acks = [(await one_by_one.handle(batch)).update.ack_below for batch in cuts]
        handler = overlapped.handler
        acks_a: list[dict[int, int]] = []
        in_flight = None
        for batch in cuts:
            prepared = await handler.prepare(batch, NOW)
            if in_flight is not None:
                acks_a.append((await in_flight).update.ack_below)
            in_flight = asyncio.ensure_future(handler.store(prepared))
        assert in_flight is not None
        acks_a.append((await in_flight).update.ack_below)
        assert acks_a == acks
        assert_same_state(one_by_one, overlapped)
        assert len({r["event_id"] for r in overlapped.warehouse.events}) == len(overlapped.warehouse.events)


@pytest.mark.parametrize("seed", range(40))
async def test_the_columnar_batch_step_stores_what_the_row_path_stores(seed: int) -> None:
    events, rollups, _dead = await run(seed)
    assert events > 0 and rollups > 0


async def test_the_streams_exercise_every_case() -> None:
    """The generator is not vacuous: over the seeds, every kind of refusal and replay happens."""
    reasons: set[str] = set()
    late = replayed = 0
    for seed in range(10):
        rng = random.Random(seed)
        rng.randint(1, 3), rng.choice([2, 3, 5, 50])
        worker = Worker(False, 5)
        log = stream(rng, 2, 60)
        handled = await worker.handle(log)
        late += handled.late
        again = Worker(False, 5)
        again.warehouse = worker.warehouse
        again.crash()
        replayed += (await again.handle(log)).update.touched.__len__()
        reasons |= {d.reason.split(":")[0] for d in worker.dead}
    assert {
        "not JSON",
        "invalid event",
        "record key is not the event's tenant_id",
        "timestamp older than the raw retention of 30 days",
        "timestamp more than a day in the future",
        "bad batch record",
    } <= reasons
    assert late > 0 and replayed > 0


def test_the_worker_path_setting_defaults_to_columnar_and_refuses_other_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from processors.settings import WorkerSettings

    monkeypatch.delenv("TALLY_WORKER_PATH", raising=False)
    assert WorkerSettings().worker_path == "columnar"
    monkeypatch.setenv("TALLY_WORKER_PATH", "rows")
    assert WorkerSettings().worker_path == "rows"
    monkeypatch.setenv("TALLY_WORKER_PATH", "vectorised-please")
    with pytest.raises(ValidationError, match="worker_path"):
        WorkerSettings()


async def test_integer_sums_beyond_32_bits_are_exact() -> None:
    """`content_chars` and `latency_ms` are UInt32 columns; their sums are UInt64 measures: a batch whose
    sum passes 2^32 must not wrap (polars sums a UInt32 column as UInt32)."""
    stamp = NOW - timedelta(minutes=5)
    docs = [
        {"event_id": str(uuid.UUID(int=i + 1, version=4)), "tenant_id": "acme", "timestamp": stamp.isoformat(),
         "type": "message", "session_id": "s-1", "role": "user", "content_chars": 3_000_000_000}
        for i in range(3)
    ] + [
        {"event_id": str(uuid.UUID(int=i + 100, version=4)), "tenant_id": "acme", "timestamp": stamp.isoformat(),
         "type": "llm_call", "session_id": "s-1", "provider": "openai", "model": "gpt-4o-mini",
         "latency_ms": 86_400_000}
        for i in range(60)
    ]  # fmt: skip
    record = Record(b"acme", b"\n".join(orjson.dumps(d) for d in docs), 0, 0, NOW, EVENTS_BATCH_V1)
    paths = [Worker(False, 5), Worker(True, 5)]
    for w in paths:
        await w.handle([record])
    assert_same_state(*paths)
    assert paths[1].dead == []
    day = {r["type"]: r for r in paths[1].warehouse.rollups.values() if r["granularity"] == "day"}
    assert day["message"]["content_chars"] == 9_000_000_000
    assert day["llm_call"]["latency_ms_sum"] == 60 * 86_400_000


@pytest.mark.parametrize("columnar", [True, False])
async def test_a_replayed_range_counts_its_events_when_a_copy_of_another_partition_comes_first(columnar: bool) -> None:
    """An id stored from partition 1 also sits in partition 0. When partition 1's range is read again with
    partition 0's copy earlier in the same batch, the stored place must still count: the rebuilt row of
    partition 1 holds both of its events, and partition 0 counts none."""
    stamp = (NOW - timedelta(minutes=5)).isoformat()

    def doc(n: int) -> bytes:
        return orjson.dumps({"event_id": str(uuid.UUID(int=n, version=4)), "tenant_id": "acme", "timestamp": stamp,
                             "type": "message", "session_id": "s-1", "role": "user", "content_chars": 10 * n})  # fmt: skip

    copy, x, y = (
        Record(b"acme", doc(1), 0, 0, NOW),
        Record(b"acme", doc(1), 1, 0, NOW),
        Record(b"acme", doc(2), 1, 1, NOW),
    )
    worker = Worker(columnar, 5)
    await worker.handle([x])  # stored from partition 1; its range (span 5) stays open: not acked
    worker.crash()  # read again from the committed offset (0) with partition 0's copy first
    handled = await worker.handle([copy, x, y])
    assert handled.batch.duplicates == 0
    days = [r for r in worker.warehouse.rollups.values() if r["granularity"] == "day" and r["type"] == "message"]
    assert {(r["source_partition"], r["events"], r["content_chars"]) for r in days} == {(1, 2, 30)}
    assert sorted((e["source_partition"], e["source_offset"]) for e in worker.warehouse.events) == [(1, 0), (1, 1)]
