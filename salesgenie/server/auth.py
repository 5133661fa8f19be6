"""Who may call the API: a bearer token when one is configured, loopback only when none is.

SALESGENIE_TOKEN set: every /api/ and /serving-endpoints/ request must carry
`Authorization: Bearer <token>` (compared in constant time); a missing or wrong one gets 401 in
Databricks' error shape. Unset: the server has no way to tell callers apart, so it refuses to
listen beyond this machine. The page shell (/, /static/…), /docs, /metrics and
/.well-known/databricks-config stay open: they hold no data, and the page sends the token with
each API call it makes. /slack/ is authenticated by Slack's request signatures instead.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Security
from fastapi.security import HTTPBearer
from starlette.responses import Response

from salesgenie.errors import SalesgenieError
from salesgenie.server.errors import error_response

PROTECTED_PREFIXES = ("/api/", "/serving-endpoints/")
# For the API docs only (an Authorize button in /docs): the check is `install_bearer_auth`'s.
DOCUMENTED_BEARER = [
    Security(HTTPBearer(auto_error=False, description="the SALESGENIE_TOKEN value"))
]


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse a non-loopback address unless a token guards the API."""
    if not token and not is_loopback(host):
        raise SalesgenieError(
            f"refusing to listen on {host} without a token: set SALESGENIE_TOKEN, "
            "or serve on 127.0.0.1"
        )


def install_bearer_auth(app: FastAPI, token: str) -> None:
    """Check the bearer token on every protected request before any route runs."""
    expected = f"Bearer {token}".encode()

    @app.middleware("http")
    async def bearer(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.url.path.startswith(PROTECTED_PREFIXES):
            given = request.headers.get("authorization", "").encode()
            if not given:
                return _unauthenticated("missing bearer token (Authorization: Bearer …)")
            if not hmac.compare_digest(given, expected):
                return _unauthenticated("invalid bearer token")
        return await call_next(request)


def _unauthenticated(message: str) -> Response:
    return error_response(401, "UNAUTHENTICATED", message, {"WWW-Authenticate": "Bearer"})
