"""M4 Weekly: the project's training path scored against the competition's published table.

Trains the 359 series of the training file with pipeline.train.train — the code behind
`salesgenie pipeline train` — at horizon 13, scores the 13-week forecasts with
evals.m4_scoring (the only reader of the held-out file) and prints one table: our run, each of
our models alone (its own forecasts, no selection, one backtest window), and the published
rows. Every run is a fresh process, so its wall time and peak memory are its own.

    .venv/bin/python benchmarks/m4_weekly.py [--windows 10] [--models A,B] [--strategy best]
        [--max-history-weeks 260] [--only-selection] [--data ../shared/data/m4_weekly]

With no options it runs the configuration the README's M4 table reports (DEFAULTS below);
options given replace those fields, and TrainParams' defaults fill the rest.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from evals.m4_scoring import held_out_file, score, summary
from pipeline.m4 import TRAIN_FILE, read_wide_series
from pipeline.train import TrainParams, train

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "m4_weekly"
HORIZON = 13
# The winning configuration of issue 8's search (README, "Accuracy on M4 Weekly"): yearly season,
# the non-seasonal benchmarks next to the seasonal Auto* models, ARIMA non-seasonal (seasonal
# AutoARIMA at 52 takes ~20 s a series), 10 backtest windows on the last 5 years, and per series
# the mean of its k <= 3 best models.
DEFAULTS: dict[str, Any] = {
    "models": (
        "StatsForecastBaselineNaive",
        "StatsForecastBaselineRandomWalkWithDrift",
        "StatsForecastSesOptimized",
        "StatsForecastDampedHolt",
        "StatsForecastAutoEts",
        "StatsForecastAutoTheta",
        "StatsForecastDynamicOptimizedTheta",
        "StatsForecastAutoCes",
        "StatsForecastAutoArimaNonSeasonal",
    ),
    "season_length": 52,
    "backtest_windows": 10,
    "max_history_weeks": 260,
    "strategy": "combination",
    "max_combined": 3,
}
# (row label, how the row is found in published_weekly.csv); the best weekly entry is computed.
PUBLISHED = (
    ("M4: Naive2 (benchmark)", "method", "Naive2"),
    ("M4: SES (benchmark)", "method", "SES"),
    ("M4: Theta (benchmark)", "method", "Theta"),
    ("M4: Damped (benchmark)", "method", "Damped"),
    ("M4: Comb (benchmark)", "method", "Com"),
    ("M4: Smyl (1st overall)", "team", "Smyl"),
    ("M4: Montero-Manso et al. (2nd overall)", "team", "Montero-Manso"),
)


def main() -> None:
    args = _arguments()
    if args.worker:
        _train_and_measure(args.worker)
        return
    console = Console()
    started = time.perf_counter()
    console.print(_machine(), highlight=False)
    history = read_wide_series(args.data / TRAIN_FILE)
    console.print(
        f"{history['unique_id'].nunique()} series, {len(history):,} weeks "
        f"({history['ds'].min():%Y-%m-%d} … {history['ds'].max():%Y-%m-%d}), horizon {HORIZON}",
        highlight=False,
    )
    options = _train_options(args)
    runs = [(_selection_label(options), options)]
    if not args.only_selection:
        single = {k: v for k, v in options.items() if k not in ("strategy", "max_combined")}
        runs += [
            (f"ours: {name} alone", {**single, "models": (name,), "backtest_windows": 1})
            for name in options["models"]
        ]

    rows = []
    for label, kwargs in runs:
        run = _in_fresh_process(history, kwargs)
        scores = summary(score(run["scoring"], history, held_out_file(args.data)))
        if scores["series"] != history["unique_id"].nunique():
            raise SystemExit(f"{label}: {scores['series']} series scored")
        rows.append((label, scores, run))
        console.print(
            f"{label}: OWA {scores['owa']:.3f} in {run['seconds']:.0f}s; {_selected(run)}",
            highlight=False,
        )
        for note in run["notes"]:
            console.print(f"  note: {note}", highlight=False)
    console.print(_table(rows, _published(args.data)))
    console.print(
        "wall time: train() in its own process (interpreter start and imports excluded); "
        "peak RSS: ru_maxrss of that process (RUSAGE_SELF) / of its largest worker process "
        f"(RUSAGE_CHILDREN). Whole benchmark: {time.perf_counter() - started:.0f}s.",
        highlight=False,
    )


def _selected(run: dict[str, Any], shown: int = 6) -> str:
    """How many series each model (or combination) was selected for, most frequent first."""
    counts = list(run["selected"].items())
    text = ", ".join(f"{model} {n}" for model, n in counts[:shown])
    others = sum(n for _, n in counts[shown:])
    return f"selected {text}" + (f", {len(counts) - shown} others {others}" if others else "")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the M4 Weekly directory")
    parser.add_argument("--models", help="comma-separated model names (TrainParams.models)")
    parser.add_argument("--windows", type=int, help="backtest windows of the selection run")
    parser.add_argument("--strategy", help="training strategy, e.g. best or combination")
    parser.add_argument("--max-combined", type=int, help="largest k a combination averages")
    parser.add_argument("--max-history-weeks", type=int, help="weeks of history models see")
    parser.add_argument("--season-length", type=int, help="season length in weeks")
    parser.add_argument("--refit", help="once or every-window")
    parser.add_argument("--only-selection", action="store_true", help="skip single-model runs")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # one run, in a child
    return parser.parse_args()


def _train_options(args: argparse.Namespace) -> dict[str, Any]:
    """TrainParams fields: DEFAULTS, replaced by the command line (horizon fixed at M4's 13)."""
    given = {
        "models": tuple(m.strip() for m in args.models.split(",")) if args.models else None,
        "backtest_windows": args.windows,
        "strategy": args.strategy,
        "max_combined": args.max_combined,
        "max_history_weeks": args.max_history_weeks,
        "season_length": args.season_length,
        "refit": args.refit,
    }
    return {"horizon": HORIZON} | DEFAULTS | {k: v for k, v in given.items() if v is not None}


def _selection_label(options: dict[str, Any]) -> str:
    params = TrainParams(**options)
    history = f", last {params.max_history_weeks} weeks" if params.max_history_weeks else ""
    strategy = (
        f"combination (k ≤ {params.max_combined})"
        if params.strategy == "combination"
        else params.strategy
    )
    return (
        f"ours: {strategy} of {len(params.models)} models, season {params.season_length}, "
        f"{params.backtest_windows} windows{history}"
    )


def _in_fresh_process(history: pd.DataFrame, kwargs: dict[str, Any]) -> dict[str, Any]:
    """train() in a new interpreter, so ru_maxrss measures this run alone."""
    with tempfile.TemporaryDirectory() as tmp:
        pd.to_pickle((history, kwargs), Path(tmp) / "input.pkl")
        done = subprocess.run([sys.executable, __file__, "--worker", tmp], check=False)
        if done.returncode != 0:
            raise SystemExit(f"training run {kwargs} failed (exit {done.returncode})")
        return pd.read_pickle(Path(tmp) / "output.pkl")


def _train_and_measure(directory: Path) -> None:
    """The worker: train on input.pkl, write the forecasts and measurements to output.pkl."""
    history, kwargs = pd.read_pickle(directory / "input.pkl")
    started = time.perf_counter()
    with Progress(console=Console(stderr=True), transient=True) as progress:
        result = train(history, TrainParams(**kwargs), progress)
    seconds = time.perf_counter() - started
    pd.to_pickle(
        {
            "scoring": result.scoring,
            "seconds": seconds,
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "selected": pd.Series(result.best_models).value_counts().to_dict(),
            "notes": result.notes,
        },
        directory / "output.pkl",
    )


def _published(directory: Path) -> list[tuple[str, pd.Series]]:
    """The published rows the issue names; the best weekly entry is the lowest ranked OWA."""
    table = pd.read_csv(directory / "published_weekly.csv", dtype={"method": str})
    rows = []
    for label, column, value in PUBLISHED:
        found = (
            table[column] == value if column == "method" else table[column].str.startswith(value)
        )
        match = table[found]
        if len(match) != 1:
            raise SystemExit(f"published_weekly.csv: {len(match)} rows for {label}")
        rows.append((label, match.iloc[0]))
    entries = table[table["method"].str.isdigit()]
    best = entries.loc[entries["owa_weekly"].idxmin()]
    authors = " & ".join(name.split(";")[0].strip() for name in best["team"].split("&"))
    rows.append((f"M4: {authors} (best weekly)", best))
    return rows


def _table(
    ours: list[tuple[str, dict[str, float], dict[str, Any]]],
    published: list[tuple[str, pd.Series]],
) -> Table:
    table = Table(title=f"M4 Weekly, horizon {HORIZON}: sMAPE (%), MASE, OWA vs Naive2")
    for column in ("method", "sMAPE", "MASE", "OWA", "wall time", "peak RSS MiB"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for label, scores, run in ours:
        table.add_row(
            label,
            f"{scores['smape']:.3f}",
            f"{scores['mase']:.3f}",
            f"{scores['owa']:.3f}",
            f"{run['seconds']:.0f}s",
            f"{run['rss_mib']:.0f} / {run['worker_rss_mib']:.0f}",
        )
    table.add_section()
    for label, row in sorted(published, key=lambda item: item[1]["owa_weekly"]):
        table.add_row(
            label,
            f"{row['smape_weekly']:.3f}",
            f"{row['mase_weekly']:.3f}",
            f"{row['owa_weekly']:.3f}",
            "",
            "",
        )
    return table


def _machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{datetime.now():%Y-%m-%d %H:%M} · {os.cpu_count()} cores ({cpu}), "
        f"{len(os.sched_getaffinity(0))} usable, load average {load} · "
        f"Python {platform.python_version()}, "
        f"statsforecast {importlib.metadata.version('statsforecast')}"
    )


if __name__ == "__main__":
    main()
