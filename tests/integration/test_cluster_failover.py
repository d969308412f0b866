"""Kafka durability: topics keep the configured copies, roles refuse topics that keep fewer, and a
three-broker cluster loses one broker for good while ingest and the worker keep every total exact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.chaos import CHECKS, parser, run
from deploy.topics import ensure_all_topics, ensure_topics
from ingest.app import create_app
from tenancy.kafka_log import ensure_keyed_log
from tenancy.replication import FACTOR_ENV, MIN_INSYNC_ENV, Replication, TopicReplicationError
from tests.live import ingest_settings, start_ingest_topics

pytestmark = pytest.mark.integration

ONE_COPY = Replication(factor=1, min_insync=1)
TWO_COPIES = Replication(factor=2, min_insync=1)


async def test_existing_topics_with_fewer_copies_are_refused_naming_them(kafka_bootstrap: str, unique: str) -> None:
    events, dlq, directory = await start_ingest_topics(kafka_bootstrap, unique)  # one copy: the test broker
    await ensure_all_topics(kafka_bootstrap, events, dlq, directory, 6, replication=ONE_COPY)  # as configured: fine
    with pytest.raises(TopicReplicationError) as refused:
        await ensure_all_topics(kafka_bootstrap, events, dlq, directory, 6, replication=TWO_COPIES)
    assert f"topic '{events}': 1 replica(s) < {FACTOR_ENV}=2" in str(refused.value)
    assert f"topic '{dlq}': 1 replica(s)" in str(refused.value)

    await ensure_keyed_log(kafka_bootstrap, f"{unique}.rules", {"cleanup.policy": "compact"}, ONE_COPY)
    with pytest.raises(TopicReplicationError, match=f"topic '{unique}.rules': 1 replica"):
        await ensure_keyed_log(kafka_bootstrap, f"{unique}.rules", {"cleanup.policy": "compact"}, TWO_COPIES)


async def test_a_topic_the_cluster_cannot_replicate_is_a_clear_error(kafka_bootstrap: str, unique: str) -> None:
    with pytest.raises(TopicReplicationError, match=f"cannot create topic '{unique}.new' with {FACTOR_ENV}=2"):
        await ensure_topics(kafka_bootstrap, [f"{unique}.new"], 1, replication=TWO_COPIES)
    with pytest.raises(TopicReplicationError, match=f"{FACTOR_ENV}=1 and {MIN_INSYNC_ENV}=1"):
        await ensure_keyed_log(kafka_bootstrap, f"{unique}.new-log", {}, TWO_COPIES)


async def test_ingest_refuses_to_start_on_topics_with_fewer_copies(kafka_bootstrap: str, unique: str) -> None:
    events, _, _ = await start_ingest_topics(kafka_bootstrap, unique)
    app = create_app(ingest_settings(kafka_bootstrap, unique, kafka_replication_factor=2))
    with pytest.raises(TopicReplicationError, match=f"topic '{events}': 1 replica"):
        async with app.router.lifespan_context(app):
            pass
    started = create_app(ingest_settings(kafka_bootstrap, unique, kafka_replication_factor=1))
    async with started.router.lifespan_context(started):  # the same topics, as configured: it starts
        assert started.state.publisher is not None


@pytest.mark.parametrize("role", ["tallystream-worker", "tallystream-views"])
async def test_worker_and_views_refuse_to_start_on_topics_with_fewer_copies(
    role: str, kafka_bootstrap: str, unique: str, tmp_path: Path
) -> None:
    events, dlq, directory = await start_ingest_topics(kafka_bootstrap, unique)
    env = {
        **os.environ,
        "TALLY_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TALLY_EVENTS_TOPIC": events,
        "TALLY_DLQ_TOPIC": dlq,
        "TALLY_DIRECTORY_TOPIC": directory,
        "TALLY_DATA_DIR": str(tmp_path / "faust"),
        "TALLY_CHDB_PATH": str(tmp_path / "chdb"),
        "TALLY_STORE_URL": "http://127.0.0.1:9",  # never reached: the check comes first
        FACTOR_ENV: "2",
        MIN_INSYNC_ENV: "1",
    }
    env.pop("CLICKHOUSE_URL", None)
    done = subprocess.run(
        [str(Path(sys.executable).with_name(role))], env=env, capture_output=True, text=True, timeout=90, check=False
    )
    assert done.returncode != 0
    assert f"topic '{directory}': 1 replica(s) < {FACTOR_ENV}=2" in done.stderr


async def test_three_brokers_lose_one_for_good_and_every_total_stays_exact() -> None:
    """3 KRaft nodes (deploy/kafka/kafka.sh, KAFKA_NODES=3), topics with 3 copies and 2 in sync; events
    sent over HTTP through tallystream-ingest (a 503 is re-sent, as clients do), node 1 SIGKILLed mid-run
    and never restarted, a worker SIGKILLed too: every event acknowledged is stored exactly once."""
    args = parser().parse_args(
        [
            "--brokers",
            "3",
            "--kill-broker-for-good",
            "--ingest",
            "--events",
            "4000",
            "--tenants",
            "8",
            "--workers",
            "2",
            "--kills",
            "1",
            "--store-outage",
            "0",
            "--seconds",
            "20",
            "--timeout",
            "150",
            "--range-span",
            "1000",
            "--seed",
            "5",
        ]
    )
    report = await run(args)
    assert report["brokers"] == 3
    assert any("SIGKILL Kafka node 1 for good" in step for step in report["chaos"])
    assert not any("restarting the Kafka broker" in step for step in report["chaos"])
    for topic, replication in report["replication"].items():
        # created with 3 copies, 2 in sync; after the kill only 2 are left in sync, and writes went on
        assert replication == {"replicas": 3, "min_insync": 2, "smallest_isr": 2}, topic
    ingest = report["ingest"]
    assert ingest["failures"] == []
    assert set(ingest["status"]) <= {"200", "503", "0"}  # acknowledged, or not (and re-sent)
    assert ingest["acknowledged"] == 4000 + report["duplicates_sent"]  # every request ended in a 2xx
    assert ingest["acknowledged_after_kill"] > 0  # acks=all writes kept succeeding without node 1
    assert [line["check"] for line in report["checks"]] == list(CHECKS)
    for line in report["checks"]:
        assert (line["lost"], line["duplicated"], line["tenants_off"]) == ("0", "0", []), line
        assert line["expected"] == line["observed"], line
    by_check = {line["check"]: line for line in report["checks"]}
    assert by_check["raw.events"]["expected"] == "4000"
    assert report["ok"] is True
