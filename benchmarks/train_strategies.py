"""Training strategies on the same series: refit in every window (MMF) vs the project's default.

Builds the demo warehouse (seed 42) in a temporary directory, takes a sample of its series and
trains them twice: `--refit every-window` (Many Model Forecasting refits every model before each
of the 10 backtest windows) and `--refit once` (the default: models with a forward step — the
Auto* models, Naive, SeasonalNaive — are fitted at the first window and carried forward).
Prints wall time, the selected models' mean SMAPE, AutoARIMA's own mean SMAPE, and the ratios.

    .venv/bin/python benchmarks/train_strategies.py [--series 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipeline.generate import generate
from pipeline.jobs import load_history
from pipeline.prep import run_prep
from pipeline.train import TrainParams, train
from pipeline.warehouse import open_warehouse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100, help="series sampled from the demo")
    args = parser.parse_args()
    console = Console()

    params = TrainParams()
    with tempfile.TemporaryDirectory() as tmp, open_warehouse(Path(tmp) / "w.duckdb") as con:
        generate(con, scale=1.0, seed=42)
        run_prep(con, force=True)
        history = load_history(con, params)
    ids = sorted(history["unique_id"].unique())
    step = max(1, len(ids) // args.series)
    sample = ids[::step][: args.series]
    history = history[history["unique_id"].isin(sample)]
    console.print(
        f"{len(sample)} series of the demo catalogue, {history.ds.nunique()} weeks, "
        f"horizon {params.horizon}, {params.backtest_windows} windows"
    )

    results = {}
    for refit in ("every-window", "once"):
        started = time.perf_counter()
        result = train(history, replace(params, refit=refit))
        results[refit] = (time.perf_counter() - started, result)
        console.print(f"  {refit}: {results[refit][0]:.1f}s")

    base_time, base = results["every-window"]
    table = Table(title="train strategies (same series, same models)")
    for column in (
        "strategy",
        "wall time s",
        "selected SMAPE",
        "AutoArima SMAPE",
        "speed-up",
        "SMAPE change",
    ):
        table.add_column(column, justify="right")
    for refit, (seconds, result) in results.items():
        arima = result.model_mean_smape.get("StatsForecastAutoArima", float("nan"))
        table.add_row(
            refit,
            f"{seconds:.1f}",
            f"{result.best_smape:.4f}",
            f"{arima:.4f}",
            f"{base_time / seconds:.2f}×",
            f"{(result.best_smape / base.best_smape - 1) * 100:+.2f}%",
        )
    console.print(table)


if __name__ == "__main__":
    main()
