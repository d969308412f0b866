"""Creating tallystream's Kafka topics (the broker does not auto-create them), with the configured
replication (tenancy.replication: TALLY_KAFKA_REPLICATION_FACTOR, TALLY_KAFKA_MIN_INSYNC_REPLICAS),
and checking that the ones that already exist keep at least as many copies."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from tenancy import replication as repl
from tenancy.kafka_log import ensure_keyed_log
from tenancy.replication import Replication

log = logging.getLogger(__name__)


async def ensure_topics(
    bootstrap: str,
    names: list[str],
    partitions: int,
    timeout: float = 60.0,
    configs: dict[str, str] | None = None,
    replication: Replication | None = None,
) -> None:
    """Create `names` with `partitions` partitions (and topic `configs`) unless they exist, with
    `replication` (default: this process's settings); waits for the broker. Raises
    `TopicReplicationError` when any of `names` keeps fewer copies than `replication`."""
    wanted = replication or repl.replication_from_env()
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
        created = await repl.create_missing(
            admin,
            [NewTopic(n, partitions, wanted.factor, topic_configs=wanted.topic_configs(configs)) for n in names],
            wanted,
        )
        if created:
            log.info(
                "created topics %s with %d partitions, %d replicas, min.insync.replicas %d",
                created,
                partitions,
                wanted.factor,
                wanted.min_insync,
            )
        await repl.verify(admin, names, wanted)
    finally:
        await admin.close()


DIRECTORY_TOPIC_CONFIGS = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
"""The tenant directory keeps the latest record per key forever (revocations included)."""


async def ensure_all_topics(
    bootstrap: str,
    events_topic: str,
    dlq_topic: str,
    directory_topic: str,
    partitions: int,
    replication: Replication | None = None,
) -> None:
    """Every topic tallystream uses: events and DLQ with `partitions`, the directory compacted on one;
    all with `replication` (default: this process's settings), existing ones checked against it."""
    await ensure_topics(bootstrap, [events_topic, dlq_topic], partitions, replication=replication)
    await ensure_topics(bootstrap, [directory_topic], 1, configs=DIRECTORY_TOPIC_CONFIGS, replication=replication)


ALERT_STATE_TOPIC_CONFIGS = {"cleanup.policy": "compact", "min.compaction.lag.ms": str(7 * 86_400_000)}
"""The last record per tenant is its alert state; a week before compaction leaves delivery time to catch up."""


async def ensure_alert_topics(
    bootstrap: str, rules_topic: str, state_topic: str, replication: Replication | None = None
) -> None:
    """The alert rules topic and the alert state topic (both compacted, one partition: one order)."""
    await ensure_keyed_log(bootstrap, rules_topic, DIRECTORY_TOPIC_CONFIGS, replication)
    await ensure_keyed_log(bootstrap, state_topic, ALERT_STATE_TOPIC_CONFIGS, replication)
