"""API-key authentication for ingest routes (keys come from the tenant directory)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request

from schemas.tenancy import Scope
from tenancy.directory import Principal
from tenancy.http import authenticate, bearer_token


def require(*scopes: Scope) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    """A FastAPI dependency admitting keys with one of `scopes` (AuthError otherwise: 401/403)."""

    async def dependency(request: Request) -> Principal:
        return authenticate(request.app.state.directory, bearer_token(request), *scopes)

    return dependency
