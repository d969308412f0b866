"""Errors the ingest API answers with: `{"error": "<what is wrong>"}` and a status code."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tenancy.http import AuthError, auth_error_response


class ApiError(Exception):
    """Ends a request with `status` and a message naming what is wrong (never a secret)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def install(app: FastAPI) -> None:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    app.add_exception_handler(ApiError, handle)
    app.add_exception_handler(AuthError, auth_error_response)
