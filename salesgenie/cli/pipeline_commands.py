"""`salesgenie pipeline …` and `salesgenie demo`: the forecasting jobs."""

from __future__ import annotations

import functools
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from salesgenie import settings
from salesgenie.cli._app import (
    app,
    console,
    err_console,
    pipeline_app,
    progress_bars,
)
from salesgenie.errors import SalesgenieError


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

    with progress_bars() as progress, open_warehouse() as con:
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

    with progress_bars() as progress, open_warehouse() as con:
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
    with progress_bars() as progress:
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
