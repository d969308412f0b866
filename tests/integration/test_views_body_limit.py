"""The views API refuses request bodies over their route's limit before authentication reads them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest

from tenancy.directory import Directory
from tests.live import free_port, serve
from tests.rawhttp import chunked, exchange
from views_api.main import create_app

pytestmark = pytest.mark.integration

SETTINGS = "/api/dashboard/acme/settings"
LIMIT = "request body is larger than 65536 bytes, the limit of settings requests"


@pytest.fixture
def url() -> Iterator[str]:
    """The views app over real HTTP; no route is reached with these bodies, so no warehouse is needed."""
    app = create_app(cast(Any, None), "db", Directory())
    with serve(app, free_port()) as served:
        yield served


def test_a_100_mb_settings_body_is_refused_on_its_head(url: str) -> None:
    small = exchange(url, "PUT", SETTINGS, {"content-type": "application/json", "content-length": "2"}, [b"{}"])
    assert small.status == 401  # the route is there, and anonymous
    headers = {"content-type": "application/json", "content-length": str(100 * 1024 * 1024)}
    answer = exchange(url, "PUT", SETTINGS, headers, [b" " * 1024])
    assert answer.status == 413  # before: the server waited for the 100 MB before answering 401
    assert answer.error() == LIMIT
    assert answer.sent <= 1024


def test_a_chunked_body_is_refused_once_past_the_limit(url: str) -> None:
    parts = chunked([b" " * 16384] * 256)  # 4 MiB if it were all read
    answer = exchange(url, "PUT", SETTINGS, {"transfer-encoding": "chunked"}, parts, end=b"0\r\n\r\n")
    assert answer.status == 413, answer
    assert answer.error() == LIMIT
    assert answer.sent < 1024 * 1024
    rules = exchange(
        url,
        "POST",
        "/api/dashboard/acme/alerts/rules",
        {"transfer-encoding": "chunked"},
        chunked([b" " * 16384] * 256),
        end=b"0\r\n\r\n",
    )
    assert rules.status == 413
    assert rules.error() == "request body is larger than 65536 bytes, the limit of other requests"
