"""schemas/event_columns.py: typed records to per-type columns (lists and Arrow)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson
import polars as pl

from schemas.event_columns import ARROW_SCHEMAS, to_arrow, to_columns
from schemas.event_models import EVENT_MODELS
from schemas.events import EVENT_TYPES
from schemas.fast_events import decode_batch
from tests.unit import test_event_types

DOCS = [test_event_types.FULL[t] for t in EVENT_TYPES] + [test_event_types.MINIMAL[t][0] for t in EVENT_TYPES]


def records() -> list:  # type: ignore[type-arg]
    decoded = decode_batch([orjson.dumps(d) for d in DOCS])
    assert decoded.invalid == []
    return decoded.records


def test_every_model_field_has_an_arrow_column() -> None:
    for tag, model in zip(EVENT_TYPES, EVENT_MODELS, strict=True):
        assert ARROW_SCHEMAS[tag].names == [n for n in model.model_fields if n != "type"]


def test_columns_hold_each_types_values_in_input_order() -> None:
    columns = to_columns(records())
    assert set(columns) == set(EVENT_TYPES)
    llm = columns["llm_call"]
    assert llm["model"] == ["whisper-large-v3", "gpt-4o-mini"]
    assert llm["cached_input_tokens"] == [5, 0]
    assert llm["error_type"] == ["Timeout", None]
    assert columns["conversion"]["revenue"] == [Decimal("1234.560000000001"), Decimal("0")]
    assert columns["conversion"]["category"] == ["pumps", None]  # optional: old events carry none
    assert all(len(col) == 2 for cols in columns.values() for col in cols.values())


def test_arrow_tables_are_exact_and_typed() -> None:
    tables = to_arrow(records())
    conversion = tables["conversion"].to_pylist()
    assert conversion[0]["revenue"] == Decimal("1234.560000000001")
    assert conversion[0]["event_id"] == test_event_types.EVENT_ID
    assert conversion[0]["timestamp"] == datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
    custom = pl.from_arrow(tables["custom"])
    assert isinstance(custom, pl.DataFrame)
    assert custom["name"].to_list() == ["build.completed", "x"]
    assert tables["custom"].column("measures").to_pylist()[0] == [("duration_s", 12.5), ("pages", 3.0)]
    assert tables["llm_call"].column("audio_seconds").to_pylist() == [12.75, 0.0]
