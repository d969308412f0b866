"""The pipeline probe on the real broker: consumer lag of a group and the dead-letter rate."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from processors.alerts.probe import PipelineProbe
from tests.live import start_ingest_topics

pytestmark = pytest.mark.integration


async def test_lag_counts_uncommitted_records_and_dlq_rate_counts_new_dead_letters(kafka_bootstrap: str) -> None:
    prefix = f"probe-{uuid.uuid4().hex[:8]}"
    events, dlq, _ = await start_ingest_topics(kafka_bootstrap, prefix)
    group = f"{prefix}-worker"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for i in range(12):
            await producer.send_and_wait(events, b"{}", partition=i % 2)
        probe = PipelineProbe(kafka_bootstrap, group, events, dlq, every=0)
        assert await probe() == {"consumer_lag": 12.0, "dlq_rate": 0.0}
        committer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
        await committer.start()
        try:
            committer.assign([TopicPartition(events, 0)])
            await committer.commit({TopicPartition(events, 0): OffsetAndMetadata(4, "")})
        finally:
            await committer.stop()
        for _ in range(3):
            await producer.send_and_wait(dlq, b"bad")
        figures = await probe()
        assert figures["consumer_lag"] == 8.0  # partition 0: 6 written, 4 committed; partition 1: 6
        assert figures["dlq_rate"] > 0
    finally:
        await producer.stop()
