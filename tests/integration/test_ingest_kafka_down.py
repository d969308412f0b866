"""Kafka stopped: ingest answers 503 with Retry-After, never a 2xx, and accepts again once it is back."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ingest.app import create_app
from tests.conftest import KAFKA_SH, free_port
from tests.factories import message
from tests.live import create_tenant, ingest_settings, read_events, serve, start_ingest_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A broker of this test's own, which the test stops and restarts."""
    env = {
        **os.environ,
        "TALLY_VAR": str(tmp_path),
        "KAFKA_PORT": str(free_port()),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
    }
    subprocess.run(["bash", str(KAFKA_SH), "start"], env=env, check=True)
    try:
        yield f"127.0.0.1:{env['KAFKA_PORT']}", env
    finally:
        subprocess.run(["bash", str(KAFKA_SH), "stop"], env=env, check=False)


async def test_kafka_down_is_503_and_nothing_is_acknowledged(
    own_broker: tuple[str, dict[str, str]], unique: str
) -> None:
    bootstrap, env = own_broker
    events_topic, _, directory = await start_ingest_topics(bootstrap, unique)
    keys = await create_tenant(bootstrap, directory, "acme")
    app = create_app(ingest_settings(bootstrap, unique, publish_timeout_seconds=3))
    now = datetime.now(UTC) - timedelta(minutes=1)
    auth = {"authorization": f"Bearer {keys.ingest}"}
    with serve(app, free_port()) as url:
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=30) as client:
            before = [message("acme", now) for _ in range(3)]
            assert (await client.post("/v1/events", json=before)).status_code == 200

            subprocess.run(["bash", str(KAFKA_SH), "stop"], env=env, check=True)
            during = [message("acme", now) for _ in range(3)]
            down = await client.post("/v1/events", json=during)
            assert down.status_code == 503
            assert down.headers["retry-after"] == "1"
            assert down.json()["error"].startswith("event log unavailable: the events were not acknowledged")

            subprocess.run(["bash", str(KAFKA_SH), "start"], env=env, check=True)
            after = [message("acme", now) for _ in range(3)]
            for _ in range(30):  # the producer reconnects on its own
                response = await client.post("/v1/events", json=after)
                if response.status_code == 200:
                    break
                assert response.status_code == 503
            assert response.status_code == 200
            metrics = (await client.get("/metrics")).text
    (line,) = [
        x for x in metrics.splitlines() if x.startswith('tally_ingest_events_rejected_total{reason="unavailable"}')
    ]
    assert float(line.split()[-1]) >= 3
    ids = {v["event_id"] for _, v in await read_events(bootstrap, events_topic, 6)}
    assert {e["event_id"] for e in before + after} <= ids
