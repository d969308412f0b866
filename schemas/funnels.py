"""Funnels a tenant defines: ordered steps over any event type, per session or per end user (pure, no SQL).

A funnel is a name, 2 to 10 ordered steps, who is counted (`by`: a session, or an end user) and a
window: the longest time from an actor's first step to its last. A step is an event type (`custom`
with the event's `name`) and filters in the explore grammar (`schemas.explore.Filter`, resolved
against the same vocabulary: the contract's field names, a custom event's own dimensions and measures).

`FunnelDefinition` checks the shape (what is stored); `resolve_funnel` checks every step against the
vocabulary, or raises a `FunnelError` naming the field (`steps.2.where.0`). A saved funnel is one record
of the tenant directory (`FunnelRecord`, key `funnel:<tenant>:<funnel id>`); the e-commerce funnel of
the e-commerce funnel is built in (`BUILT_IN`), never stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.explore import ANY, EVENT_TYPES, MAX_NAME, ExploreError, Filter, ResolvedFilter, resolve_filter
from schemas.types import TenantId, Timestamp

MIN_STEPS: Final = 2
MAX_STEPS: Final = 10
MAX_STEP_FILTERS: Final = 10
MAX_FUNNELS: Final = 20
"""Saved funnels per tenant (the built-in ones are not counted)."""
MAX_FUNNEL_NAME: Final = 64
MAX_DEFINITION_BYTES: Final = 32 * 1024
"""A definition's JSON, at most: a saved funnel is one record that every role holds in memory."""
HOUR: Final = 3600
DAY: Final = 24 * HOUR
MIN_WINDOW: Final = HOUR
MAX_WINDOW: Final = 90 * DAY
FUNNEL_ID: Final = r"^[a-z0-9][a-z0-9_-]{0,47}$"
_WINDOW: Final = re.compile(r"^([0-9]{1,5})([hd])$")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")

By = Literal["session", "end_user"]


