"""Load on the `weekly_forecast` model-serving endpoint, beside MLflow's own scoring server.

Aims (issue 7): 50 concurrent clients for 30 s, 0 errors; report invocation latency p50/p99 and
throughput, and the same load on the peer it replaces: `mlflow models serve --env-manager local`
serving the same champion (one uvicorn worker, as `salesgenie serve` is one process).

Each server runs in its own process on a free loopback port, in --workdir, whose data/ holds a
published warehouse and its MLflow registry; without --workdir the Genie load benchmark's demo
(every product trained) is built in a temporary directory first. Clients POST back to back (no
think time), each request one random published series in dataframe_records, default horizon.
The first call, which loads the model, is made and timed before the clock starts. The clients
use aiohttp, as the Genie load benchmark's do: they share the two cores with the server.

    .venv/bin/python benchmarks/serving_load.py [--clients 50] [--seconds 30] [--workdir DIR]
                                                [--no-peer]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import duckdb
from genie_load import (
    free_port,
    percentile,
    print_machine,
    start_process,
    start_server,
    stop,
    workdir_or_demo,
)
from rich.console import Console
from rich.table import Table

from pipeline.tracking import CHAMPION
from pipeline.train import TrainParams

MLFLOW = Path(sys.executable).parent / "mlflow"
INVOCATIONS = "/serving-endpoints/weekly_forecast/invocations"
REQUEST_TIMEOUT_S = 60.0


@dataclass
class Run:
    """One server under load: its latencies (s) of answered calls and its errors."""

    name: str
    first_call_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, detail[:200])

    @property
    def per_s(self) -> float:
        return len(self.latencies) / self.elapsed_s

    def quantile(self, q: float) -> float:
        return percentile(self.latencies, q)


def series_ids(workdir: Path) -> list[str]:
    """The published series: the ones the champion was trained on."""
    path = workdir / "data" / "prd_sales.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT timeseries_id FROM prd_sales.gold.mapping_timeseries_id_product ORDER BY 1"
        ).fetchall()
    if not rows:
        sys.exit(f"{path} has no published series: run the pipeline first")
    return [row[0] for row in rows]


def start_peer(workdir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`mlflow models serve` on the champion, in this environment; returns once it answers."""
    port = free_port()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'data' / 'mlflow.db'}",
        "PATH": f"{MLFLOW.parent}{os.pathsep}{os.environ.get('PATH', '')}",  # it runs `uvicorn`
    }
    model_uri = f"models:/{TrainParams.register_as}@{CHAMPION}"
    command = [str(MLFLOW), "models", "serve", "-m", model_uri, "--env-manager", "local"]
    url = f"http://127.0.0.1:{port}"
    command += ["--host", "127.0.0.1", "--port", str(port)]
    process = start_process("mlflow models serve", command, workdir, env, f"{url}/ping", log_path)
    return process, url


async def invoke(http: aiohttp.ClientSession, path: str, ts_id: str, run: Run) -> float | None:
    """One call; its latency, or None (counted as an error) when it failed."""
    body = {"dataframe_records": [{"timeseries_id": ts_id}]}
    started = time.perf_counter()
    try:
        async with http.post(path, json=body) as response:
            text = await response.text()
    except TimeoutError as exc:
        run.error("timeout", repr(exc))
        return None
    except aiohttp.ClientError as exc:
        run.error("transport", repr(exc))
        return None
    latency = time.perf_counter() - started
    if response.status != 200:
        run.error(f"HTTP {response.status}", text)
        return None
    if not json.loads(text).get("predictions"):
        run.error("empty answer", text)
        return None
    return latency


async def client(
    http: aiohttp.ClientSession, path: str, ids: list[str], run: Run, seed: int, end: float
) -> None:
    rng = random.Random(seed)
    while time.monotonic() < end:
        latency = await invoke(http, path, rng.choice(ids), run)
        if latency is not None:
            run.latencies.append(latency)


async def load(name: str, url: str, path: str, ids: list[str], clients: int, seconds: float) -> Run:
    """The first call alone (it loads the model), then `clients` callers for `seconds`."""
    run = Run(name)
    connector = aiohttp.TCPConnector(limit=clients + 10)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as http:
        first = await invoke(http, path, ids[0], run)
        if first is None:
            return run  # the error says why: no point loading a server that cannot answer
        run.first_call_s = first
        started = time.monotonic()
        end = started + seconds
        await asyncio.gather(*(client(http, path, ids, run, seed, end) for seed in range(clients)))
        run.elapsed_s = time.monotonic() - started  # calls under way at the end are finished
    return run


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f}"


def report(console: Console, runs: list[Run], clients: int, seconds: float, n_series: int) -> None:
    title = f"model serving: {clients} clients, {seconds:g} s, {n_series} series, 1 per call"
    table = Table(title=title)
    columns = ("server", "calls", "errors", "calls/s", "p50 ms", "p95 ms", "p99 ms", "max ms")
    for column in columns:
        table.add_column(column, justify="left" if column == "server" else "right")
    table.add_column("first call s", justify="right")
    answered = [run for run in runs if run.latencies and run.elapsed_s]
    for run in answered:
        table.add_row(
            run.name,
            f"{len(run.latencies):,}",
            f"{sum(run.errors.values()):,}",
            f"{run.per_s:,.1f}",
            ms(run.quantile(0.5)),
            ms(run.quantile(0.95)),
            ms(run.quantile(0.99)),
            ms(max(run.latencies)),
            f"{run.first_call_s:.2f}",
        )
    console.print(table)
    for run in runs:
        for kind, count in run.errors.most_common():
            console.print(f"[red]{run.name}: {kind}[/red] × {count}: {run.examples[kind]}")
    if len(answered) == 2:
        ours, peer = answered
        console.print(
            f"{ours.name} ÷ {peer.name}: p50 {ours.quantile(0.5) / peer.quantile(0.5):.2f}×, "
            f"p99 {ours.quantile(0.99) / peer.quantile(0.99):.2f}×, "
            f"throughput {ours.per_s / peer.per_s:.2f}×",
            highlight=False,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="holds data/ with a published warehouse")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--peer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also load `mlflow models serve` on the same champion",
    )
    args = parser.parse_args()
    console = Console(width=120)  # a table a log keeps whole
    print_machine(console, "0 errors")
    with tempfile.TemporaryDirectory(prefix="serving-load-") as tmp:
        workdir = workdir_or_demo(args.workdir, Path(tmp), console)
        ids = series_ids(workdir)
        servers = [("salesgenie serve", start_server, INVOCATIONS)]
        if args.peer:
            servers.append(("mlflow models serve", start_peer, "/invocations"))
        runs = []
        for name, start, path in servers:  # one at a time: they would share the CPUs
            process, url = start(workdir, Path(tmp) / f"{name.split()[0]}.log")
            try:
                console.print(f"{name}: {url} (pid {process.pid})", highlight=False)
                runs.append(asyncio.run(load(name, url, path, ids, args.clients, args.seconds)))
            finally:
                stop(process)
        report(console, runs, args.clients, args.seconds, len(ids))


if __name__ == "__main__":
    main()
