"""schemas/fast_events.py on the existing corpus and named cases (the property tests are in *_props.py)."""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import msgspec
import orjson
import pytest
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from schemas import fast_events
from schemas.event_models import EVENT_MODELS, EventBase
from schemas.events import EVENT_TYPES, parse_event
from tests.factories import llm_call, message
from tests.unit import test_event_types
from tests.unit.test_fast_events_props import assert_same_values, check, oracle

TS = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)
ERROR_CASES: list[tuple[dict[str, Any], str]] = test_event_types.test_error_messages.pytestmark[0].args[1]  # type: ignore[attr-defined]


def test_there_is_one_record_type_per_event_type_with_the_models_fields() -> None:
    assert tuple(fast_events.RECORD_TYPES) == EVENT_TYPES
    for model, (tag, record) in zip(EVENT_MODELS, fast_events.RECORD_TYPES.items(), strict=True):
        assert record.type == tag  # type: ignore[attr-defined]
        assert set(record.__struct_fields__) == set(model.model_fields) - {"type"}


@pytest.mark.parametrize("type_", EVENT_TYPES)
def test_minimal_and_full_events_of_every_type_take_the_fast_path(type_: str) -> None:
    for doc in (test_event_types.MINIMAL[type_][0], test_event_types.FULL[type_]):
        raw = orjson.dumps(doc)
        expected = check(raw)
        assert isinstance(expected, EventBase)
        assert_same_values(fast_events._ONE.decode(raw), expected)


@pytest.mark.parametrize(("doc", "error"), ERROR_CASES)
def test_the_contracts_error_cases_are_refused_with_the_same_reason(doc: dict[str, Any], error: str) -> None:
    decoded = fast_events.decode_batch([orjson.dumps(doc)])
    assert decoded.records == []
    assert decoded.invalid == [fast_events.Invalid(0, f"invalid event: {error}")]


def test_factory_and_bench_corpus_decodes_like_pydantic() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from bench.run import event  # the bench's realistic workload

    rng, now = random.Random(7), datetime.now(UTC)
    raws = [event(rng, now, i, 200)[1] for i in range(500)]
    raws += [orjson.dumps(llm_call("acme", TS + timedelta(seconds=i), cached_input_tokens=i)) for i in range(50)]
    raws += [orjson.dumps(message("acme", TS, content_chars=i)) for i in range(50)]
    decoded = fast_events.decode_batch(raws)
    assert decoded.invalid == [] and decoded.indices == list(range(600))
    for raw, record in zip(raws, decoded.records, strict=True):
        model = oracle(raw)
        assert isinstance(model, EventBase)
        assert_same_values(record, model)
        assert_same_values(fast_events._ONE.decode(raw), model)  # no fallback on the realistic workload


def test_an_invalid_event_fails_only_itself_with_the_field_named() -> None:
    good = [orjson.dumps(llm_call("acme", TS)) for _ in range(4)]
    bad_tokens = orjson.dumps(llm_call("acme", TS, input_tokens=-1))
    values = [good[0], bad_tokens, good[1], b"{not json", good[2], b"[]", good[3]]
    decoded = fast_events.decode_batch(values, start=10)
    assert decoded.indices == [10, 12, 14, 16]
    assert [str(r.event_id) for r in decoded.records] == [orjson.loads(g)["event_id"] for g in good]  # type: ignore[attr-defined]
    assert [i.index for i in decoded.invalid] == [11, 13, 15]
    assert (
        decoded.invalid[0].reason == "invalid event: llm_call.input_tokens: Input should be greater than or equal to 0"
    )
    assert decoded.invalid[1].reason.startswith("not JSON: ")
    assert decoded.invalid[2].reason.startswith("invalid event: (event): ")


def test_forms_pydantic_coerces_are_accepted_with_pydantics_values() -> None:
    """Lax-mode forms msgspec refuses go to pydantic, which accepts them: same verdict, same values."""
    doc = llm_call("acme", TS, input_tokens="7", output_tokens=3.0, audio_seconds=2, timestamp=1767225600)
    raw = orjson.dumps(doc)
    decoded = fast_events.decode_batch([raw])
    record = decoded.records[0]
    assert (record.input_tokens, record.output_tokens, record.audio_seconds) == (7, 3, 2.0)  # type: ignore[attr-defined]
    assert record.timestamp == datetime(2026, 1, 1, tzinfo=UTC)  # type: ignore[attr-defined]
    model = parse_event(orjson.loads(raw))
    assert_same_values(record, model)


