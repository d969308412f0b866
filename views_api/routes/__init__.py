"""Every router of the views API, in the order they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

from views_api.routes import (
    admin,
    alerts,
    dashboard,
    export,
    insights,
    live,
    revenue,
    series,
    sessions,
    telemetry,
    tenant,
    usage,
)

ROUTERS: list[APIRouter] = [
    tenant.router,
    dashboard.router,
    usage.router,
    insights.router,
    revenue.router,
    telemetry.router,
    series.router,
    sessions.router,
    export.router,
    live.router,
    alerts.router,
    admin.router,
]
