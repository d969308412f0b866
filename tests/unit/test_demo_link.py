"""`make run`'s sign-in link carries the demo tenant's read key, never its admin key."""

from __future__ import annotations

import stat
from pathlib import Path

from deploy.admin_cli import DemoKeys
from deploy.stack import Stack, dashboard_link

KEYS = DemoKeys(
    tenant_id="demo",
    ingest="tsk_ingest_0000000000000000000000",
    read="tsk_read_00000000000000000000000000",
    admin="tsk_admin_0000000000000000000000000",
    operator="tsk_operator_000000000000000000000",
)


def test_the_link_signs_in_with_the_read_key() -> None:
    assert dashboard_link("http://127.0.0.1:8000", KEYS) == f"http://127.0.0.1:8000/#key={KEYS.read}&tenant=demo"


def test_demo_env_link_has_the_read_key_and_the_file_keeps_the_admin_key_private(tmp_path: Path) -> None:
    stack = Stack(tmp_path, views_port=8000, ingest_port=8001, kafka_port=9092)
    path = stack.write_demo_env(KEYS)
    values = dict(line.split("=", 1) for line in path.read_text().splitlines())
    link = values["TALLY_DASHBOARD_URL"]
    assert f"#key={KEYS.read}&" in link
    assert KEYS.admin not in link and KEYS.operator not in link
    assert values["TALLY_DEMO_ADMIN_KEY"] == KEYS.admin  # still there for writes, in a file only its owner reads
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
