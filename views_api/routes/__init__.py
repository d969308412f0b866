"""Every router of the views API, in the order they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

from views_api.routes import (
    admin,
    alerts,
    dashboard,
    explore,
    export,
    funnels,
    insights,
    live,
    revenue,
    series,
    sessions,
    telemetry,
    tenant,
    usage,
    users,
)

ROUTERS: list[APIRouter] = [
    tenant.router,
    dashboard.router,
    usage.router,
    insights.router,
    revenue.router,
    telemetry.router,
    series.router,
    explore.router,
    funnels.router,
    sessions.router,
    users.router,
    export.router,
    live.router,
    alerts.router,
    admin.router,
]
