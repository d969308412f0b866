"""Who may read a tenant's dashboards: a `read` (or `admin`) key of that tenant, or an operator key."""

from __future__ import annotations

from fastapi import FastAPI, Request

from tenancy.directory import Directory, Principal
from tenancy.http import AuthError, auth_error_response, authenticate, authorize_tenant, bearer_token


async def tenant_reader(tenant_id: str, request: Request) -> Principal:
    """Router dependency for `/api/dashboard/{tenant_id}/...`: 401 without a valid key, 403 for another tenant."""
    directory: Directory = request.app.state.directory
    principal = authenticate(directory, bearer_token(request), "read", "admin")
    authorize_tenant(principal, tenant_id)
    return principal


def install(app: FastAPI) -> None:
    app.add_exception_handler(AuthError, auth_error_response)
