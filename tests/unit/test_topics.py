"""Replication settings (tenancy.replication): defaults, validation, the shortfall check, and that
every local entry point and manifest states them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from ingest.settings import IngestSettings
from processors.settings import WorkerSettings
from tenancy.replication import (
    FACTOR_ENV,
    MIN_INSYNC_ENV,
    Replication,
    TopicReplicas,
    for_local_cluster,
    replicas_of,
    replication_env,
    shortfall_message,
    shortfalls,
)
from views_api.settings import ViewsSettings

ROOT = Path(__file__).resolve().parents[2]
ROLES = (IngestSettings, WorkerSettings, ViewsSettings)


@pytest.fixture
def no_replication_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """tests/conftest.py sets 1/1 for the test brokers: these tests start from an unset environment."""
    monkeypatch.delenv(FACTOR_ENV, raising=False)
    monkeypatch.delenv(MIN_INSYNC_ENV, raising=False)
    return monkeypatch


@pytest.mark.parametrize("role", ROLES)
def test_every_role_defaults_to_three_copies_two_in_sync(
    role: type[IngestSettings | WorkerSettings | ViewsSettings], no_replication_env: pytest.MonkeyPatch
) -> None:
    assert role().replication == Replication(factor=3, min_insync=2)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_shared_variables(
    role: type[IngestSettings | WorkerSettings | ViewsSettings], no_replication_env: pytest.MonkeyPatch
) -> None:
    no_replication_env.setenv(FACTOR_ENV, "5")
    no_replication_env.setenv(MIN_INSYNC_ENV, "3")
    assert role().replication == Replication(factor=5, min_insync=3)


@pytest.mark.parametrize(
    ("factor", "insync", "named"),
    [
        ("0", "1", FACTOR_ENV),
        ("-3", "1", FACTOR_ENV),
        ("999999", "1", FACTOR_ENV),
        ("three", "1", FACTOR_ENV),
        ("3", "0", MIN_INSYNC_ENV),
        ("1", "2", MIN_INSYNC_ENV),  # more in sync than copies: every acks=all write refused
    ],
)
@pytest.mark.parametrize("role", ROLES)
def test_bad_values_are_refused_naming_the_variable(
    role: type[IngestSettings | WorkerSettings | ViewsSettings],
    factor: str,
    insync: str,
    named: str,
    no_replication_env: pytest.MonkeyPatch,
) -> None:
    no_replication_env.setenv(FACTOR_ENV, factor)
    no_replication_env.setenv(MIN_INSYNC_ENV, insync)
    with pytest.raises(ValidationError, match=named):
        role()


def test_replication_refuses_more_in_sync_than_copies() -> None:
    with pytest.raises(ValidationError, match="exceeds"):
        Replication(factor=2, min_insync=3)


def test_topic_configs_carry_min_insync_and_keep_the_others() -> None:
    configs = Replication(factor=3, min_insync=2).topic_configs({"cleanup.policy": "compact"})
    assert configs == {"cleanup.policy": "compact", "min.insync.replicas": "2"}


def test_shortfalls_name_each_topic_below_the_settings() -> None:
    wanted = Replication(factor=3, min_insync=2)
    found = [
        TopicReplicas("events.raw", 3, 2),  # as configured
        TopicReplicas("events.dlq", 5, 3),  # more is fine
        TopicReplicas("tally.tenants", 1, 1),  # the base code's topics
        TopicReplicas("alerts.state", 3, 1),  # three copies, but acks=all waits for one
    ]
    assert shortfalls(found, wanted) == [
        f"topic 'tally.tenants': 1 replica(s) < {FACTOR_ENV}=3, min.insync.replicas=1 < {MIN_INSYNC_ENV}=2",
        f"topic 'alerts.state': min.insync.replicas=1 < {MIN_INSYNC_ENV}=2",
    ]
    message = shortfall_message(shortfalls(found, wanted))
    assert "'tally.tenants'" in message and f"{FACTOR_ENV}=1 and {MIN_INSYNC_ENV}=1" in message
    assert shortfalls(found[:2], wanted) == []


def test_replicas_of_takes_the_least_replicated_partition() -> None:
    partitions = [{"replicas": [1, 2, 3]}, {"replicas": [2]}, {"replicas": [3, 1]}]
    assert replicas_of({"error_code": 0, "topic": "t", "partitions": partitions}) == 1
    assert replicas_of({"error_code": 3, "topic": "t", "partitions": []}) is None


@pytest.mark.parametrize(("brokers", "factor", "insync"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)])
def test_kafka_sh_and_the_local_rule_agree(brokers: int, factor: int, insync: int) -> None:
    assert for_local_cluster(brokers) == Replication(factor=factor, min_insync=insync)
    env = {**os.environ, "KAFKA_NODES": str(brokers), "KAFKA_PORT": "19092", "KAFKA_CONTROLLER_PORT": "19093"}
    out = subprocess.run(
        ["bash", str(ROOT / "deploy/kafka/kafka.sh"), "env"], env=env, capture_output=True, text=True, check=True
    ).stdout
    exported = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    assert exported == {
        "TALLY_KAFKA_BOOTSTRAP": ",".join(f"127.0.0.1:{19092 + 2 * i}" for i in range(brokers)),
        **replication_env(for_local_cluster(brokers)),
    }


def test_the_k8s_configmap_states_the_production_settings() -> None:
    data = yaml.safe_load((ROOT / "deploy/k8s/configmap.yaml").read_text())["data"]
    assert (data[FACTOR_ENV], data[MIN_INSYNC_ENV]) == ("3", "2")
    assert len(data["TALLY_KAFKA_BOOTSTRAP"].split(",")) == 3  # every broker: clients survive losing one
