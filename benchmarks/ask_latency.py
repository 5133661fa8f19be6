"""How fast `ask` answers offline: warm-process latency with and without the PNG, and cold start.

Aims (issue 4): p50 ≤ 50 ms without the chart, ≤ 250 ms with it, `salesgenie ask … --json`
cold start ≤ 2.5 s. Run in a directory whose data/ holds a published warehouse (`salesgenie
demo`, or the test fixture's copy):

    .venv/bin/python benchmarks/ask_latency.py [--workdir DIR] [--repeat 20]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

QUESTIONS = [
    "Please show a graphic with sales for product Etorki and the prediction from the model, on a "
    "line plot. Please differentiate colors for train (actual) and predict.",
    "total sales by brand in 2024",
    "top 5 products by sales last 12 weeks",
    "forecast for the next 3 weeks",
]
SALESGENIE = Path(sys.executable).parent / "salesgenie"


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank quantile: a latency some request really had, not an interpolation."""
    return float(np.percentile(values, q * 100, method="nearest"))


def warm(repeat: int) -> list[tuple[str, bool, list[float], str]]:
    """Per question and chart setting: the answers' elapsed_ms over `repeat` asks."""
    from agent.core import open_agent

    results = []
    with open_agent("offline") as agent, tempfile.TemporaryDirectory() as charts:
        for question in QUESTIONS:
            agent.ask(question, chart_path=Path(charts) / "warm.png")  # imports, caches
            for chart in (False, True):
                times, status = [], ""
                for i in range(repeat):
                    answer = agent.ask(question, chart_path=Path(charts) / f"{i}.png", chart=chart)
                    times.append(answer.elapsed_ms)
                    status = answer.status
                results.append((question, chart, times, status))
    return results


def cold_start(runs: int) -> list[float]:
    """Wall seconds of `salesgenie ask "…" --json --backend offline` in a fresh process."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(
            [str(SALESGENIE), "ask", QUESTIONS[1], "--json", "--backend", "offline"],
            capture_output=True,
            check=False,
        )
        times.append(time.perf_counter() - started)
    return times


def import_cost(module: str) -> float:
    """Cumulative import seconds of `module` from `python -X importtime`."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
    )
    pattern = re.compile(rf"^import time:\s+\d+ \|\s+(\d+) \| {re.escape(module)}$", re.M)
    match = pattern.search(done.stderr)
    return int(match.group(1)) / 1e6 if match else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path.cwd())
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--cold-runs", type=int, default=3)
    args = parser.parse_args()
    os.chdir(args.workdir)
    console = Console()

    table = Table(title=f"offline ask, warm process, {args.repeat} runs each (ms)")
    for column in ("question", "chart", "status", "p50", "p95"):
        table.add_column(column, justify="left" if column == "question" else "right")
    everything: dict[bool, list[float]] = {False: [], True: []}
    for question, chart, times, status in warm(args.repeat):
        everything[chart] += times
        short = question if len(question) <= 50 else question[:47] + "…"
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        table.add_row(short, "png" if chart else "-", status, f"{p50:.1f}", f"{p95:.1f}")
    for chart, aim in ((False, 50), (True, 250)):
        times = everything[chart]
        p50, p95 = statistics.median(times), percentile(times, 0.95)
        table.add_row(
            f"all (aim p50 ≤ {aim} ms)", "png" if chart else "-", "", f"{p50:.1f}", f"{p95:.1f}"
        )
    console.print(table)

    cold = cold_start(args.cold_runs)
    console.print(
        f"cold start `salesgenie ask … --json`: median {statistics.median(cold):.2f} s over "
        f"{len(cold)} runs (aim ≤ 2.5 s); import salesgenie.cli {import_cost('salesgenie.cli'):.2f}"
        f" s, agent.core {import_cost('agent.core'):.2f} s",
        highlight=False,
    )


if __name__ == "__main__":
    main()
