"""How many copies Kafka keeps of every tallystream topic, and the start-up check that it does.

Production defaults: replication factor 3 and `min.insync.replicas` 2, so an acks=all write (every
2xx of ingest, every directory and alert-state write) is on two brokers' disks before it is
acknowledged, and losing one broker stops nothing. A single local broker cannot hold three copies:
its entry points (`make run`, the tests, chaos, the benchmarks) set both to 1 explicitly.

Every role that creates topics creates them with these settings, and every role checks at start
that the existing topics it uses have at least as many replicas and at least this
`min.insync.replicas`; a topic below them stops the role with a message naming it (production must
not silently run on one copy).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_REPLICATION_FACTOR = 3
DEFAULT_MIN_INSYNC_REPLICAS = 2
MAX_REPLICAS = 32
FACTOR_ENV = "TALLY_KAFKA_REPLICATION_FACTOR"
MIN_INSYNC_ENV = "TALLY_KAFKA_MIN_INSYNC_REPLICAS"
MIN_INSYNC = "min.insync.replicas"

_TOPIC_ALREADY_EXISTS = 36
_INVALID_REPLICATION_FACTOR = 38
_UNKNOWN_TOPIC = 3


class TopicReplicationError(RuntimeError):
    """A topic has fewer copies than configured, or cannot be created with them."""


class Replication(BaseModel):
    """Copies of each partition (`factor`) and how many must have a write before acks=all returns."""

    model_config = ConfigDict(frozen=True)

    factor: int = Field(default=DEFAULT_REPLICATION_FACTOR, ge=1, le=MAX_REPLICAS)
    min_insync: int = Field(default=DEFAULT_MIN_INSYNC_REPLICAS, ge=1, le=MAX_REPLICAS)

    @model_validator(mode="after")
    def _insync_within_factor(self) -> Replication:
        if self.min_insync > self.factor:
            raise ValueError(
                f"{MIN_INSYNC_ENV} ({self.min_insync}) exceeds {FACTOR_ENV} ({self.factor}): "
                "every acks=all write would be refused"
            )
        return self

    def topic_configs(self, configs: Mapping[str, str] | None = None) -> dict[str, str]:
        """`configs` plus this `min.insync.replicas`, for a topic about to be created."""
        return {**(configs or {}), MIN_INSYNC: str(self.min_insync)}


class KafkaReplicationSettings(BaseSettings):
    """The two settings, shared by every role (same variables, whatever the role's own prefix)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    kafka_replication_factor: int = Field(
        default=DEFAULT_REPLICATION_FACTOR, ge=1, le=MAX_REPLICAS, validation_alias=FACTOR_ENV
    )
    """Copies of each partition of the topics tallystream creates (3 in production, 1 for one local broker)."""
    kafka_min_insync_replicas: int = Field(
        default=DEFAULT_MIN_INSYNC_REPLICAS, ge=1, le=MAX_REPLICAS, validation_alias=MIN_INSYNC_ENV
    )
    """Copies that must have a write before Kafka acknowledges it (2 in production, 1 for one local broker)."""

    @model_validator(mode="after")
    def _consistent(self) -> KafkaReplicationSettings:
        self.replication  # noqa: B018 - raises when min.insync.replicas exceeds the factor
        return self

    @property
    def replication(self) -> Replication:
        return Replication(factor=self.kafka_replication_factor, min_insync=self.kafka_min_insync_replicas)


def for_local_cluster(brokers: int) -> Replication:
    """What a local cluster of `brokers` nodes can hold: up to 3 copies, one of them allowed to be missing
    once there are three (the rule deploy/kafka/kafka.sh applies to Kafka's own topics)."""
    factor = max(1, min(brokers, 3))
    return Replication(factor=factor, min_insync=factor - 1 if factor >= 3 else 1)


def replication_env(replication: Replication) -> dict[str, str]:
    """The environment variables that give a process `replication`."""
    return {FACTOR_ENV: str(replication.factor), MIN_INSYNC_ENV: str(replication.min_insync)}


def replication_from_env() -> Replication:
    """The replication settings of this process's environment (production defaults when unset)."""
    return KafkaReplicationSettings().replication


@dataclass(frozen=True)
class TopicReplicas:
    """What the cluster holds for one topic: the fewest replicas of any partition, and its min.insync."""

    topic: str
    replicas: int
    min_insync: int


def shortfalls(found: Iterable[TopicReplicas], wanted: Replication) -> list[str]:
    """One line per topic with fewer replicas or a lower `min.insync.replicas` than `wanted` (pure)."""
    problems = []
    for t in found:
        low = []
        if t.replicas < wanted.factor:
            low.append(f"{t.replicas} replica(s) < {FACTOR_ENV}={wanted.factor}")
        if t.min_insync < wanted.min_insync:
            low.append(f"{MIN_INSYNC}={t.min_insync} < {MIN_INSYNC_ENV}={wanted.min_insync}")
        if low:
            problems.append(f"topic {t.topic!r}: " + ", ".join(low))
    return problems


