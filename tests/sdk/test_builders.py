"""Tracking dicts and models, local validation, and the convenience builders."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from pydantic import ValidationError

from schemas.events import Conversion, CustomEvent, LlmCall, Message, ProductEvent, event_to_json
from tallystream_sdk import Client
from tests.sdk.conftest import API_KEY, BASE_URL, TENANT

TS = datetime(2026, 11, 21, 10, 30, tzinfo=UTC)


@pytest.fixture
def client() -> Iterator[Client]:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"accepted": 0}))
    client = Client(BASE_URL, API_KEY, TENANT, transport=transport, flush_interval=3600)
    yield client
    client.close()


def test_dicts_get_id_tenant_and_timestamp_filled_in(client: Client) -> None:
    before = datetime.now(UTC)
    event = client.track({"type": "message", "session_id": "s-1", "role": "user"})
    assert isinstance(event, Message)
    assert event.tenant_id == TENANT
    assert event.event_id.version == 4
    assert before <= event.timestamp <= datetime.now(UTC)


def test_given_fields_are_kept(client: Client) -> None:
    event_id = uuid.uuid4()
    event = client.track(
        {"type": "message", "session_id": "s-1", "role": "user", "event_id": str(event_id), "timestamp": TS}
    )
    assert (event.event_id, event.timestamp) == (event_id, TS)


def test_invalid_dicts_fail_at_the_call_site(client: Client) -> None:
    with pytest.raises(ValidationError, match="latency_ms"):
        client.track({"type": "llm_call", "provider": "openai", "model": "gpt-4o"})
    with pytest.raises(ValidationError, match="cached_input_tokens must not exceed"):
        client.llm_call("openai", "gpt-4o", latency_ms=1, input_tokens=10, cached_input_tokens=20)
    with pytest.raises(ValidationError, match="exactly one of rating"):
        client.feedback(rating=4, thumbs="up")
    assert client.stats.queued == 0


def test_events_of_another_tenant_are_refused(client: Client) -> None:
    with pytest.raises(ValueError, match="'globex' is not this client's tenant 'acme'"):
        client.track({"type": "message", "session_id": "s-1", "role": "user", "tenant_id": "globex"})


def test_only_events_or_dicts_are_tracked(client: Client) -> None:
    with pytest.raises(TypeError, match="not str"):
        client.track("message")  # type: ignore[call-overload]


def test_a_model_is_tracked_as_is(client: Client) -> None:
    event = LlmCall(
        type="llm_call",
        event_id=uuid.uuid4(),
        tenant_id=TENANT,
        timestamp=TS,
        provider="anthropic",
        model="claude-sonnet-4",
        latency_ms=900,
    )
    assert client.track(event) is event
    assert client.stats.queued == 1


def test_llm_call_builder(client: Client) -> None:
    event = client.llm_call(
        "openai",
        "o3-mini",
        latency_ms=1200,
        input_tokens=900,
        output_tokens=400,
        cached_input_tokens=256,
        reasoning_tokens=320,
        feature="summarise",
        session_id="s-7",
        end_user_id="u-1",
        properties={"plan": "pro"},
    )
    assert (event.provider, event.model, event.operation, event.status) == ("openai", "o3-mini", "chat", "ok")
    assert (event.input_tokens, event.output_tokens, event.cached_input_tokens, event.reasoning_tokens) == (
        900,
        400,
        256,
        320,
    )
    assert (event.feature, event.session_id, event.end_user_id, event.properties) == (
        "summarise",
        "s-7",
        "u-1",
        {"plan": "pro"},
    )


def test_other_builders(client: Client) -> None:
    assert client.message("s-1", "assistant", content_chars=120).content_chars == 120
    assert client.session_started("s-1", channel="web", timestamp=TS).timestamp == TS
    ended = client.session_ended("s-1", reason="timeout", duration_ms=60_000)
    assert (ended.reason, ended.duration_ms) == ("timeout", 60_000)
    tool = client.tool_call("order_status", latency_ms=35, status="error", error_type="NotFound")
    assert (tool.tool_name, tool.latency_ms, tool.status, tool.error_type) == ("order_status", 35, "error", "NotFound")
    product = client.product_event("clicked", "SKU-1", product_name="Red shoe", category="shoes", session_id="s-1")
    assert isinstance(product, ProductEvent)
    assert (product.action, product.product_id, product.category) == ("clicked", "SKU-1", "shoes")
    search = client.search("red shoes", 0, latency_ms=12)
    assert (search.query, search.results_count, search.latency_ms) == ("red shoes", 0, 12)
    assert client.feedback(rating=5, comment_chars=10).rating == 5
    assert client.stats.queued == 7


def test_conversion_revenue_stays_exact(client: Client) -> None:
    event = client.conversion("order-1", "19.99", currency="EUR", attributed_session_id="s-1")
    assert isinstance(event, Conversion)
    assert event.revenue == Decimal("19.99")
    assert b'"revenue":"19.99"' in event_to_json(event)
    sold = client.conversion("order-2", "5", feature="chat", category="pumps")
    assert (sold.feature, sold.category, event.category) == ("chat", "pumps", None)


def test_custom_builder(client: Client) -> None:
    event = client.custom("build.completed", {"status": "ok", "site_type": "shop"}, {"duration_s": 42.5})
    assert isinstance(event, CustomEvent)
    assert (event.name, event.dimensions, event.measures) == (
        "build.completed",
        {"status": "ok", "site_type": "shop"},
        {"duration_s": 42.5},
    )
    with pytest.raises(ValidationError, match="name"):
        client.custom("bad name!")
