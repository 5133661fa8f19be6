"""The one FastAPI app `salesgenie serve` runs: the Genie-compatible API, the web page, the
Slack bot, the `weekly_forecast` model-serving endpoint and /metrics.

Everything the app needs (semantic model, read-only warehouse, agent, conversation store) is
opened by `create_app` and closed when the server stops, so a misconfiguration fails at start-up
with one line rather than on the first question. Parts that are off (Slack without its secrets)
say so in `app.state.notices`, which `salesgenie serve` prints at start.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from salesgenie import settings
from salesgenie.server import genie, metrics, serving, slack, web
from salesgenie.server.auth import install_bearer_auth
from salesgenie.server.errors import install_handlers
from salesgenie.server.service import SPACE_ID, GenieService, SpaceInfo, rfc3339


@dataclass(frozen=True)
class ServerSettings:
    """How the server answers and who may call it."""

    backend: str = "auto"  # the agent's backend: auto, offline or llm
    token: str | None = None  # SALESGENIE_TOKEN: the bearer token /api/ requires
    store_path: Path | None = None  # default: next to the warehouse (see default_store_path)
    answer_wait_s: float = 2.0  # how long a POST waits for its answer before returning
    workers: int = 4  # answers computed at once
    slack_signing_secret: str | None = None  # SLACK_SIGNING_SECRET: checks Slack's signatures
    slack_bot_token: str | None = None  # SLACK_BOT_TOKEN: the bot's Web API token
    slack_api_url: str = "https://slack.com/api/"  # Slack's Web API (tests: a local server)
    tracking_uri: str | None = None  # the MLflow registry; default settings.mlflow_tracking_uri()

    @classmethod
    def from_env(cls, backend: str = "auto") -> ServerSettings:
        return cls(
            backend=backend,
            token=os.environ.get("SALESGENIE_TOKEN") or None,
            slack_signing_secret=os.environ.get("SLACK_SIGNING_SECRET") or None,
            slack_bot_token=os.environ.get("SLACK_BOT_TOKEN") or None,
        )


def default_store_path() -> Path:
    """data/prd_sales.conversations.sqlite, or beside a DuckDB warehouse moved elsewhere."""
    if settings.uses_databricks():
        return settings.DATA_DIR / f"{settings.CATALOG}.conversations.sqlite"
    warehouse = settings.warehouse_path()
    return warehouse.with_name(f"{warehouse.stem}.conversations.sqlite")


def _warehouse_id() -> str:
    """Databricks' id is the last part of the HTTP path; the local one names the file."""
    if settings.uses_databricks():
        return os.environ.get("DATABRICKS_HTTP_PATH", "").rstrip("/").rsplit("/", 1)[-1]
    return f"duckdb:{settings.warehouse_path().name}"


def open_service(server: ServerSettings) -> tuple[GenieService, SpaceInfo]:
    from agent.core import open_agent
    from salesgenie.server.store import ConversationStore
    from salesgenie.warehouses import open_query_warehouse
    from semantic_layer.model import DEFAULT_PATH

    store_path = server.store_path or default_store_path()
    warehouse = open_query_warehouse()
    try:
        agent = open_agent(server.backend, warehouse=warehouse)
        store = ConversationStore(store_path)
    except BaseException:
        warehouse.close()
        raise
    # The space is the semantic layer: it was last changed when its YAML was.
    changed = rfc3339(DEFAULT_PATH.stat().st_mtime)
    space = SpaceInfo(SPACE_ID, _warehouse_id(), changed, changed)
    service = GenieService(
        agent,
        warehouse,
        store,
        charts_dir=store_path.parent / "charts" / "genie",
        answer_wait_s=server.answer_wait_s,
        workers=server.workers,
    )
    return service, space


def create_app(server: ServerSettings) -> FastAPI:
    """The app, its resources open; they close when the server's lifespan ends."""
    service, space = open_service(server)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    # Swagger UI at /docs (ReDoc at /redoc) from assets shipped in fastapi-offline, not a CDN.
    app = FastAPIOffline(
        title="salesgenie",
        summary="Genie-compatible Conversation API, the weekly_forecast model-serving endpoint "
        "and a Slack bot over the sales forecasts",
        lifespan=lifespan,
    )
    app.state.genie = service
    app.state.space = space
    app.state.notices = []
    install_handlers(app)
    if server.token:
        install_bearer_auth(app, server.token)
    app.include_router(genie.router)
    app.add_api_route("/.well-known/databricks-config", databricks_config, include_in_schema=False)
    app.include_router(web.router)
    slack.install_slack(app, server, service)
    serving.install_serving(app, server.tracking_uri or settings.mlflow_tracking_uri())
    metrics.install_metrics(app)
    return app


def databricks_config() -> dict[str, Any]:
    """The SDK's host discovery: no OIDC (auth is the bearer token), no workspace id."""
    return {"oidc_endpoint": ""}