def _printable(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    if _CONTROL.search(text):
        raise ValueError("must not hold control characters")
    return text


Label = Annotated[str, Field(min_length=1, max_length=MAX_FUNNEL_NAME), AfterValidator(_printable)]


def window_seconds(text: str) -> int:
    """`6h`, `1d`, `90d` in seconds, between 1 hour and 90 days; ValueError otherwise."""
    match = _WINDOW.fullmatch(text)
    if match is None:
        raise ValueError(f"write the window as hours or days: 1h, 12h, 7d, 90d (not {text[:20]!r})")
    seconds = int(match.group(1)) * (HOUR if match.group(2) == "h" else DAY)
    if not MIN_WINDOW <= seconds <= MAX_WINDOW:
        raise ValueError(f"the window is 1h to {MAX_WINDOW // DAY}d (not {text!r})")
    return seconds


def _window(text: str) -> str:
    window_seconds(text)
    return text


class FunnelStep(BaseModel):
    """One step: events of a type (custom ones by `name`) matching every filter of `where`."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    event: Annotated[str, Field(min_length=1, max_length=32)]
    """An event type: llm_call, message, session_started, product_event, conversion, ..., custom."""
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME)] | None = None
    """Custom events: the event's name (required for them, refused for the other types)."""
    where: Annotated[list[Filter], Field(max_length=MAX_STEP_FILTERS)] = []
    """Filters in the explore grammar: `{"field": "status", "values": ["ok"]}` (`op`: eq, ne, contains, gt ...)."""
    label: Label | None = None
    """The step's name in answers (default: the event's name, or its type)."""

    @field_validator("event")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in EVENT_TYPES or value == ANY:
            steps = ", ".join(t for t in EVENT_TYPES if t != ANY)
            raise ValueError(f"unknown step event type {value[:40]!r}; choose from {steps}")
        return value

    @model_validator(mode="after")
    def _custom_name(self) -> FunnelStep:
        if self.event == "custom" and self.name is None:
            raise ValueError("a custom step names its event: add name (e.g. build.finished)")
        if self.event != "custom" and self.name is not None:
            raise ValueError(f"name selects custom events by their name; {self.event} events have none")
        return self

    @property
    def title(self) -> str:
        return self.label or self.name or self.event


class FunnelDefinition(BaseModel):
    """A funnel as a tenant writes it (and as it is stored)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    name: Label
    """1 to 64 characters."""
    by: By = "session"
    """Who goes through the funnel: a session (a conversion sent with only `attributed_session_id`
    counts for that session) or an end user (`end_user_id`)."""
    window: Annotated[str, Field(max_length=8), AfterValidator(_window)] = "7d"
    """The longest time from an actor's first step to its last: 1h to 90d (`12h`, `7d`)."""
    steps: Annotated[list[FunnelStep], Field(min_length=MIN_STEPS, max_length=MAX_STEPS)]
    """2 to 10 steps, in the order actors go through them."""

    @model_validator(mode="after")
    def _bounded(self) -> FunnelDefinition:
        if len(self.model_dump_json().encode()) > MAX_DEFINITION_BYTES:
            raise ValueError(f"a funnel definition is at most {MAX_DEFINITION_BYTES} bytes of JSON")
        return self

    @property
    def window_seconds(self) -> int:
        return window_seconds(self.window)


class FunnelError(ValueError):
    """A definition the vocabulary refuses; `loc` names the field (`("steps", 2, "where", 0)`)."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass(frozen=True, slots=True)
class ResolvedStep:
    event: str
    name: str | None
    where: tuple[ResolvedFilter, ...]
    title: str


@dataclass(frozen=True, slots=True)
class ResolvedFunnel:
    """A definition checked against the vocabulary: every filter names a field of its step's type."""

    by: By
    window_seconds: int
    steps: tuple[ResolvedStep, ...]


def resolve_funnel(definition: FunnelDefinition) -> ResolvedFunnel:
    """Every step's filters resolved against its event type's fields, or a FunnelError naming the filter."""
    steps = []
    for i, step in enumerate(definition.steps):
        where = []
        for j, f in enumerate(step.where):
            try:
                where.append(resolve_filter(step.event, f, f"steps.{i}.where.{j}"))
            except ExploreError as exc:
                raise FunnelError(("steps", i, "where", j), exc.message) from None
        steps.append(ResolvedStep(step.event, step.name, tuple(where), step.title))
    return ResolvedFunnel(definition.by, definition.window_seconds, tuple(steps))


FunnelId = Annotated[str, Field(pattern=FUNNEL_ID)]


class FunnelRecord(BaseModel):
    """A saved funnel: one record of the tenant directory (key `funnel_record_key`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["funnel"] = "funnel"
    tenant_id: TenantId
    funnel_id: FunnelId
    definition: FunnelDefinition
    created_at: Timestamp
    updated_at: Timestamp


def funnel_record_key(tenant_id: str, funnel_id: str) -> bytes:
    return f"funnel:{tenant_id}:{funnel_id}".encode()


def _action(*actions: str) -> list[Filter]:
    return [Filter(field="action", values=list(actions))]


ECOMMERCE: Final = FunnelDefinition(
    name="E-commerce",
    by="session",
    window="7d",
    steps=[
        FunnelStep(event="session_started", label="Sessions"),
        FunnelStep(event="product_event", where=_action("recommended", "inquired"), label="Product viewed"),
        FunnelStep(event="product_event", where=_action("clicked"), label="Clicked"),
        FunnelStep(event="product_event", where=_action("added_to_cart"), label="Added to cart"),
        FunnelStep(event="conversion", label="Converted"),
    ],
)
"""The e-commerce funnel: sessions started -> product viewed (recommended or inquired) -> clicked -> added to
cart -> converted, within 7 days of the session's start (`GET .../funnel` answers it too)."""
BUILT_IN: Final[dict[str, FunnelDefinition]] = {"ecommerce": ECOMMERCE}
"""Funnels every tenant has, by id: listed with the saved ones, never stored, never changed."""
