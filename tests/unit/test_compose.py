"""deploy/docker-compose.yml publishes nothing beyond loopback and carries no default password."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "docker-compose.yml"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN", re.IGNORECASE)
# ${NAME:-default}, ${NAME-default}, ${NAME:=default}, ${NAME=default}: a fallback value
INTERPOLATION_DEFAULT = re.compile(r"\$\{(\w+)(:?[-=])([^}]*)\}")
REQUIRED = re.compile(r"\$\{(\w+):\?[^}]+\}")


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def published(port: str | int | dict[str, Any]) -> tuple[str | None, str]:
    """(host address, the rest) of one `ports:` entry, short ("127.0.0.1:80:8000") or long syntax."""
    if isinstance(port, dict):
        return port.get("host_ip"), f"{port.get('published')}:{port.get('target')}"
    parts = str(port).split(":")
    return (parts[0], ":".join(parts[1:])) if len(parts) == 3 else (None, str(port))


@pytest.mark.parametrize(
    ("entry", "host"),
    [
        ("8000:8000", None),
        ("8000", None),
        (8000, None),
        ("0.0.0.0:8000:8000", "0.0.0.0"),
        ("127.0.0.1:8000:8000", "127.0.0.1"),
        ({"target": 8000, "published": 8000}, None),
        ({"target": 8000, "published": 8000, "host_ip": "127.0.0.1"}, "127.0.0.1"),
    ],
)
def test_the_parser_reads_the_host_of_each_syntax(entry: str | int | dict[str, Any], host: str | None) -> None:
    assert published(entry)[0] == host


def test_every_published_port_is_bound_to_loopback() -> None:
    ports = {name: service.get("ports", []) for name, service in _services().items()}
    assert {name for name, p in ports.items() if p} == {"kafka", "clickhouse", "views", "ingest"}
    for name, entries in ports.items():
        for entry in entries:
            assert published(entry)[0] == "127.0.0.1", f"{name} publishes {entry!r} beyond loopback"


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_no_password_has_a_default_and_clickhouse_requires_it() -> None:
    text = COMPOSE.read_text()
    assert "change-me" not in text
    for match in INTERPOLATION_DEFAULT.finditer(text):
        assert not SECRET_NAME.search(match.group(1)), f"{match.group(0)} gives a secret a default"
    services = _services()
    for name, service in services.items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED.fullmatch(value), f"{name}: {key} must come from the environment, got {value!r}"
    assert (
        _environment(services["clickhouse"])["CLICKHOUSE_PASSWORD"] == "${CLICKHOUSE_PASSWORD:?set CLICKHOUSE_PASSWORD}"
    )
    url = _environment(services["worker"])["CLICKHOUSE_URL"]
    assert url == "http://tally:${CLICKHOUSE_PASSWORD:?set CLICKHOUSE_PASSWORD}@clickhouse:8123"


def test_the_single_broker_compose_tells_every_role_one_copy() -> None:
    services = _services()
    for name in ("worker", "views", "ingest"):
        env = _environment(services[name])  # the shared &tally-env anchor, merged by the YAML loader
        assert (env["TALLY_KAFKA_REPLICATION_FACTOR"], env["TALLY_KAFKA_MIN_INSYNC_REPLICAS"]) == ("1", "1"), name
    assert "--replication-factor 1 --config min.insync.replicas=1" in services["init-topics"]["command"][0]
