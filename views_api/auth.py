"""Who may read a tenant's dashboards: a `read` (or `admin`) key of that tenant, or an operator key."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tenancy.directory import Directory, Principal
from tenancy.http import AuthError, authenticate, authorize_tenant, bearer_token


async def tenant_reader(tenant_id: str, request: Request) -> Principal:
    """Router dependency for `/api/dashboard/{tenant_id}/...`: 401 without a valid key, 403 for another tenant."""
    directory: Directory = request.app.state.directory
    principal = authenticate(directory, bearer_token(request), "read", "admin")
    authorize_tenant(principal, tenant_id)
    return principal


def install(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AuthError)
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    app.add_exception_handler(AuthError, handle)
