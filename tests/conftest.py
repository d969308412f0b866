"""Shared fixtures: the real Kafka broker for the session, fresh names per test."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tenancy.replication import for_local_cluster, replication_env
from tests.live import IngestServer, free_port

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"

# The tests' brokers (the session's, and those tests start of their own) are single nodes holding one
# copy: topics are created, and checked, with replication 1 and 1 unless the environment says otherwise.
for _name, _value in replication_env(for_local_cluster(1)).items():
    os.environ.setdefault(_name, _value)


def _docker_available() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    )


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Kafka broker: $TALLY_TEST_KAFKA_BOOTSTRAP, a testcontainers Kafka where Docker runs,
    else the project's own KRaft broker started on free ports for this session."""
    if given := os.environ.get("TALLY_TEST_KAFKA_BOOTSTRAP"):
        yield given
        return
    if _docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    var = tmp_path_factory.mktemp("kafka-var")
    env = {
        **os.environ,
        "TALLY_VAR": str(var),
        "KAFKA_PORT": str(free_port()),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
    }
    subprocess.run(["bash", str(KAFKA_SH), "start"], env=env, check=True)
    try:
        yield f"127.0.0.1:{env['KAFKA_PORT']}"
    finally:
        subprocess.run(["bash", str(KAFKA_SH), "stop"], env=env, check=False)


@pytest.fixture
def unique() -> str:
    """A short name unique to this test, for topics, groups and databases."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def ingest_server(kafka_bootstrap: str, unique: str) -> AsyncIterator[IngestServer]:
    """The ingest service over real HTTP on fresh topics, with two tenants (`acme-<id>`, `globex-<id>`)
    and their ingest/read/admin keys, plus an operator admin key."""
    from ingest.app import create_app
    from tests.live import (
        IngestServer,
        create_operator_key,
        create_tenant,
        ingest_settings,
        serve,
        start_ingest_topics,
    )

    events, dlq, directory = await start_ingest_topics(kafka_bootstrap, unique)
    tenant = await create_tenant(kafka_bootstrap, directory, f"acme-{unique}")
    other = await create_tenant(kafka_bootstrap, directory, f"globex-{unique}")
    operator = await create_operator_key(kafka_bootstrap, directory)
    app = create_app(ingest_settings(kafka_bootstrap, unique, max_batch_events=1000, publish_timeout_seconds=5))
    with serve(app, free_port()) as url:
        yield IngestServer(url, kafka_bootstrap, events, dlq, directory, tenant, other, operator, app)
