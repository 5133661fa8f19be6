"""`salesgenie serve`: the HTTP server (Genie-compatible API, web page)."""

from __future__ import annotations

from typing import Annotated

import typer

from salesgenie.cli._app import app, err_console
from salesgenie.cli.question_commands import BackendOption


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
        err_console.print(notice)
    uvicorn.run(app, host=host, port=port)
