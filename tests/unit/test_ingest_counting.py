"""ingest.counting: whether a body holds more documents or spans than the limit, without decoding it."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from ingest.counting import more_documents_than, spans_over
from ingest.parsing import decode_documents


def _value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.3:
        return rng.choice([1, -2.5, "a,b", 'x"]', "\\", None, "", True, '\\"{', "[{}]"])
    if roll < 0.6:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["k", "a,", "[", '"', "}"]): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def test_the_count_agrees_with_decoding_on_random_json() -> None:
    rng = random.Random(7)
    for i in range(2000):
        items = [_value(rng) for _ in range(rng.randint(0, 12))]
        body = json.dumps(items, separators=(",", ":") if i % 2 else (", ", ": ")).encode()
        if i % 3 == 0:
            body = b" \n" + body + b"\n"
        n = len(decode_documents(body, ndjson=False))
        for limit in (max(n - 1, 1), n, n + 1):
            assert more_documents_than(body, False, limit) == (n > limit), (body, limit)
        lines = b"\n\n".join(json.dumps(item).encode() for item in items) + b"\r\n  \r"
        for limit in (max(n - 1, 1), n, n + 1):
            assert more_documents_than(lines, True, limit) == (n > limit), (lines, limit)


@pytest.mark.parametrize("item", [b"{}", b'""', b"1", b'"[,"', b'"a\\"b"', b"[[]]"])
def test_millions_of_tiny_items_are_over_the_limit(item: bytes) -> None:
    body = b"[" + b",".join([item] * 1_000_000) + b"]"
    assert more_documents_than(body, False, 5000)
    assert not more_documents_than(body, False, 1_000_000)


def test_one_object_is_one_document() -> None:
    assert not more_documents_than(b'{"a": [1, 2, 3]}', False, 1)
    assert not more_documents_than(b"[]", False, 1)


def _export(resources: int, scopes: int, spans: int) -> bytes:
    export = ExportTraceServiceRequest()
    for _ in range(resources):
        resource = export.resource_spans.add()
        resource.resource.attributes.add(key="service.name").value.string_value = "svc"
        for _ in range(scopes):
            scope = resource.scope_spans.add()
            scope.scope.name = "lib"
            for i in range(spans):
                scope.spans.add(name=f"s{i}", trace_id=b"\x01" * 16, span_id=b"\x02" * 8, start_time_unix_nano=10**18)
    return bytes(export.SerializeToString())


def test_spans_are_counted_on_the_wire_across_resources_and_scopes() -> None:
    body = _export(2, 3, 5)  # 30 spans
    assert spans_over(body, 30) is None
    assert spans_over(body, 29) == "spans"
    assert spans_over(_export(1, 11, 0), 10) == "scope_spans"
    assert spans_over(_export(11, 0, 0), 10) == "resource_spans"
    assert spans_over(b"\x0a\xff\xff", 10) is None  # malformed: decoding names it


def test_a_body_of_millions_of_unknown_fields_is_refused_after_a_bounded_walk() -> None:
    from ingest.counting import TooManyFields, max_fields

    unknown = b"\x78\x00" * (2 * 1024 * 1024)  # field 15, varint 0: 2 MiB of fields OTLP does not have
    with pytest.raises(TooManyFields) as info:
        spans_over(unknown, 5000)
    limit = max_fields(5000)
    assert limit == 40_008
    assert str(info.value) == f"OTLP body has more than {limit} protobuf fields; at most {limit} per request"
    assert isinstance(info.value, ValueError)  # the route answers 400 with its text
    assert spans_over(b"\x78\x00" * 4000 + _export(2, 3, 5), 30) is None  # a few unknown fields are walked
    with pytest.raises(TooManyFields):  # unknown fields inside the spans' containers count too
        inner = b"\x78\x00" * 5000  # in one ResourceSpans (field 1; its length as a varint: 10000)
        spans_over(b"\x0a\x90\x4e" + inner, 10)


def test_the_largest_legitimate_export_is_within_the_field_budget() -> None:
    body = _export(10, 10, 50)  # 5000 spans over 100 scopes
    assert spans_over(body, 5000) is None
    assert spans_over(_export(1, 5000, 1), 5000) is None
