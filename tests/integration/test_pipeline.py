"""One event set travels the whole path: aiokafka -> real broker -> worker -> chDB -> views API."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.records import batch_headers
from tests.conftest import free_port
from tests.factories import llm_call, message
from tests.live import Combined, IngestServer, create_tenant, start_ingest_topics, stop
from tests.rates import RATES, expected_cost

pytestmark = pytest.mark.integration


@pytest.fixture
async def combined(kafka_bootstrap: str, unique: str, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """`tallystream-combined` on fresh topics (the same names `ingest_server` uses), group and database."""
    topic, dlq, directory = await start_ingest_topics(kafka_bootstrap, unique)
    port = free_port()
    env = {
        **os.environ,
        "TALLY_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TALLY_EVENTS_TOPIC": topic,
        "TALLY_DLQ_TOPIC": dlq,
        "TALLY_DIRECTORY_TOPIC": directory,
        "TALLY_WORKER_GROUP": f"{unique}-worker",
        "TALLY_DATABASE": unique,
        "TALLY_CHDB_PATH": str(tmp_path / "chdb"),
        "TALLY_DATA_DIR": str(tmp_path / "faust"),
        "TALLY_VIEWS_PORT": str(port),
        "TALLY_BATCH_SECONDS": "0.2",
    }
    env.pop("CLICKHOUSE_URL", None)
    log = open(tmp_path / "combined.log", "wb")  # noqa: SIM115
    exe = str(Path(sys.executable).with_name("tallystream-combined"))
    proc = subprocess.Popen([exe], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as client:
            for _ in range(300):
                assert proc.poll() is None, (tmp_path / "combined.log").read_text()[-3000:]
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.2)
        yield {"url": url, "topic": topic, "dlq": dlq, "directory": directory}
    finally:
        stop(proc)
        log.close()


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def _wait_for(client: httpx.AsyncClient, path: str, key: str, want: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = (await client.get(path)).json()
        if body[key] >= want or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.3)


async def test_events_are_priced_stored_and_served_exactly(kafka_bootstrap: str, combined: dict) -> None:
    now = datetime.now(UTC)
    if now - now.replace(hour=0, minute=0, second=0, microsecond=0) < timedelta(minutes=2):
        await asyncio.sleep(120)  # keep every event inside "today"
        now = datetime.now(UTC)
    rng = random.Random(7)
    tenant = "acme"
    acme = await create_tenant(kafka_bootstrap, combined["directory"], "acme")
    globex = await create_tenant(kafka_bootstrap, combined["directory"], "globex")
    models = sorted(RATES)
    calls, messages = [], []
    for i in range(240):
        provider, model = models[i % len(models)]
        tin = rng.randint(1, 40_000)
        calls.append(
            llm_call(
                tenant,
                now - timedelta(seconds=rng.randint(1, 600)),
                session_id=f"s-{i % 30}",
                provider=provider,
                model=model,
                input_tokens=tin,
                output_tokens=rng.randint(0, 4_000),
                cached_input_tokens=rng.randint(0, tin),
                status="error" if i % 25 == 0 else "ok",
            )
        )
    unknown = [llm_call(tenant, now - timedelta(seconds=5), model="in-house-7", session_id="s-x") for _ in range(3)]
    for i in range(57):
        messages.append(
            message(
                tenant,
                now - timedelta(seconds=30),
                session_id=f"s-{i % 30}",
                role=("user", "assistant")[i % 2],
            )
        )
    other_tenant = [llm_call("globex", now - timedelta(seconds=3)) for _ in range(4)]
    events = calls + unknown + messages + other_tenant
    duplicates = calls[:20] + messages[:5]  # re-sent by a client retry
    bad = orjson.dumps({**llm_call(tenant, now), "input_tokens": "lots"})

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for ev in events + duplicates:
            await producer.send(combined["topic"], orjson.dumps(ev), key=ev["tenant_id"].encode())
        await producer.send_and_wait(combined["topic"], bad, key=tenant.encode())
    finally:
        await producer.stop()

    total_calls = len(calls) + len(unknown)
    async with httpx.AsyncClient(base_url=combined["url"], headers=_auth(acme.read)) as client:
        costs = await _wait_for(client, f"/api/dashboard/{tenant}/costs?days=1", "total_requests", total_calls)
        overview = (await client.get(f"/api/dashboard/{tenant}/overview")).json()
        other = (await client.get("/api/dashboard/globex/overview", headers=_auth(globex.read))).json()
        # tenant isolation: acme's read key cannot read globex; no key, no data
        assert (await client.get("/api/dashboard/globex/overview")).status_code == 403
        assert (await client.get("/api/dashboard/acme/overview", headers={"authorization": ""})).status_code == 401
        assert (await client.get("/api/dashboard/acme/overview", headers=_auth(acme.ingest))).status_code == 403
        metrics = (await client.get("/metrics")).text

    want_cost = sum(
        expected_cost(c["provider"], c["model"], c["input_tokens"], c["output_tokens"], c["cached_input_tokens"])
        for c in calls
    )
    assert costs["total_requests"] == total_calls
    assert Decimal(costs["total_cost_usd"]) == want_cost
    assert costs["total_input_tokens"] == sum(c["input_tokens"] for c in calls + unknown)
    assert costs["total_output_tokens"] == sum(c["output_tokens"] for c in calls + unknown)
    assert costs["total_cached_input_tokens"] == sum(c["cached_input_tokens"] for c in calls)
    assert costs["unknown_model_requests"] == 3
    by_model = {(m["provider"], m["model"]): m for m in costs["by_model"]}
    for provider, model in models:
        mine = [c for c in calls if (c["provider"], c["model"]) == (provider, model)]
        row = by_model[(provider, model)]
        assert row["requests"] == len(mine)
        assert row["errors"] == sum(c["status"] == "error" for c in mine)
        assert Decimal(row["cost_usd"]) == sum(
            expected_cost(provider, model, c["input_tokens"], c["output_tokens"], c["cached_input_tokens"])
            for c in mine
        )
    assert by_model[("openai", "in-house-7")]["cost_usd"] == "0"
    assert by_model[("openai", "in-house-7")]["unknown_model_requests"] == 3

    assert overview["total_sessions"] == 31
    assert overview["active_sessions"] == 31
    assert overview["messages_today"] == 57
    assert overview["llm_calls_today"] == total_calls
    assert Decimal(overview["cost_today_usd"]) == want_cost
    assert overview["unknown_model_calls_today"] == 3
    assert other["llm_calls_today"] == 4 and other["total_sessions"] == 1

    consumer = AIOKafkaConsumer(
        combined["dlq"],
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"dlq-check-{uuid.uuid4().hex[:6]}",
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()
    dead = [m for msgs in batch.values() for m in msgs]
    assert [m.value for m in dead] == [bad]
    assert dict(dead[0].headers)["tally-error"].decode().startswith("invalid event: llm_call.input_tokens")
    assert 'tally_worker_dead_letters_total{reason="invalid_event"} 1.0' in metrics
    assert 'tally_worker_duplicates_dropped_total{where="batch"}' in metrics


async def test_http_to_dashboard_counts_each_event_once_and_prices_audio(
    ingest_server: IngestServer, combined: dict
) -> None:
    """Events sent through ingest twice (a retry in the same batch, and again once stored) are counted
    once; Whisper is priced per second by genai-prices, a tenant's own model by its override."""
    t = ingest_server.tenant
    async with httpx.AsyncClient(base_url=ingest_server.url, headers=_auth(ingest_server.operator_key)) as admin:
        override = {"in-house/whisper-ft": {"per_audio_minute": "0.01", "input_per_mtok": "1"}}
        put = await admin.put(f"/v1/admin/tenants/{t.tenant_id}", json={"name": "Acme", "price_overrides": override})
        assert put.status_code == 200, put.text
    now = datetime.now(UTC) - timedelta(seconds=30)
    calls = [
        llm_call(t.tenant_id, now, session_id=f"s-{i % 4}", input_tokens=1000 + i, output_tokens=100) for i in range(40)
    ]
    whisper = llm_call(
        t.tenant_id,
        now,
        provider="openai",
        model="whisper-1",
        operation="transcription",
        input_tokens=0,
        output_tokens=0,
        audio_seconds=30,
    )
    own = llm_call(
        t.tenant_id,
        now,
        provider="in-house",
        model="whisper-ft",
        operation="transcription",
        input_tokens=500,
        output_tokens=0,
        audio_seconds=90,
    )
    msgs = [message(t.tenant_id, now, session_id=f"s-{i % 4}") for i in range(10)]
    first = [*calls, whisper, own, *msgs, *calls[:5]]  # the tail: a client retry inside one request
    async with httpx.AsyncClient(base_url=ingest_server.url, headers=_auth(t.ingest)) as client:
        assert (await client.post("/v1/events", json=first)).status_code == 200
        async with httpx.AsyncClient(base_url=combined["url"], headers=_auth(t.read)) as views:
            path = f"/api/dashboard/{t.tenant_id}/costs?days=1"
            costs = await _wait_for(views, path, "total_requests", 42)
            assert costs["total_requests"] == 42
            # everything again, as a client would after losing the first response
            assert (await client.post("/v1/events", json=first)).status_code == 200
            await asyncio.sleep(3)  # > a few worker batches (0.2 s)
            costs = (await views.get(path)).json()
            overview = (await views.get(f"/api/dashboard/{t.tenant_id}/overview")).json()
            metrics = (await views.get("/metrics")).text
    want = sum(expected_cost("openai", "gpt-4o-mini", c["input_tokens"], c["output_tokens"], 0) for c in calls)
    want += Decimal("0.003")  # 30 s of whisper-1 at $0.36/hour
    want += Decimal("0.015") + Decimal("0.0005")  # 90 s at $0.01/min + 500 tokens at $1/MTok
    assert costs["total_requests"] == 42
    assert Decimal(costs["total_cost_usd"]) == want
    assert overview["messages_today"] == 10
    assert overview["llm_calls_today"] == 42
    by_model = {m["model"]: m for m in costs["by_model"]}
    assert Decimal(by_model["whisper-1"]["cost_usd"]) == Decimal("0.003")
    assert Decimal(by_model["whisper-ft"]["cost_usd"]) == Decimal("0.0155")
    # 5 repeats in the first request + all 57 again; which layer caught each depends on batch boundaries
    dropped = {
        w: _metric(metrics, f'tally_worker_duplicates_dropped_total{{where="{w}"}}') for w in ("batch", "stored")
    }
    assert dropped["batch"] + dropped["stored"] == 62
    assert dropped["stored"] >= 52


