"""`salesgenie sql`, `ask`, `chat` and `eval`: questions and queries, answered the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from salesgenie.cli._app import (
    app,
    console,
    err_console,
    fail,
    progress_bars,
)
from salesgenie.errors import SalesgenieError


@app.command("sql")
def sql_command(
    query: Annotated[str, typer.Argument(help="One read-only SELECT over the semantic layer.")],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print exactly one JSON object (DESIGN.md's shape).")
    ] = False,
) -> None:
    """Run a query through the SQL guard and the read-only warehouse."""
    from agent.sql_runner import run_sql
    from salesgenie.warehouses import open_query_warehouse
    from semantic_layer.model import load_semantic_model

    with open_query_warehouse() as warehouse:
        answer = run_sql(query, warehouse, load_semantic_model())
    _print_answer(answer, json_output)
    raise typer.Exit(answer.exit_code)


JsonOutput = Annotated[
    bool, typer.Option("--json", help="Print exactly one JSON object (DESIGN.md's shape).")
]
BackendOption = Annotated[
    str,
    typer.Option(
        "--backend",
        help="offline: the built-in parser; llm: an OpenAI-compatible server (OPENAI_BASE_URL); "
        "auto: offline first, the LLM when the parser is unsure and an LLM is configured.",
    ),
]


@app.command("ask")
def ask_command(
    question: Annotated[str, typer.Argument(help="A question about sales and forecasts.")],
    json_output: JsonOutput = False,
    chart: Annotated[
        Path | None,
        typer.Option(
            help="Where to save the chart PNG; default data/charts/answers/.", metavar="PATH"
        ),
    ] = None,
    backend: BackendOption = "auto",
    no_chart: Annotated[bool, typer.Option("--no-chart", help="Do not draw a chart.")] = False,
) -> None:
    """Answer one question: the sentence, the SQL behind it, the rows and a chart."""
    from agent.answer import Answer
    from agent.core import open_agent

    try:
        with open_agent(backend) as agent:  # type: ignore[arg-type]
            answer = agent.ask(question, chart_path=chart, chart=not no_chart)
    except SalesgenieError as exc:  # no warehouse, no LLM configured…: still one JSON object
        answer = Answer(status="error", question=question, backend=backend, error=str(exc))
    _print_answer(answer, json_output)
    raise typer.Exit(answer.exit_code)


CHAT_HELP = """Ask questions in plain English; follow-ups ("and for FR01?", "same for 2024",
"only the forecast", "as a table") start from the previous answer.
  /sql QUERY   run one read-only SELECT through the guard
  /new         forget the conversation so far
  /help        this text
  /quit        leave (Ctrl-D too)"""


@app.command("chat")
def chat_command(backend: BackendOption = "auto") -> None:
    """A terminal conversation with follow-ups; shows each answer's SQL, rows and chart path."""
    from agent.core import Conversation, open_agent
    from agent.sql_runner import run_sql

    with open_agent(backend) as agent:  # type: ignore[arg-type]
        conversation = Conversation()
        console.print("salesgenie chat — /help for commands, /quit to leave", highlight=False)
        while True:
            try:
                line = console.input("[bold]> [/]").strip()
            except EOFError:
                break
            except KeyboardInterrupt:
                console.print()
                break
            if not line:
                continue
            command, _, rest = line.partition(" ")
            if command in ("/quit", "/exit", "/q"):
                break
            if command == "/help":
                console.print(CHAT_HELP, highlight=False, markup=False)
            elif command == "/new":
                conversation = Conversation()
                console.print("new conversation")
            elif command == "/sql":
                if rest.strip():
                    _print_answer(run_sql(rest, agent.warehouse, agent.model), False)
                else:
                    err_console.print("usage: /sql SELECT …", highlight=False)
            elif command.startswith("/"):
                err_console.print(f"unknown command {escape(command)}: /help lists them")
            else:
                _print_answer(agent.ask(line, conversation), False)


@app.command("eval")
def eval_command(
    backend: BackendOption = "offline",
    questions: Annotated[
        Path | None,
        typer.Option(help="Suite YAML; default evals/questions.yaml.", metavar="FILE"),
    ] = None,
    report: Annotated[
        Path, typer.Option(help="Markdown report; the JSON goes next to it.", metavar="PATH")
    ] = Path("data/evals/report.md"),
    min_good: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Exit 1 below this GOOD share.")
    ] = 0.95,
) -> None:
    """Score the agent on the canned questions: verdicts, reports and an MLflow run."""
    from rich.markdown import Markdown

    from evals.runner import DEFAULT_QUESTIONS, markdown, run_eval

    with progress_bars() as progress:
        task = progress.add_task("eval", total=None)
        result = run_eval(
            questions or DEFAULT_QUESTIONS,
            backend,
            report,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(Markdown(markdown(result)))
    share = result.good_share
    console.print(f"reports: {report} and {report.with_suffix('.json')}", highlight=False)
    if share < min_good:
        fail(f"GOOD share {share:.1%} is below --min-good {min_good:.0%}", 1)


def _print_answer(answer: Any, json_output: bool) -> None:
    """JSON on stdout for programs; for people, the SQL, a table and one status line."""
    if json_output:
        print(answer.to_json())
        return
    if answer.status in ("rejected", "error"):
        err_console.print(
            f"[bold red]{answer.status}:[/] {escape(answer.error or '')}",
            highlight=False,
            soft_wrap=True,
        )
        return
    if answer.status in ("clarification", "unanswerable"):
        console.print(f"[bold yellow]{answer.status}:[/] {escape(answer.answer or '')}")
        for option in answer.candidates or answer.suggestions:
            console.print(f"  - {option}", highlight=False, markup=False)
        return
    from rich.syntax import Syntax

    if answer.answer:
        console.print(answer.answer, highlight=False, markup=False)
    for note in answer.assumptions:
        console.print(f"[dim]assumed: {escape(note)}[/]", highlight=False)
    if answer.sql:
        console.print(Syntax(answer.sql, "sql", word_wrap=True))
    table = Table(*answer.columns)
    rows = answer.rows
    more = ""
    if len(rows) > DISPLAY_ROWS:  # head and tail: a forecast is at the end of its series
        half = DISPLAY_ROWS // 2
        rows = [*rows[:half], ["…"] * len(answer.columns), *rows[-half:]]
        more = f", first and last {half} shown"
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    if answer.columns:
        console.print(table)
    cut = " (truncated by the row limit)" if answer.truncated else ""
    console.print(f"{len(answer.rows):,} rows{more}{cut} in {answer.elapsed_ms:.0f} ms")
    if answer.chart:
        console.print(f"chart: {answer.chart}", highlight=False, soft_wrap=True)


DISPLAY_ROWS = 50


def _cell(value: Any) -> str:
    """Readable numbers: thousands separated, two decimals; small ratios (SMAPE) keep four."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 10 else f"{value:.4g}"
    return str(value)
