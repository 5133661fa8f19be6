"""The `salesgenie` command line: one typer app, its commands grouped by what they act on.

Heavy libraries (mlflow, statsforecast, langchain, fastapi) are imported inside the commands
that use them, so `salesgenie --help` and `salesgenie ask` start fast.
"""

from salesgenie.cli import (  # noqa: F401  (importing a module registers its commands)
    pipeline_commands,
    question_commands,
    semantic_commands,
    server_commands,
)
from salesgenie.cli._app import app, main

__all__ = ["app", "main"]
