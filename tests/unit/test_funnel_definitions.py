"""Funnel definitions: what is accepted, what is refused (and named), and how saved ones are held."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.funnels import (
    BUILT_IN,
    ECOMMERCE,
    MAX_DEFINITION_BYTES,
    FunnelDefinition,
    FunnelError,
    FunnelRecord,
    FunnelStep,
    funnel_record_key,
    resolve_funnel,
    window_seconds,
)
from tenancy.directory import Directory

AT = datetime(2026, 3, 18, tzinfo=UTC)


def visit(**fields: Any) -> dict[str, Any]:
    return {"event": "custom", "name": "visit", **fields}


def definition(**fields: Any) -> FunnelDefinition:
    return FunnelDefinition.model_validate({"name": "Signups", "steps": [visit(), visit(name="request")], **fields})


def refusal(**fields: Any) -> tuple[Any, ...]:
    with pytest.raises(ValidationError) as caught:
        definition(**fields)
    return caught.value.errors()[0]["loc"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("1h", 3600), ("36h", 129_600), ("1d", 86_400), ("7d", 604_800), ("90d", 7_776_000)]
)
def test_windows_are_hours_or_days_from_one_hour_to_ninety_days(text: str, seconds: int) -> None:
    assert window_seconds(text) == seconds
    assert definition(window=text).window_seconds == seconds


@pytest.mark.parametrize(
    "text", ["0h", "0d", "91d", "2161h", "1000d", "99999d", "30m", "1w", "d", "-1d", " 1d", "1d\n"]
)
def test_other_windows_are_refused_naming_the_window(text: str) -> None:
    with pytest.raises(ValueError, match="window"):
        window_seconds(text)
    assert refusal(window=text) == ("window",)


def test_the_defaults_a_session_funnel_within_seven_days() -> None:
    d = definition()
    assert (d.by, d.window, d.window_seconds) == ("session", "7d", 604_800)
    assert [s.title for s in d.steps] == ["visit", "request"]


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"steps": [visit()]}, ("steps",)),
        ({"steps": [visit()] * 11}, ("steps",)),
        ({"steps": [visit(), {"event": "pageview"}]}, ("steps", 1, "event")),
        ({"steps": [visit(), {"event": "custom"}]}, ("steps", 1)),
        ({"steps": [visit(), {"event": "llm_call", "name": "x"}]}, ("steps", 1)),
        ({"steps": [visit(), visit(name="")]}, ("steps", 1, "name")),
        ({"steps": [visit(), visit(name="x" * 129)]}, ("steps", 1, "name")),
        ({"steps": [visit(), visit(label="x" * 65)]}, ("steps", 1, "label")),
        ({"steps": [visit(), visit(label="tab\there")]}, ("steps", 1, "label")),
        ({"steps": [visit(), visit(where=[{"field": "s", "values": ["x"]}] * 11)]}, ("steps", 1, "where")),
        ({"steps": [visit(), visit(colour="red")]}, ("steps", 1, "colour")),
        ({"name": ""}, ("name",)),
        ({"name": " \t"}, ("name",)),
        ({"name": "x" * 65}, ("name",)),
        ({"name": "new\nline"}, ("name",)),
        ({"by": "tenant"}, ("by",)),
        ({"window": 3600}, ("window",)),
        ({"owner": "me"}, ("owner",)),
    ],
)
def test_shapes_refused_name_the_field(fields: dict[str, Any], loc: tuple[Any, ...]) -> None:
    assert refusal(**fields) == loc


def test_a_definition_is_bounded_as_a_whole() -> None:
    values = ["v" * 250] * 100
    steps = [visit(where=[{"field": f"k{j}", "values": values} for j in range(2)]) for _ in range(2)]
    with pytest.raises(ValidationError, match=f"at most {MAX_DEFINITION_BYTES} bytes"):
        definition(steps=steps)
    assert len(definition(name="é" * 64).model_dump_json().encode()) < MAX_DEFINITION_BYTES


@pytest.mark.parametrize(
    ("step", "loc", "says"),
    [
        ({"event": "product_event", "where": [{"field": "colour", "values": ["red"]}]}, ("steps", 1, "where", 0), "colour"),
        ({"event": "llm_call", "where": [{"field": "latency_ms", "op": "gt", "values": ["fast"]}]},
         ("steps", 1, "where", 0), "not a number"),
        ({"event": "llm_call", "where": [{"field": "latency_ms", "op": "contains", "values": ["1"]}]},
         ("steps", 1, "where", 0), "is a number"),
        ({"event": "message", "where": [{"field": "dimensions.x", "values": ["1"]}]}, ("steps", 1, "where", 0),
         "only custom events"),
        ({"event": "conversion", "where": [{"field": "currency", "values": ["EUR"]},
                                           {"field": "revenue", "op": "ge", "values": ["inf"]}]},
         ("steps", 1, "where", 1), "finite"),
    ],
)  # fmt: skip
def test_filters_are_resolved_against_the_explore_vocabulary(
    step: dict[str, Any], loc: tuple[Any, ...], says: str
) -> None:
    d = definition(steps=[visit(), step])
    with pytest.raises(FunnelError) as caught:
        resolve_funnel(d)
    assert caught.value.loc == loc and says in caught.value.message


def test_a_resolved_funnel_names_stored_columns() -> None:
    funnel = resolve_funnel(ECOMMERCE)
    assert (funnel.by, funnel.window_seconds) == ("session", 7 * 86_400)
    assert [(s.event, s.title) for s in funnel.steps] == [
        ("session_started", "Sessions"),
        ("product_event", "Product viewed"),
        ("product_event", "Clicked"),
        ("product_event", "Added to cart"),
        ("conversion", "Converted"),
    ]
    viewed = funnel.steps[1].where[0]
    assert (viewed.field.column, viewed.op, viewed.values) == ("product_action", "eq", ("recommended", "inquired"))
    custom = resolve_funnel(definition(steps=[visit(), visit(name="build.finished", where=[
        {"field": "status", "values": ["ok"]}, {"field": "duration_s", "op": "le", "values": ["60"]}])]))  # fmt: skip
    status, duration = custom.steps[1].where
    assert (status.field.column, status.field.key) == ("dimensions", "status")
    assert (duration.field.column, duration.field.key, duration.values) == ("measures", "duration_s", (60,))
    assert list(BUILT_IN) == ["ecommerce"]


def record(tenant: str, funnel_id: str, name: str = "Signups") -> FunnelRecord:
    return FunnelRecord(
        tenant_id=tenant, funnel_id=funnel_id, definition=definition(name=name), created_at=AT, updated_at=AT
    )


def test_the_directory_holds_each_tenants_saved_funnels() -> None:
    directory = Directory(3600)
    for tenant, funnel_id in (("acme", "a-1"), ("acme", "a-2"), ("globex", "a-1")):
        r = record(tenant, funnel_id, f"{tenant} {funnel_id}")
        directory.apply(funnel_record_key(tenant, funnel_id), r.model_dump_json().encode(), None)
    assert funnel_record_key("acme", "a-1") == b"funnel:acme:a-1"
    assert {k: v.definition.name for k, v in directory.tenant_funnels("acme").items()} == {
        "a-1": "acme a-1",
        "a-2": "acme a-2",
    }
    assert list(directory.tenant_funnels("globex")) == ["a-1"] and directory.tenant_funnels("initech") == {}
    directory.apply(funnel_record_key("acme", "a-1"), None)  # a tombstone deletes one funnel
    assert list(directory.tenant_funnels("acme")) == ["a-2"] and list(directory.tenant_funnels("globex")) == ["a-1"]
    directory.tenant_funnels("acme").clear()  # a copy
    assert list(directory.tenant_funnels("acme")) == ["a-2"]


@pytest.mark.parametrize(
    ("key", "tenant", "funnel_id"),
    [
        (b"funnel:globex:a-1", "acme", "a-1"),  # another tenant's key
        (b"funnel:acme:a-2", "acme", "a-1"),  # another funnel's key
        (b"funnel:acme", "acme", "a-1"),
        (b"settings:acme", "acme", "a-1"),
    ],
)
def test_a_funnel_record_under_a_key_not_naming_it_is_ignored(key: bytes, tenant: str, funnel_id: str) -> None:
    directory = Directory(3600)
    directory.apply(key, record(tenant, funnel_id).model_dump_json().encode())
    assert directory.funnels == {} and directory.settings == {}


def test_a_funnel_record_with_a_bad_id_or_definition_is_ignored() -> None:
    directory = Directory(3600)
    good = record("acme", "a-1").model_dump(mode="json")
    for bad in ({**good, "funnel_id": "A B"}, {**good, "definition": {**good["definition"], "steps": []}}):
        directory.apply(b"funnel:acme:" + str(bad["funnel_id"]).encode(), json.dumps(bad).encode())
    assert directory.funnels == {}


def test_a_step_title_is_its_label_else_its_name_else_its_type() -> None:
    assert FunnelStep(event="custom", name="visit", label="Visitors").title == "Visitors"
    assert FunnelStep(event="custom", name="visit").title == "visit"
    assert FunnelStep(event="conversion").title == "conversion"