def shortfall_message(problems: list[str]) -> str:
    return (
        "Kafka topics keep fewer copies than configured: "
        + "; ".join(problems)
        + ". Raise them (kafka-reassign-partitions.sh for replicas, kafka-configs.sh --alter "
        f"--add-config {MIN_INSYNC}=N), or, on a single local broker, set {FACTOR_ENV}=1 and {MIN_INSYNC_ENV}=1."
    )


def replicas_of(metadata: Mapping[str, Any]) -> int | None:
    """The fewest replicas of any partition in one topic's metadata; None when the topic is unknown."""
    if metadata.get("error_code") or not metadata.get("partitions"):
        return None
    return min(len(p["replicas"]) for p in metadata["partitions"])


async def _describe_once(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicReplicas] | None:
    """One attempt; None when a broker does not know a topic yet (just created) or is not reachable."""
    replicas = {m["topic"]: replicas_of(m) for m in await admin.describe_topics(topics)}
    existing = [t for t in topics if replicas.get(t) is not None]
    if not existing:
        return []
    resources = [ConfigResource(ConfigResourceType.TOPIC, t, configs={MIN_INSYNC: None}) for t in existing]
    insync: dict[str, int] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.to_object()["resources"]:
            if resource["error_code"] == _UNKNOWN_TOPIC:
                return None
            if resource["error_code"]:
                raise KafkaError(f"describing {resource['resource_name']!r}: {resource['error_message']}")
            for entry in resource["config_entries"]:
                if entry["config_names"] == MIN_INSYNC:
                    insync[resource["resource_name"]] = int(entry["config_value"])
    if not all(t in insync for t in existing):
        return None
    return [TopicReplicas(t, replicas[t] or 0, insync[t]) for t in existing]


async def describe(admin: AIOKafkaAdminClient, topics: list[str], timeout: float = 30.0) -> list[TopicReplicas]:
    """Replicas and min.insync.replicas of the existing `topics` (missing ones are left out). Retries
    while a broker is unreachable (a dead broker stays in the metadata until the controller fences it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        problem = "a broker did not know every topic yet"
        try:
            found = await _describe_once(admin, topics)
            if found is not None:
                return found
        except KafkaError as exc:
            problem = repr(exc)
        if loop.time() > deadline:
            raise TopicReplicationError(f"could not read the replication of {topics} within {timeout:g}s: {problem}")
        await asyncio.sleep(0.5)


async def verify(admin: AIOKafkaAdminClient, topics: list[str], wanted: Replication) -> None:
    """Raise `TopicReplicationError` naming every existing topic of `topics` below `wanted`."""
    problems = shortfalls(await describe(admin, topics), wanted)
    if problems:
        raise TopicReplicationError(shortfall_message(problems))


async def _create_once(admin: AIOKafkaAdminClient, topics: list[NewTopic], wanted: Replication) -> list[str]:
    existing = set(await admin.list_topics())
    missing = [t for t in topics if t.name not in existing]
    if not missing:
        return []
    response = (await admin.create_topics(missing)).to_object()
    created = []
    for result in response["topic_errors"]:
        code = result["error_code"]
        if code == 0:
            created.append(result["topic"])
        elif code == _INVALID_REPLICATION_FACTOR:
            raise TopicReplicationError(
                f"cannot create topic {result['topic']!r} with {FACTOR_ENV}={wanted.factor}: "
                f"{result['error_message']} (on a single local broker set {FACTOR_ENV}=1 and {MIN_INSYNC_ENV}=1)"
            )
        elif code != _TOPIC_ALREADY_EXISTS:
            raise KafkaError(f"creating topic {result['topic']!r}: error {code}: {result['error_message']}")
    return created


async def create_missing(
    admin: AIOKafkaAdminClient, topics: list[NewTopic], wanted: Replication, timeout: float = 30.0
) -> list[str]:
    """Create those of `topics` that do not exist; returns the names created. Retries while a broker is
    unreachable; a cluster with fewer brokers than the replication factor is a `TopicReplicationError`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await _create_once(admin, topics, wanted)
        except TopicReplicationError:
            raise
        except KafkaError:
            if loop.time() > deadline:
                raise
        await asyncio.sleep(0.5)


async def check_topics(bootstrap: str, topics: list[str], wanted: Replication | None = None) -> None:
    """At a role's start: the existing `topics` keep at least `wanted` copies (else `TopicReplicationError`)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await verify(admin, topics, wanted or replication_from_env())
    finally:
        await admin.close()
