"""Where accepted events are published: a small interface and its Kafka adapter."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer


class PublishError(RuntimeError):
    """The broker did not acknowledge every event in time."""


class Publisher(Protocol):
    async def publish(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        """Publish (key, value) records; returns only once all are durable, else raises PublishError."""


class KafkaPublisher:
    """An idempotent aiokafka producer with acks=all: a return means every record is replicated."""

    def __init__(self, bootstrap: str, topic: str, timeout: float) -> None:
        self._topic = topic
        self._timeout = timeout
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_batch_size=1024 * 1024,
            request_timeout_ms=int(timeout * 1000),
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                futures = [await self._producer.send(self._topic, value, key=key) for key, value in records]
                await asyncio.gather(*futures)
        except Exception as exc:  # timeout, KafkaError, connection loss
            raise PublishError(f"Kafka did not acknowledge the events: {exc!r}") from exc
