"""The `salesgenie` command line. Heavy libraries are imported inside the commands that use them."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

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
from rich.table import Table

from salesgenie import settings
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
        _fail(str(exc), 1)
    except typer.TyperException as exc:  # click's usage errors
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help is printed already
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        _fail(exc.format_message() + hint, exc.exit_code)
    if status == 130:  # typer's exit status for Ctrl-C
        err_console.print("interrupted")
    sys.exit(status if isinstance(status, int) else 0)


def _fail(message: str, status: int) -> NoReturn:
    # escaped: a file name like "[x].csv" is not rich markup
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(status)


@contextmanager
def _progress() -> Iterator[Progress]:
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


def _iso_date(value: str, option: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise SalesgenieError(f"{option} {value!r} is not a date like 2024-01-01") from None


Product = Annotated[
    str | None, typer.Option(help="Train one product (its description); default: every series.")
]
StartDate = Annotated[
    str, typer.Option(help="First day of history used (inclusive).", metavar="YYYY-MM-DD")
]
EndDate = Annotated[
    str, typer.Option(help="Day after the last day of history (exclusive).", metavar="YYYY-MM-DD")
]
Freq = Annotated[str, typer.Option(help="Series frequency; only W (Monday weeks) is supported.")]
Horizon = Annotated[int, typer.Option(min=1, help="Weeks to forecast.")]
Windows = Annotated[int, typer.Option(min=1, help="Backtest windows (step 1 week).")]
Metric = Annotated[str, typer.Option(help="Selection metric; only smape is supported.")]
Models = Annotated[
    str | None,
    typer.Option(help="Comma-separated MMF model names; default the demo's five."),
]
SeasonLength = Annotated[int, typer.Option(min=1, help="Season length in weeks (MMF weekly: 4).")]
Refit = Annotated[
    str,
    typer.Option(
        help="once: models with a forward step are fitted at the first window then carried "
        "forward; every-window: refit in every window (Many Model Forecasting's way)."
    ),
]
Strategy = Annotated[
    str,
    typer.Option(
        help="best: each series' model with the lowest mean backtest SMAPE; combination: the "
        "mean of its k best models, k (up to --max-combined) chosen by backtest."
    ),
]
MaxCombined = Annotated[int, typer.Option(min=1, help="Most models a combination averages.")]
MaxHistoryWeeks = Annotated[
    int | None,
    typer.Option(min=1, help="Models see at most the last N weeks of history (default: all)."),
]
Experiment = Annotated[str, typer.Option(help="MLflow experiment name.")]
RegisterAs = Annotated[str, typer.Option(help="Registered model name; alias champion moves.")]


def _train_params(
    product: str | None,
    start_date: str,
    end_date: str,
    freq: str,
    horizon: int,
    backtest_windows: int,
    metric: str,
    models: str | None,
    season_length: int,
    refit: str,
    strategy: str,
    max_combined: int,
    max_history_weeks: int | None,
    experiment: str,
    register_as: str,
) -> Any:
    from pipeline.models import DEFAULT_MODELS, check_models
    from pipeline.train import STRATEGIES, TrainParams

    if freq != "W":
        raise SalesgenieError(f"--freq {freq!r} is not supported: only W (Monday weeks)")
    if metric != "smape":
        raise SalesgenieError(f"--metric {metric!r} is not supported: only smape")
    if refit not in ("once", "every-window"):
        raise SalesgenieError(f"--refit {refit!r} must be once or every-window")
    if strategy not in STRATEGIES:
        raise SalesgenieError(f"--strategy {strategy!r} must be one of {', '.join(STRATEGIES)}")
    names = tuple(m.strip() for m in models.split(",") if m.strip()) if models else DEFAULT_MODELS
    check_models(list(names))
    start, end = _iso_date(start_date, "--start-date"), _iso_date(end_date, "--end-date")
    if start >= end:
        raise SalesgenieError(f"--start-date {start} must be before --end-date {end}")
    return TrainParams(
        product=product,
        start_date=start,
        end_date=end,
        freq=freq,
        horizon=horizon,
        backtest_windows=backtest_windows,
        metric=metric,
        models=names,
        season_length=season_length,
        refit=refit,
        strategy=strategy,
        max_combined=max_combined,
        max_history_weeks=max_history_weeks,
        experiment=experiment,
        register_as=register_as,
    )


@pipeline_app.command()
def generate(
    scale: Annotated[
        float, typer.Option(min=0.01, help="Multiplies order lines; 16 gives 10 M.")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 42,
) -> None:
    """Build the demo star schema in prd_sales.silver (deterministic)."""
    from pipeline.generate import generate as build_sources
    from pipeline.warehouse import open_warehouse

    with _progress() as progress, open_warehouse() as con:
        counts = build_sources(con, scale=scale, seed=seed, progress=progress)
    _print_counts("prd_sales.silver", counts)


@pipeline_app.command()
def load(
    table: Annotated[str, typer.Argument(help="Source table, e.g. fact_sales_orders.")],
    file: Annotated[Path, typer.Argument(help="A CSV or Parquet file.")],
) -> None:
    """Replace one source table with a user's file, validated against the contract."""
    from pipeline.load import load_table
    from pipeline.warehouse import open_warehouse

    with open_warehouse() as con:
        rows = load_table(con, table, file)
    console.print(f"loaded {rows:,} rows into prd_sales.silver.{table}")


