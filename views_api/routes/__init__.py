"""Every router of the views API, in the order they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

from views_api.routes import dashboard

ROUTERS: list[APIRouter] = [dashboard.router]
