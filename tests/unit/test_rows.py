from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson

from processors.pricing import PriceBook
from processors.rows import build_batch
from schemas.ddl import EVENTS_COLUMN_NAMES
from tests.factories import llm_call, message

TS = datetime(2026, 11, 21, 10, 30, 0, 123456, tzinfo=UTC)
NOW = datetime(2026, 11, 21, 10, 31, tzinfo=UTC)


def rec(event: dict) -> tuple[bytes, bytes]:
    return event["tenant_id"].encode(), orjson.dumps(event)


def test_llm_call_becomes_a_priced_row_with_every_column() -> None:
    event = llm_call("acme", TS, cached_input_tokens=200, reasoning_tokens=50, feature="chat", properties={"k": "v"})
    batch = build_batch([rec(event)], PriceBook(), NOW)
    assert batch.dead == [] and batch.unknown_model == 0
    (row,) = batch.rows
    assert tuple(row) == EVENTS_COLUMN_NAMES
    assert row["ts"] == "2026-11-21 10:30:00.123"
    assert row["ingested_at"] == "2026-11-21 10:31:00.000"
    assert row["cost_usd"] == Decimal("0.000435000000")
    assert row["price_status"] == "priced"
    assert (row["input_tokens"], row["cached_input_tokens"], row["reasoning_tokens"]) == (1000, 200, 50)
    assert (row["feature"], row["error_type"], row["role"], row["properties"]) == ("chat", "", "", {"k": "v"})


def test_message_row_is_not_priced() -> None:
    batch = build_batch([rec(message("acme", TS, role="assistant", content_chars=12))], PriceBook(), NOW)
    (row,) = batch.rows
    assert (row["type"], row["role"], row["content_chars"]) == ("message", "assistant", 12)
    assert (row["cost_usd"], row["price_status"]) == (Decimal(0), "not_applicable")


def test_unknown_model_rows_are_kept_and_counted() -> None:
    batch = build_batch([rec(llm_call("acme", TS, model="mystery-1"))] * 2, PriceBook(), NOW)
    assert [r["price_status"] for r in batch.rows] == ["unknown_model", "unknown_model"]
    assert batch.unknown_model == 2


def test_bad_records_become_dead_letters_with_reasons() -> None:
    good = llm_call("acme", TS)
    records = [
        (b"acme", b"{not json"),
        rec(llm_call("acme", TS, input_tokens=-5)),
        (b"other-tenant", orjson.dumps(good)),
        rec(good),
    ]
    batch = build_batch(records, PriceBook(), NOW)
    assert len(batch.rows) == 1
    reasons = [d.reason for d in batch.dead]
    assert reasons[0].startswith("not JSON")
    assert reasons[1].startswith("invalid event: llm_call.input_tokens: Input should be greater than or equal to 0")
    assert reasons[2] == "record key is not the event's tenant_id"
    assert batch.dead[0].value == b"{not json"
