from __future__ import annotations

import gzip
from datetime import UTC, datetime

import orjson
import pytest

from ingest.parsing import BodyError, decode_documents, decompress, validate_events
from tests.factories import llm_call, message

TS = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)


def test_ndjson_and_array_bodies_decode_alike() -> None:
    events = [llm_call("acme", TS), message("acme", TS)]
    ndjson = b"\n".join(orjson.dumps(e) for e in events) + b"\n\n"
    assert decode_documents(ndjson, ndjson=True) == events
    assert decode_documents(orjson.dumps(events), ndjson=False) == events
    assert decode_documents(orjson.dumps(events[0]), ndjson=False) == [events[0]]


def test_malformed_json_is_a_400_with_its_position() -> None:
    with pytest.raises(BodyError) as info:
        decode_documents(b'[{"a": 1},\n {"b": }]', ndjson=False)
    assert info.value.status == 400
    assert "malformed JSON" in str(info.value) and "line 2" in str(info.value)
    with pytest.raises(BodyError, match="malformed JSON on line 2"):
        decode_documents(b'{"a": 1}\n{oops}\n', ndjson=True)


def test_gzip_is_inflated_within_the_limit() -> None:
    raw = orjson.dumps([llm_call("acme", TS)])
    assert decompress(gzip.compress(raw), "gzip", 10_000) == raw
    with pytest.raises(BodyError) as info:
        decompress(gzip.compress(b" " * 20_000), "gzip", 10_000)
    assert info.value.status == 413
    with pytest.raises(BodyError) as info:
        decompress(b"x" * 20_000, None, 10_000)
    assert info.value.status == 413
    with pytest.raises(BodyError) as info:
        decompress(b"not gzip", "gzip", 10_000)
    assert info.value.status == 400
    with pytest.raises(BodyError) as info:
        decompress(raw, "br", 10_000)
    assert info.value.status == 415


def test_validation_reports_index_event_id_and_field() -> None:
    good = llm_call("acme", TS)
    bad = llm_call("acme", TS, output_tokens="many")
    accepted, rejected = validate_events([good, bad, 7])
    assert [str(e.event_id) for e in accepted] == [good["event_id"]]
    assert [(r.index, r.event_id) for r in rejected] == [(1, bad["event_id"]), (2, None)]
    assert rejected[0].error.startswith("llm_call.output_tokens: Input should be a valid integer")
