"""The app, its consoles and how a failure reaches the user: the pieces every command shares."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from salesgenie.errors import SalesgenieError

app = typer.Typer(
    help="Ask questions of sales forecasts in plain language.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
pipeline_app = typer.Typer(help="The forecasting pipeline, step by step.", no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")
semantic_app = typer.Typer(
    help="The semantic layer: check it against the warehouse, refresh its sample values.",
    no_args_is_help=True,
)
app.add_typer(semantic_app, name="semantic")

console = Console()
err_console = Console(stderr=True)


def main() -> None:
    """Console-script entry: every failure is one line on stderr, never a traceback.

    Run non-standalone so that click's usage errors reach us too: a bad option value exits 2,
    as click's own would, in the same one-line form as a SalesgenieError (exit 1).
    """
    try:
        status = app(standalone_mode=False)
    except SalesgenieError as exc:
        fail(str(exc), 1)
    except typer.TyperException as exc:  # click's usage errors
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help is printed already
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        fail(exc.format_message() + hint, exc.exit_code)
    if status == 130:  # typer's exit status for Ctrl-C
        err_console.print("interrupted")
    sys.exit(status if isinstance(status, int) else 0)


def fail(message: str, status: int) -> NoReturn:
    # escaped: a file name like "[x].csv" is not rich markup
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(status)


@contextmanager
def progress_bars() -> Iterator[Progress]:
    """Bars on stderr that stay when the step succeeds and vanish when it fails, so that a
    failure leaves its one-line error alone on stderr."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    progress.start()
    try:
        yield progress
    except BaseException:
        progress.live.transient = True
        progress.live.stop()  # not progress.stop(): off a terminal it adds an empty line
        raise
    progress.stop()