@pipeline_app.command("load-m4")
def load_m4_command(
    directory: Annotated[Path, typer.Argument(help="The M4 Weekly directory (Weekly-train.csv).")],
) -> None:
    """Replace gold.sales_data_for_forecast with M4 Weekly's training part (never its test)."""
    from pipeline.m4 import load_m4
    from pipeline.warehouse import open_warehouse

    with open_warehouse() as con:
        loaded = load_m4(directory, con)
    console.print(
        f"loaded {loaded.series:,} series ({loaded.rows:,} weeks, {loaded.first_date} … "
        f"{loaded.last_date}) into prd_sales.gold.sales_data_for_forecast; train with "
        f"--start-date {loaded.first_date} --end-date {loaded.end_date} --horizon 13",
        highlight=False,
    )


@pipeline_app.command()
def prep(
    force: Annotated[bool, typer.Option(help="Rebuild even when no source changed.")] = False,
) -> None:
    """Build gold.sales_data_for_forecast (ZCD4 excluded, bad rows to gold.prep_rejects)."""
    _run_prep(force)


def _run_prep(force: bool) -> Any:
    from pipeline.prep import run_prep
    from pipeline.warehouse import open_warehouse

    with _progress() as progress, open_warehouse() as con:
        summary = run_prep(con, force=force, progress=progress)
    _print_prep(summary)
    return summary


@pipeline_app.command("train")
def train_command(
    product: Product = None,
    start_date: StartDate = "2024-01-01",
    end_date: EndDate = "2025-09-01",
    freq: Freq = "W",
    horizon: Horizon = 3,
    backtest_windows: Windows = 10,
    metric: Metric = "smape",
    models: Models = None,
    season_length: SeasonLength = 4,
    refit: Refit = "once",
    strategy: Strategy = "best",
    max_combined: MaxCombined = 3,
    max_history_weeks: MaxHistoryWeeks = None,
    experiment: Experiment = "sales_weekly_training_final",
    register_as: RegisterAs = "prd_sales.gold.sales_weekly_forecast_model_final",
) -> None:
    """Backtest many models per series, keep the best, log and register it in MLflow."""
    params = _train_params(**locals())
    _run_train(params)


def _run_train(params: Any) -> Any:
    from pipeline.jobs import train_job

    started = time.perf_counter()
    with _progress() as progress:
        summary = train_job(params, progress=progress)
    _print_train(summary, time.perf_counter() - started)
    return summary


@pipeline_app.command("publish")
def publish_command() -> None:
    """Write gold.sales_overall and gold.mapping_timeseries_id_product from the latest run."""
    _run_publish()


def _run_publish() -> None:
    from pipeline.jobs import publish_job

    _print_counts("prd_sales.gold", publish_job())


@functools.wraps(train_command)
def run(**options: Any) -> None:
    params = _train_params(**options)
    _run_prep(force=False)
    _run_train(params)
    _run_publish()


# The same options as train, declared once; wraps() copied train's help, so set run's own.
run.__doc__ = "prep, then train and publish (train and publish run even if prep found nothing new)."
pipeline_app.command("run")(run)


@pipeline_app.command()
def watch(
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between checks.")] = 30.0,
    max_polls: Annotated[int | None, typer.Option(help="Stop after this many checks.")] = None,
) -> None:
    """Poll the sources; when one changes, run prep, train and publish (the demo's trigger)."""
    from pipeline.train import TrainParams
    from pipeline.watch import watch as poll

    def on_change() -> None:
        _run_prep(force=False)
        _run_train(TrainParams())
        _run_publish()

    console.print(f"watching {settings.warehouse_path()} every {interval:g}s (Ctrl-C stops)")
    poll(
        on_change=on_change,
        interval=interval,
        max_polls=max_polls,
        on_error=lambda exc: err_console.print(
            f"[yellow]warning:[/] {escape(str(exc))}", highlight=False
        ),
    )


