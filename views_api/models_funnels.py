"""Response models of tenant-defined funnels: the saved definitions, and a funnel's report over a period."""

from __future__ import annotations

from datetime import datetime

from schemas.funnels import By, FunnelDefinition, FunnelStep
from views_api.models import ApiModel, PeriodOut


class FunnelOut(ApiModel):
    """A funnel: built in (`ecommerce`) or saved by the tenant."""

    id: str
    """The funnel's id (generated when it is saved; `ecommerce` for the built-in one)."""
    built_in: bool
    """Every tenant has it; it cannot be changed or deleted."""
    name: str
    by: By
    """Who is counted: a session, or an end user."""
    window: str
    """The longest time from an actor's first step to its last (`7d`)."""
    window_seconds: int
    steps: list[FunnelStep]
    created_at: datetime | None
    updated_at: datetime | None
    """When it was last saved (null for the built-in funnel)."""

    @classmethod
    def of(
        cls, funnel_id: str, definition: FunnelDefinition, saved: tuple[datetime, datetime] | None = None
    ) -> FunnelOut:
        return cls(
            id=funnel_id,
            built_in=saved is None,
            name=definition.name,
            by=definition.by,
            window=definition.window,
            window_seconds=definition.window_seconds,
            steps=list(definition.steps),
            created_at=saved[0] if saved else None,
            updated_at=saved[1] if saved else None,
        )


class FunnelList(ApiModel):
    tenant_id: str
    max_saved: int
    """How many funnels a tenant may save (the built-in ones are not counted)."""
    funnels: list[FunnelOut]
    """The built-in funnels, then the saved ones by name."""


class StepFigures(ApiModel):
    """How many actors reached a step, and how that compares with the first and the previous step."""

    actors: int
    """Actors (sessions or end users) that went through this step and every one before it, in order,
    within the window."""
    from_first_pct: float
    """Actors as a percentage of the first step's (0 when nobody entered the funnel)."""
    from_previous_pct: float | None
    """Actors as a percentage of the previous step's (null for the first step)."""
    drop_off: int | None
    """Actors of the previous step that did not reach this one (null for the first step)."""
    drop_off_pct: float | None
    """Drop-off as a percentage of the previous step's actors."""


class FunnelStepResult(StepFigures):
    step: str
    """The step's label (its event's name or type without one)."""
    event: str
    name: str | None


class FunnelDay(ApiModel):
    start: datetime
    """Bucket start (UTC): actors whose first step falls in this bucket (aligned in the period's zone)."""
    steps: list[StepFigures]
    """Per step, in order: the same figures over those actors."""


class FunnelReport(ApiModel):
    """A funnel over a period: actors enter with their first step in the period; their later steps count
    until the window closes (after the period's end too)."""

    tenant_id: str
    funnel: FunnelOut
    period: PeriodOut
    steps: list[FunnelStepResult]
    daily: list[FunnelDay]
    """One row per bucket of the period (days unless `granularity` says otherwise), by the day of each
    actor's first step."""
