"""The browser page at /: a Genie-like space over the Conversation API, every asset local.

The page itself is static (index.html, app.js, app.css under static/); it talks only to the
Genie-compatible routes of the same app, so it needs no internet and no build step.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).with_name("static")
ASSETS: dict[str, str] = {
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
}
# The page may load nothing but its own origin; the chart arrives as a blob: URL because
# fetching it with the bearer token is the only way an <img> can be authorised.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def page() -> FileResponse:
    """The space: title, connected tables, suggested questions, the question box."""
    return FileResponse(
        STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS
    )


@router.get("/static/{name}")
def asset(name: str) -> FileResponse:
    """The page's script and style sheet; nothing else under static/ is served."""
    if name not in ASSETS:
        raise HTTPException(status_code=404, detail=f"no asset {name}")
    return FileResponse(STATIC_DIR / name, media_type=ASSETS[name], headers=HEADERS)