@app.command()
def demo(
    scale: Annotated[float, typer.Option(min=0.01, help="Size of the generated data.")] = 1.0,
) -> None:
    """Generate demo sources, prep, train the whole catalogue, publish; say where it all is."""
    from pipeline.train import TrainParams

    started = time.perf_counter()
    generate(scale=scale, seed=42)
    _run_prep(force=True)
    summary = _run_train(TrainParams())
    _run_publish()
    etorki = _answer_seed_question()
    table = Table(title=f"salesgenie demo done in {time.perf_counter() - started:.0f}s")
    table.add_column("what")
    table.add_column("where", overflow="fold")
    table.add_row("warehouse (DuckDB)", str(settings.warehouse_path().resolve()))
    table.add_row("MLflow store", settings.mlflow_tracking_uri())
    for name, path in summary.tracking.artifacts.items():
        table.add_row(f"chart: {name}", str(Path(path).resolve()))
    if etorki is not None:
        table.add_row("chart: the Etorki question", str(etorki.resolve()))
    table.add_row(
        "open the runs", f"mlflow ui --backend-store-uri {settings.mlflow_tracking_uri()}"
    )
    console.print(table)


def _answer_seed_question() -> Path | None:
    """The seed's Etorki question, answered offline: its sentence, and its chart's path."""
    from agent.core import SEED_QUESTION, open_agent

    console.print(f"question: {SEED_QUESTION}", highlight=False)
    with open_agent("offline") as agent:
        answer = agent.ask(SEED_QUESTION, chart_path=settings.charts_dir() / "etorki.png")
    if answer.status != "ok":
        err_console.print(
            f"[yellow]warning:[/] the Etorki question got {answer.status}: "
            f"{escape(answer.error or answer.answer or '')}",
            highlight=False,
        )
        return None
    console.print(answer.answer, highlight=False, markup=False)
    return Path(answer.chart) if answer.chart else None


def _print_counts(title: str, counts: dict[str, int]) -> None:
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in counts.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)


def _print_prep(summary: Any) -> None:
    console.print(summary.describe())


def _print_train(summary: Any, elapsed: float) -> None:
    result = summary.result
    table = Table(title=f"training: {len(result.best_models)} series in {elapsed:.1f}s")
    table.add_column("model")
    table.add_column("mean SMAPE", justify="right")
    table.add_column("selected for", justify="right")
    chosen: dict[str, int] = {}
    for model in result.best_models.values():
        chosen[model] = chosen.get(model, 0) + 1
    for model in result.params.models:
        smape = result.model_mean_smape.get(model)
        table.add_row(model, "-" if smape is None else f"{smape:.4f}", str(chosen.get(model, 0)))
    console.print(table)
    console.print(f"best_smape {result.best_smape:.4f} · MLflow run {summary.tracking.run_id}")
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)


SemanticModelPath = Annotated[
    Path | None,
    typer.Option("--model", help="Semantic model YAML; default: the packaged one.", metavar="PATH"),
]


@semantic_app.command("validate")
def semantic_validate(model: SemanticModelPath = None) -> None:
    """Check every table, column, metric, filter and verified query against the warehouse."""
    from semantic_layer.model import DEFAULT_PATH, load_semantic_model
    from semantic_layer.validate import connect_read_only, validate

    path = model or DEFAULT_PATH
    semantic = load_semantic_model(path)
    with connect_read_only() as con:
        problems = validate(semantic, con)
    for problem in problems:
        console.print(escape(str(problem)), highlight=False, soft_wrap=True)
    if problems:
        raise SalesgenieError(
            f"semantic model {path}: {len(problems)} problem(s) against {settings.warehouse_path()}"
        )
    console.print(
        f"semantic model OK: {len(semantic.tables)} tables, {semantic.column_count()} columns, "
        f"{len(semantic.verified_queries)} verified queries",
        highlight=False,
    )


@semantic_app.command("refresh")
def semantic_refresh(model: SemanticModelPath = None) -> None:
    """Rewrite the model's sample values (brands, sales orgs, models, products) from the data."""
    from semantic_layer.model import DEFAULT_PATH, load_semantic_model
    from semantic_layer.validate import connect_read_only, refresh

    path = model or DEFAULT_PATH
    semantic = load_semantic_model(path)
    with connect_read_only() as con:
        refreshed = refresh(semantic, con, path)
    changed = [
        f"{table.name}.{new.name}"
        for table, new_table in zip(semantic.tables, refreshed.tables, strict=True)
        for old, new in zip(table.dimensions, new_table.dimensions, strict=True)
        if old.sample_values != new.sample_values
    ]
    console.print(
        f"refreshed {path}: {len(changed)} column(s) with new sample values"
        + (f" ({', '.join(changed)})" if changed else ""),
        highlight=False,
        soft_wrap=True,
    )


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

    with _progress() as progress:
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
        _fail(f"GOOD share {share:.1%} is below --min-good {min_good:.0%}", 1)


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

    uvicorn.run(create_app(server), host=host, port=port)
