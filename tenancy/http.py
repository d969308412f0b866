"""Bearer-key authentication for HTTP services (ingest, views): one rule set, one set of answers."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from schemas.tenancy import Scope
from tenancy.directory import Denied, Directory, Principal

CHALLENGE = {"WWW-Authenticate": "Bearer"}
STALE_RETRY_AFTER_SECONDS = 5
"""Retry-After of the 503 a stale directory answers (the follower retries the broker every second)."""


class AuthError(Exception):
    """401 (no valid key), 403 (valid key, not allowed) or 503 (keys cannot be checked now, with
    Retry-After); the message never contains the key."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = (
            CHALLENGE if status == 401 else {"Retry-After": str(STALE_RETRY_AFTER_SECONDS)} if status == 503 else None
        )


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(directory: Directory, token: str | None, *scopes: Scope) -> Principal:
    """The principal of `token`, or AuthError (503 while the directory is stale: fail closed)."""
    result = directory.authenticate(token, scopes)
    if isinstance(result, Principal):
        return result
    if result is Denied.STALE:
        raise AuthError(503, result.value)
    if result is Denied.WRONG_SCOPE:
        raise AuthError(403, f"{result.value} (needs {' or '.join(scopes)})")
    raise AuthError(401, result.value)


def authorize_tenant(principal: Principal, tenant_id: str) -> None:
    """AuthError 403 unless the principal may act for `tenant_id`."""
    if not principal.may_act_for(tenant_id):
        raise AuthError(403, f"this key cannot access tenant {tenant_id!r}")


async def auth_error_response(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler for `AuthError`: `{"error": ...}` with its status (and the Bearer challenge)."""
    assert isinstance(exc, AuthError)
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)
