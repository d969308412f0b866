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


def test_concatenated_gzip_members_are_all_read() -> None:
    import gzip as _gzip

    from ingest.parsing import decompress as _decompress

    body = _gzip.compress(b'{"a": 1}\n') + _gzip.compress(b'{"b": 2}\n')
    assert _decompress(body, "gzip", 1000) == b'{"a": 1}\n{"b": 2}\n'


def test_a_truncated_gzip_stream_is_refused_not_read_short() -> None:
    import gzip as _gzip

    from ingest.parsing import BodyError as _BodyError
    from ingest.parsing import decompress as _decompress

    body = _gzip.compress(b'{"a": 1}\n' * 50)
    with pytest.raises(_BodyError) as info:
        _decompress(body[: len(body) // 2], "gzip", 10_000)
    assert info.value.status == 400
    assert "ends before its end marker" in str(info.value)


async def test_read_body_refuses_a_declared_or_streamed_oversize_body() -> None:
    from ingest.parsing import BodyError as _BodyError
    from ingest.parsing import read_body

    async def chunks(*parts: bytes):  # type: ignore[no-untyped-def]
        for part in parts:
            yield part

    assert await read_body(chunks(b"ab", b"cd"), "4", 4) == b"abcd"
    for length, parts in (("5", (b"abcde",)), (None, (b"abc", b"de"))):
        with pytest.raises(_BodyError) as info:
            await read_body(chunks(*parts), length, 4)
        assert (info.value.status, str(info.value)) == (413, "body is larger than 4 bytes")


def test_gzip_is_inflated_as_it_arrives_and_refused_once_past_the_limit() -> None:
    from ingest.parsing import Inflater

    body = gzip.compress(b"a" * 3000) + gzip.compress(b"b" * 3000)
    whole = Inflater("gzip", 6000)
    for i in range(0, len(body), 7):  # members split anywhere
        whole.feed(body[i : i + 7])
    assert whole.finish() == b"a" * 3000 + b"b" * 3000
    bomb = gzip.compress(b"\0" * 50_000_000)  # ~50 KB that inflates to 50 MB
    inflater = Inflater("gzip", 10_000)
    with pytest.raises(BodyError) as info:
        for i in range(0, len(bomb), 1024):
            inflater.feed(bomb[i : i + 1024])
    assert (info.value.status, str(info.value)) == (413, "decompressed body is larger than 10000 bytes")
    assert inflater.received <= 1024 and inflater.inflated == 10_001  # the first chunk was enough
    with pytest.raises(BodyError) as info:
        Inflater("gzip", 100).finish()
    assert info.value.status == 400  # an empty body is no gzip stream


def test_gzip_members_are_bounded_and_counted() -> None:
    from ingest.parsing import MAX_GZIP_MEMBERS, Inflater

    empty = gzip.compress(b"")
    inflater = Inflater("gzip", 6 * 1024 * 1024)
    with pytest.raises(BodyError) as info:
        inflater.feed(empty * 262_144)  # 5 MiB of empty members, in one piece
    assert (info.value.status, str(info.value)) == (400, "body has more than 64 gzip members; at most 64")
    assert inflater.members == MAX_GZIP_MEMBERS + 1  # refused at the first member too many
    fine = Inflater("gzip", 10_000)
    fine.feed(b"".join(gzip.compress(b"%d\n" % i) for i in range(MAX_GZIP_MEMBERS)))
    assert fine.finish() == b"".join(b"%d\n" % i for i in range(MAX_GZIP_MEMBERS))
    assert fine.members == MAX_GZIP_MEMBERS


def test_members_across_slices_of_a_large_feed_are_all_read() -> None:
    from ingest.parsing import Inflater

    payload = bytes(range(256)) * 2000  # incompressible enough to span several slices
    body = gzip.compress(payload, 0) + gzip.compress(b"tail", 0)
    inflater = Inflater("gzip", 10**6)
    inflater.feed(body)
    assert inflater.finish() == payload + b"tail"
    assert inflater.members == 2


def test_a_request_costs_its_events_or_its_kib_whichever_is_more() -> None:
    from ingest.metering import Cost
    from ingest.parsing import Inflater

    body = Inflater(None, 10 * 1024 * 1024)
    body.feed(b"x" * (5 * 1024 * 1024))
    cost = Cost(body)
    assert (cost.kib(), cost.tokens(), cost.beyond_events()) == (5120, 5120, 5120)  # no event: all of it
    cost.events = 12
    assert cost.beyond_events() == 5108  # its 12 events took theirs when they were published
    small = Cost(Inflater(None, 10_000), events=12)
    small.inflater.feed(b"y" * 3000)
    assert (small.kib(), small.tokens(), small.beyond_events()) == (3, 12, 0)  # not charged twice
    gz = Inflater("gzip", 10**6)
    gz.feed(gzip.compress(b"z" * 100_000))  # received ~ 100 bytes, inflated 100,000: the larger counts
    assert Cost(gz).kib() == 98
    assert Cost(Inflater(None, 10)).tokens() == 1  # an empty body costs one
