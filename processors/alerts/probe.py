"""Pipeline health for platform alert rules: consumer lag of the workers and the dead-letter rate."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError


class PipelineProbe:
    """`consumer_lag`: records of the events topic not yet committed by the worker group;
    `dlq_rate`: dead letters per minute over the last minute. Read at most every `every` seconds."""

    def __init__(self, bootstrap: str, group: str, events_topic: str, dlq_topic: str, every: float = 5.0) -> None:
        self._bootstrap, self._group = bootstrap, group
        self._events, self._dlq, self._every = events_topic, dlq_topic, every
        self._samples: deque[tuple[float, int]] = deque()
        self._last: dict[str, float] = {}
        self._read_at = 0.0

    async def __call__(self) -> dict[str, float]:
        if time.monotonic() - self._read_at < self._every and self._last:
            return self._last
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            committed = {}
            for attempt in range(4):
                try:
                    committed = await admin.list_consumer_group_offsets(self._group)
                    break
                except GroupCoordinatorNotAvailableError:
                    # no group ever committed on this cluster yet (no offsets topic): nothing is committed
                    await asyncio.sleep(0.25 * (attempt + 1))
            described = await admin.describe_topics([self._events, self._dlq])
            partitions = [TopicPartition(t["topic"], p["partition"]) for t in described for p in t["partitions"]]
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
            await admin.close()
        lag = sum(
            end - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0)
            for tp, end in ends.items()
            if tp.topic == self._events
        )
        dead = sum(end for tp, end in ends.items() if tp.topic == self._dlq)
        now = time.monotonic()
        self._samples.append((now, dead))
        while len(self._samples) > 1 and now - self._samples[1][0] >= 60:
            self._samples.popleft()
        first_at, first = self._samples[0]
        minutes = max((now - first_at) / 60, 1 / 60)
        self._last = {"consumer_lag": float(lag), "dlq_rate": (dead - first) / minutes if now > first_at else 0.0}
        self._read_at = now
        return self._last
