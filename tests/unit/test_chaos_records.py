"""The chaos workload on the topic: batch records formed like ingest forms them, and single-event records."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson

from deploy.chaos_workload import events_of, generate, topic_records
from schemas.records import EVENTS_BATCH_V1, split_events


def test_every_event_is_in_exactly_one_record_keyed_by_its_tenant() -> None:
    workload = generate(3000, 5, datetime(2026, 11, 21, tzinfo=UTC), seed=3)
    records = topic_records(workload.records, seed=3, single_share=0.25, batch_events=(100, 500))
    assert Counter(events_of(records)) == Counter(workload.records)  # duplicates (re-sends) included
    for key, value, headers in records:  # a record holds only its key's tenant's events
        events = split_events(EVENTS_BATCH_V1, value) if headers else [value]
        assert {orjson.loads(e)["tenant_id"].encode() for e in events} == {key}


def test_both_formats_are_there_and_batches_are_sized_like_ingest_requests() -> None:
    workload = generate(3000, 5, datetime(2026, 11, 21, tzinfo=UTC), seed=3)
    records = topic_records(workload.records, seed=3, single_share=0.25, batch_events=(100, 500))
    singles = [r for r in records if not r[2]]
    batches = [r for r in records if r[2]]
    assert all(headers == [("tally-format", EVENTS_BATCH_V1)] for _, _, headers in batches)
    assert 0.2 < len(singles) / len(workload.records) < 0.3
    sizes = [len(split_events(EVENTS_BATCH_V1, value)) for _, value, _ in batches]
    full = sizes[: -len({k for k, _, _ in batches})]  # the last batch of each tenant may be short
    assert full and all(100 <= n <= 500 for n in full)
    assert sum(sizes) + len(singles) == len(workload.records)


def test_a_single_share_of_one_is_the_old_topic() -> None:
    workload = generate(200, 3, datetime(2026, 11, 21, tzinfo=UTC))
    assert topic_records(workload.records, single_share=1.0) == [(k, v, []) for k, v in workload.records]
