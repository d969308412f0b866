"""Creating tallystream's Kafka topics (the broker does not auto-create them)."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from tenancy.kafka_log import ensure_keyed_log

log = logging.getLogger(__name__)


async def ensure_topics(
    bootstrap: str,
    names: list[str],
    partitions: int,
    timeout: float = 60.0,
    configs: dict[str, str] | None = None,
) -> None:
    """Create `names` with `partitions` partitions (and topic `configs`) unless they exist; waits for the broker."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            await admin.close()
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [
                        NewTopic(name=n, num_partitions=partitions, replication_factor=1, topic_configs=configs or {})
                        for n in missing
                    ]
                )
            except TopicAlreadyExistsError:
                pass
            log.info("created topics %s with %d partitions", missing, partitions)
    finally:
        await admin.close()


DIRECTORY_TOPIC_CONFIGS = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
"""The tenant directory keeps the latest record per key forever (revocations included)."""


async def ensure_all_topics(
    bootstrap: str, events_topic: str, dlq_topic: str, directory_topic: str, partitions: int
) -> None:
    """Every topic tallystream uses: events and DLQ with `partitions`, the directory compacted on one."""
    await ensure_topics(bootstrap, [events_topic, dlq_topic], partitions)
    await ensure_topics(bootstrap, [directory_topic], 1, configs=DIRECTORY_TOPIC_CONFIGS)


ALERT_STATE_TOPIC_CONFIGS = {"cleanup.policy": "compact", "min.compaction.lag.ms": str(7 * 86_400_000)}
"""The last record per tenant is its alert state; a week before compaction leaves delivery time to catch up."""


async def ensure_alert_topics(bootstrap: str, rules_topic: str, state_topic: str) -> None:
    """The alert rules topic and the alert state topic (both compacted, one partition: one order)."""
    await ensure_keyed_log(bootstrap, rules_topic, DIRECTORY_TOPIC_CONFIGS)
    await ensure_keyed_log(bootstrap, state_topic, ALERT_STATE_TOPIC_CONFIGS)
