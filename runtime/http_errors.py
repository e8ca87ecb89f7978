"""Every error the origin answers is JSON ``{"error": {"status", "code", "message"}}``."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from core.errors import StoreUnavailableError

logger = logging.getLogger("scorecast.http")


class ApiError(HTTPException):
    """An expected failure with a stable machine-readable ``code``."""

    def __init__(
        self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"status": status, "code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = exc.code if isinstance(exc, ApiError) else _CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


async def store_unavailable(request: Request, exc: Exception) -> Response:
    # The edge keeps serving its stale copy (stale-if-error) while this lasts.
    logger.warning("redis unavailable: %s", exc)
    return error_response(
        503, "unavailable", "score store unavailable, retry shortly", {"Retry-After": "1"}
    )


async def server_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s", request.url.path)
    return error_response(500, "internal", "internal error")


_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request"}

HANDLERS = {
    HTTPException: http_error,
    StoreUnavailableError: store_unavailable,
    Exception: server_error,
}
