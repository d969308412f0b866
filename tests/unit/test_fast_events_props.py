"""Differential property tests: schemas/fast_events.py against the pydantic contract.

The oracle is today's worker path, `orjson.loads` then `parse_event`. For every generated event the
fast decoder must give the same verdict, the same reason (so the same field named) and, for a
valid event, the same values with the same types as pydantic's parsed model. Besides, the msgspec
fast path alone must never accept what pydantic refuses (the fallback could hide that).
Deterministic: derandomized, no example database.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import fast_events
from schemas.event_models import EVENT_MODELS, EventBase
from schemas.events import describe_validation_error, parse_event
from tests.unit.fast_events_strategies import encode, event_doc, mutated

DIFFERENTIAL = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
MODELS = pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)


def oracle(raw: bytes) -> EventBase | str:
    """What the worker does today: the model, or the dead-letter reason."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {exc}"
    try:
        return parse_event(doc)  # type: ignore[return-value]
    except ValidationError as exc:
        return f"invalid event: {describe_validation_error(exc)}"


def fields_of(record: msgspec.Struct) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__struct_fields__}


def assert_same_values(record: msgspec.Struct, model: EventBase) -> None:
    assert record.type == model.type  # type: ignore[attr-defined]
    expected = {name: getattr(model, name) for name in type(model).model_fields if name != "type"}
    got = fields_of(record)
    assert got == expected
    for name, value in expected.items():  # equal and of the same type: 5 is not 5.0, a Decimal not a float
        assert type(got[name]) is type(value), name
        if name == "timestamp":
            assert got[name].tzinfo is value.tzinfo, "normalised to UTC like pydantic"
        if isinstance(value, dict):
            assert [type(v) for v in got[name].values()] == [type(v) for v in value.values()], name


def check(raw: bytes) -> EventBase | str:
    expected = oracle(raw)
    decoded = fast_events.decode_batch([raw], start=7)
    try:
        fast: msgspec.Struct | None = fast_events._ONE.decode(raw)
    except fast_events._REFUSED:
        fast = None
    if isinstance(expected, str):
        assert fast is None, f"the msgspec fast path accepted what pydantic refuses: {expected}"
        assert decoded.records == [] and decoded.indices == []
        assert decoded.invalid == [fast_events.Invalid(7, expected)]
    else:
        assert decoded.invalid == [] and decoded.indices == [7]
        assert_same_values(decoded.records[0], expected)
        if fast is not None:
            assert_same_values(fast, expected)
    return expected


@MODELS
@DIFFERENTIAL
@given(data=st.data())
def test_canonical_events_take_the_fast_path_with_pydantics_values(model: type[EventBase], data: st.DataObject) -> None:
    """Valid events in their plain JSON form: accepted by both, by msgspec itself, with equal values."""
    raw = encode(data.draw(event_doc(model, canonical=True)))
    expected = check(raw)
    assert not isinstance(expected, str), expected
    fast_events._ONE.decode(raw)  # the fast path, not the fallback, took it


@MODELS
@DIFFERENTIAL
@given(data=st.data())
def test_edgy_and_mutated_events_get_pydantics_verdict(model: type[EventBase], data: st.DataObject) -> None:
    """Bounds, lax forms, wrong types, missing/extra/duplicate keys, raw NaN/1e400/huge ints, non-objects."""
    check(data.draw(mutated(model)))


@DIFFERENTIAL
@given(st.lists(st.sampled_from(EVENT_MODELS).flatmap(lambda m: mutated(m)), min_size=1, max_size=6))
def test_an_array_decodes_like_its_events_one_by_one(raws: list[bytes]) -> None:
    """decode_array (one batched record) == decode_batch of its elements; a bad one fails only itself."""
    docs: list[Any] = []
    for raw in raws:
        try:
            docs.append(orjson.loads(raw))
        except orjson.JSONDecodeError:
            docs.append({"not": "an event"})
    buffer = orjson.dumps(docs)
    whole = fast_events.decode_array(buffer, start=100)
    one_by_one = fast_events.decode_batch([orjson.dumps(d) for d in docs], start=100)
    assert whole.indices == one_by_one.indices
    assert whole.invalid == one_by_one.invalid
    assert [fields_of(r) for r in whole.records] == [fields_of(r) for r in one_by_one.records]
    for index, record in zip(whole.indices, whole.records, strict=True):
        model = oracle(orjson.dumps(docs[index - 100]))
        assert not isinstance(model, str)
        assert_same_values(record, model)
