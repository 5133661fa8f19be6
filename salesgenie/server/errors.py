"""Errors in Databricks' shape, {"error_code", "message"}, whatever raised them.

Genie clients (the databricks-sdk first) read `error_code` and `message` from every non-2xx
reply; FastAPI's own validation errors and Starlette's 404/405 are rewritten into that shape.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

# Databricks' code for each status we send; others fall back by class (4xx, 5xx).
CODES = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "BAD_REQUEST",
    429: "REQUEST_LIMIT_EXCEEDED",
    503: "TEMPORARILY_UNAVAILABLE",
}


class ApiError(Exception):
    """Raised by a route: the status, Databricks' error code and a one-line message."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"{what} {ident} does not exist")


def error_response(
    status: int, error_code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error_code": error_code, "message": message}, status_code=status, headers=headers
    )


def _code(status: int) -> str:
    return CODES.get(status) or ("INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST")


def install_handlers(app: FastAPI) -> None:
    """Every error the app can produce leaves in the one shape."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error_code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, CODES[400], _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, _code(exc.status_code), str(exc.detail), exc.headers)

    @app.exception_handler(Exception)
    async def crash(_: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "INTERNAL_ERROR", f"internal error: {type(exc).__name__}")


def _validation_message(exc: RequestValidationError) -> str:
    """The first problem, one line: "malformed JSON body" or "body.content: Field required"."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "malformed JSON body: " + str(first.get("ctx", {}).get("error", first.get("msg")))
    where = ".".join(str(part) for part in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}"