@pytest.mark.parametrize(
    ("field", "value"),
    [("tenant_id", "acme\n"), ("currency", "EUR\n"), ("name", "build\n")],
)
def test_a_trailing_newline_does_not_satisfy_a_pattern(field: str, value: str) -> None:
    """pydantic's `$` (Rust regex) is the end of text; Python's `$` would also match before a final newline."""
    doc = {**test_event_types.FULL["custom" if field == "name" else "conversion"], field: value}
    decoded = fast_events.decode_batch([orjson.dumps(doc)])
    assert decoded.records == []
    assert f".{field}: String should match pattern" in decoded.invalid[0].reason


def test_sub_microsecond_digits_are_truncated_like_pydantic_not_rounded() -> None:
    raw = orjson.dumps(message("acme", TS, timestamp="2026-01-01T00:00:00.9999995+01:00"))
    (record,) = fast_events.decode_batch([raw]).records
    assert record.timestamp == datetime(2025, 12, 31, 23, 0, 0, 999999, tzinfo=UTC)  # type: ignore[attr-defined]


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_a_timestamp_out_of_range_in_utc_is_refused_not_a_crash(stamp: str) -> None:
    """Was an OverflowError out of parse_event: a 500 at ingest and a poison record in the worker."""
    doc = message("acme", TS, timestamp=stamp)
    with pytest.raises(ValidationError, match="out of range once converted to UTC"):
        parse_event(doc)
    decoded = fast_events.decode_batch([orjson.dumps(doc)])
    assert decoded.invalid == [
        fast_events.Invalid(
            0, "invalid event: message.timestamp: Value error, timestamp is out of range once converted to UTC"
        )
    ]


def test_the_worker_dead_letters_an_out_of_range_timestamp() -> None:
    from processors.pricing import PriceBook
    from processors.rows import build_batch

    bad = orjson.dumps(message("acme", TS, timestamp="9999-12-31T23:59:59-01:00"))
    good = orjson.dumps(message("acme", TS))
    batch = build_batch([(b"acme", bad), (b"acme", good)], PriceBook(), TS)
    assert [d.value for d in batch.dead] == [bad]
    assert "timestamp" in batch.dead[0].reason
    assert len(batch.rows) == 1


def test_a_json_array_of_events_decodes_in_one_call_or_event_by_event() -> None:
    docs = [llm_call("acme", TS), message("acme", TS), llm_call("acme", TS, latency_ms=-5), message("acme", TS)]
    whole = fast_events.decode_array(orjson.dumps(docs[:2] + docs[3:]), start=0)
    assert whole.indices == [0, 1, 2] and whole.invalid == []
    mixed = fast_events.decode_array(orjson.dumps(docs), start=0)
    assert mixed.indices == [0, 1, 3]
    assert mixed.invalid == [
        fast_events.Invalid(2, "invalid event: llm_call.latency_ms: Input should be greater than or equal to 0")
    ]


@pytest.mark.parametrize(("buffer", "reason"), [(b"{}", "not a JSON array of events"), (b"[{", "not JSON: ")])
def test_a_buffer_that_is_not_an_array_is_invalid_as_a_whole(buffer: bytes, reason: str) -> None:
    decoded = fast_events.decode_array(buffer)
    assert decoded.records == []
    assert [i.index for i in decoded.invalid] == [fast_events.WHOLE_RECORD]
    assert decoded.invalid[0].reason.startswith(reason)


def test_a_valid_record_can_be_rebuilt_from_its_model() -> None:
    model = parse_event(test_event_types.FULL["conversion"])
    record = fast_events.record_from_model(model)
    assert msgspec.structs.asdict(record) == {k: v for k, v in model.__dict__.items() if k != "type"}


class _FieldValidated(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["f"]
    x: int

    @field_validator("x")
    @classmethod
    def _positive(cls, value: int) -> int:
        return value


class _ExtraIgnored(BaseModel):
    model_config = ConfigDict(extra="ignore")
    x: int


class _Unknown(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["u"]
    x: complex


@pytest.mark.parametrize("model", [_FieldValidated, _ExtraIgnored, _Unknown])
def test_a_contract_it_cannot_mirror_fails_at_import_not_silently(model: type[BaseModel]) -> None:
    with pytest.raises(TypeError, match="fast_events cannot mirror"):
        fast_events._record_type(model)  # type: ignore[arg-type]
