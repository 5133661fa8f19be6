"""`salesgenie serve`: the HTTP server (Genie-compatible API, web page)."""

from __future__ import annotations

from typing import Annotated

import typer

from salesgenie.cli._app import app, err_console
from salesgenie.cli.question_commands import BackendOption

# Idle keep-alive connections stay open longer than clients keep them in their pools (httpx and
# requests: 5 s; load balancers: 60 s). With uvicorn's default of 5 s, a client reusing a
# connection as the server closes it gets a reset: 2-4 per minute under 100 clients.
KEEP_ALIVE_S = 65


@app.command("serve")
def serve_command(
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback needs SALESGENIE_TOKEN.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    backend: BackendOption = "auto",
) -> None:
    """Serve the Genie-compatible Conversation API and the web page (uvicorn)."""
    from salesgenie.server.app import ServerSettings
    from salesgenie.server.auth import check_bind

    server = ServerSettings.from_env(backend=backend)
    check_bind(host, server.token)  # before anything heavy is imported or opened

    import uvicorn

    from salesgenie.server.app import create_app

    app = create_app(server)
    for notice in app.state.notices:
        err_console.print(notice, soft_wrap=True)
    uvicorn.run(app, host=host, port=port, timeout_keep_alive=KEEP_ALIVE_S)