def _metric(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[-1])


async def test_mixed_formats_on_one_partition_replayed_after_a_worker_kill_are_exact(
    kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    """Single-event and batch records on one partition (one tenant), ranges of 4 records; the worker is
    SIGKILLed after it stored part of an unacked range and restarted: the replay re-reads whole batch
    records and counts every event once. A bad event of a batch is dead-lettered alone with its index,
    a batch record with broken framing whole with its format."""
    await start_ingest_topics(kafka_bootstrap, unique)
    combined = Combined(kafka_bootstrap, unique, tmp_path, TALLY_RANGE_SPAN="4")
    acme = await create_tenant(kafka_bootstrap, f"{unique}.tenants", "acme")
    now = datetime.now(UTC)
    rng = random.Random(13)
    calls = [
        llm_call("acme", now - timedelta(seconds=rng.randint(1, 300)), input_tokens=rng.randint(1, 9000))
        for _ in range(60)
    ]
    bad = orjson.dumps({**llm_call("acme", now), "input_tokens": -3})
    broken = b"\n\n".join(orjson.dumps(c) for c in calls[:2])  # an empty line: broken framing

    def batch(events: list[bytes]) -> tuple[bytes, list[tuple[str, bytes]]]:
        return b"\n".join(events), batch_headers()

    js = [orjson.dumps(c) for c in calls]
    first = [
        (js[0], []),
        batch(js[1:6]),
        (js[6], []),
        batch([js[7], bad, js[8], js[9]]),  # the bad event at index 1
        batch(js[10:16]),
        (js[16], []),
        batch(js[17:25]),
        (js[3], []),  # a re-send of an event already in a batch: a duplicate
    ]
    second = [
        batch(js[25:33]),
        (broken, batch_headers()),
        (js[33], []),
        batch([*js[34:45], js[12]]),  # a re-send inside a batch
        (js[45], []),
        batch(js[46:60]),
    ]

    async def produce(records: list[tuple[bytes, list[tuple[str, bytes]]]]) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True, compression_type="zstd"
        )
        await producer.start()
        try:
            for value, headers in records:
                await producer.send_and_wait(f"{unique}.raw", value, key=b"acme", headers=headers)
        finally:
            await producer.stop()

    def want(events: list[dict]) -> tuple[int, int, Decimal]:
        cost = sum(expected_cost(c["provider"], c["model"], c["input_tokens"], c["output_tokens"], 0) for c in events)
        return len(events), sum(c["input_tokens"] for c in events), cost

    async def totals(client: httpx.AsyncClient, at_least: int) -> tuple[int, int, Decimal]:
        body = await _wait_for(client, "/api/dashboard/acme/costs?days=1", "total_requests", at_least)
        return body["total_requests"], body["total_input_tokens"], Decimal(body["total_cost_usd"])

    await combined.start()
    try:
        await produce(first)
        async with httpx.AsyncClient(base_url=combined.url, headers=_auth(acme.read)) as client:
            assert await totals(client, 25) == want(calls[:25])
        combined.stop(kill=True)  # offsets 0..7 read and stored, only ranges below 4 acked
        await produce(second)
        await combined.start()
        async with httpx.AsyncClient(base_url=combined.url, headers=_auth(acme.read)) as client:
            assert await totals(client, 60) == want(calls)
            await asyncio.sleep(2)  # nothing more arrives
            assert await totals(client, 60) == want(calls)
    finally:
        combined.stop()

    consumer = AIOKafkaConsumer(f"{unique}.dlq", bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        dead: list = []
        for _ in range(20):
            dead += [m for msgs in (await consumer.getmany(timeout_ms=500)).values() for m in msgs]
            if {m.value for m in dead} >= {bad, broken}:
                break
    finally:
        await consumer.stop()
    letters = {m.value: dict(m.headers) for m in dead}
    assert set(letters) == {bad, broken}  # (a replay may send a dead letter again: at least once)
    assert letters[bad]["tally-event-index"] == b"1"
    assert letters[bad]["tally-error"].decode().startswith("invalid event: llm_call.input_tokens")
    assert letters[broken]["tally-format"] == b"events-batch-v1"
    assert letters[broken]["tally-error"] == b"bad batch record: line 1 is empty"
