"""Load on the Genie-compatible API: many concurrent clients asking, polling and fetching results.

Aims (issue 6): 100 concurrent clients for 60 s on the offline backend, 0 errors, p50 and p99
≤ 1 s per question (POST until COMPLETED and, for a query answer, its result fetched).

`salesgenie serve --backend offline` runs in a separate process on a free loopback port (so the
clients and the server do not share a GIL), in --workdir, whose data/ holds a published
warehouse; without --workdir a small demo one is built in a temporary directory first (about
15 s). The server keeps the conversations in data/prd_sales.conversations.sqlite beside it.

    .venv/bin/python benchmarks/genie_load.py [--clients 100] [--duration 60] [--workdir DIR]

Clients ask back to back by default (closed loop, no think time): latency is then about clients
÷ throughput. --think S adds a pause of S seconds on average after each answer, as a person
reading it would. The clients use aiohttp: on a 2-core machine the load generator shares the
CPU with the server, and httpx's AsyncClient spent more CPU per request than the server did.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
from rich.console import Console
from rich.table import Table

SALESGENIE = Path(sys.executable).parent / "salesgenie"
SPACES = "/api/2.0/genie/spaces"
SPACE = "sales-forecast"
DEMO_STEPS = [
    ["pipeline", "generate", "--scale", "0.1"],
    ["pipeline", "prep"],
    [
        "pipeline",
        "train",
        "--models",
        "StatsForecastBaselineNaive,StatsForecastBaselineWindowAverage",
        "--backtest-windows",
        "2",
    ],
    ["pipeline", "publish"],
]
POLL_S = 0.05
QUESTION_TIMEOUT_S = 60.0  # the databricks-sdk's wait


@dataclass(frozen=True)
class Question:
    kind: str
    content: str
    expect: str = "query"  # query: COMPLETED with a query attachment; text: a text attachment


# Each scenario starts a conversation; the questions after the first are follow-ups in it.
SCENARIOS: list[list[Question]] = [
    [
        Question(
            "series",
            "Please show a graphic with sales for product Etorki and the prediction from the "
            "model, on a line plot. Please differentiate colors for train (actual) and predict.",
        ),
        Question("follow-up", "and for FR01?"),
        Question("follow-up", "same for 2024"),
    ],
    [Question("series", "sales for Etorki by week"), Question("follow-up", "only the forecast")],
    [Question("forecast", "forecast for the next 3 weeks")],
    [Question("forecast", "forecast for Etorki"), Question("follow-up", "and for FR01?")],
    [Question("top-N", "top 5 products by sales last 12 weeks")],
    [Question("top-N", "top 3 brands by sales in 2024"), Question("follow-up", "as a table")],
    [Question("breakdown", "total sales by brand in 2024")],
    [Question("breakdown", "sales by country in 2024")],
    [Question("totals", "total sales in 2024")],
    [Question("clarification", "forecast for etorki rape", expect="text")],
    [Question("unanswerable", "what is the weather", expect="text")],
]


@dataclass
class Stats:
    requests: int = 0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] += 1
        self.examples.setdefault(kind, detail[:200])


class Failed(Exception):
    """One question went wrong: `kind` is counted in the errors."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank quantile: a latency some request really had, not an interpolation."""
    return float(np.percentile(values, q * 100, method="nearest"))


def build_demo(workdir: Path, console: Console) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SALESGENIE_WAREHOUSE",)}
    env.pop("MLFLOW_TRACKING_URI", None)
    for step in DEMO_STEPS:
        console.print(f"[dim]salesgenie {' '.join(step)}[/dim]", highlight=False)
        done = subprocess.run(
            [str(SALESGENIE), *step], cwd=workdir, env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            sys.exit(f"salesgenie {' '.join(step)} failed:\n{done.stdout}\n{done.stderr}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_process(
    name: str, command: list[str], workdir: Path, env: dict[str, str], probe: str, log_path: Path
) -> subprocess.Popen[bytes]:
    """Start a server process; returns once `probe` (a URL) answers, exits with its log if the
    server dies or does not answer within two minutes."""
    log = log_path.open("wb")
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{name} exited ({process.returncode}):\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(probe, timeout=1):
                return process
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    process.terminate()
    sys.exit(f"{name} did not start in 120 s:\n{log_path.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def start_server(workdir: Path, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`salesgenie serve` on loopback, no token; returns once it answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "SALESGENIE_TOKEN"}
    command = [str(SALESGENIE), "serve", "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    probe = f"{url}{SPACES}/{SPACE}"
    process = start_process(
        "salesgenie serve", [*command, "--backend", "offline"], workdir, env, probe, log_path
    )
    return process, url


async def call(
    http: aiohttp.ClientSession, stats: Stats, method: str, path: str, **kwargs: object
) -> dict:
    stats.requests += 1
    try:
        async with http.request(method, path, **kwargs) as response:  # type: ignore[arg-type]
            if response.status >= 400:
                text = await response.text()
                raise Failed(f"HTTP {response.status}", f"{method} {path}: {text}")
            return await response.json()
    except TimeoutError as exc:
        raise Failed("timeout", f"{method} {path}: {exc!r}") from exc
    except aiohttp.ClientError as exc:
        raise Failed("transport", f"{method} {path}: {exc!r}") from exc


async def answer(
    http: aiohttp.ClientSession, stats: Stats, question: Question, conversation_id: str | None
) -> str:
    """Ask, poll until done, fetch the result; returns the conversation id."""
    body = {"content": question.content}
    if conversation_id is None:
        started = await call(http, stats, "POST", f"{SPACES}/{SPACE}/start-conversation", json=body)
        message = started["message"]
    else:
        path = f"{SPACES}/{SPACE}/conversations/{conversation_id}/messages"
        message = await call(http, stats, "POST", path, json=body)
    conversation_id = message["conversation_id"]
    path = f"{SPACES}/{SPACE}/conversations/{conversation_id}/messages/{message['message_id']}"
    deadline = time.monotonic() + QUESTION_TIMEOUT_S
    while message["status"] not in ("COMPLETED", "FAILED"):
        if time.monotonic() > deadline:
            raise Failed("timeout", f"{question.content!r} still {message['status']}")
        await asyncio.sleep(POLL_S)
        message = await call(http, stats, "GET", path)
    if message["status"] == "FAILED":
        raise Failed("FAILED", f"{question.content!r}: {message.get('error')}")
    attachments = message["attachments"]
    if question.expect == "text":
        if not any("text" in a for a in attachments):
            raise Failed("unexpected answer", f"{question.content!r}: no text: {attachments}")
        return conversation_id
    query = next((a for a in attachments if "query" in a), None)
    if query is None:
        raise Failed("unexpected answer", f"{question.content!r}: no query: {attachments}")
    result = await call(
        http, stats, "GET", f"{path}/attachments/{query['attachment_id']}/query-result"
    )
    rows = result["statement_response"]["result"]["row_count"]
    if rows != query["query"]["query_result_metadata"]["row_count"]:
        raise Failed("unexpected answer", f"{question.content!r}: row counts differ")
    return conversation_id


async def client(
    http: aiohttp.ClientSession, stats: Stats, seed: int, end: float, think: float
) -> None:
    rng = random.Random(seed)
    await asyncio.sleep(rng.uniform(0, think))  # users do not all start in the same instant
    while time.monotonic() < end:
        scenario = rng.choice(SCENARIOS)
        # Sometimes only the opening question, sometimes its follow-ups too.
        turns = scenario[: rng.randint(1, len(scenario))]
        conversation_id = None
        for question in turns:
            started = time.perf_counter()
            try:
                conversation_id = await answer(http, stats, question, conversation_id)
            except Failed as exc:
                stats.error(exc.kind, str(exc))
                break
            except Exception as exc:  # a malformed body: still counted, the run goes on
                stats.error("client", repr(exc))
                break
            stats.latencies[question.kind].append(time.perf_counter() - started)
            if think:  # a user reading the answer (uniform around the mean), not past the end
                await asyncio.sleep(min(rng.uniform(0, 2 * think), end - time.monotonic()))


async def run_load(url: str, clients: int, duration: float, think: float) -> tuple[Stats, float]:
    stats = Stats()
    connector = aiohttp.TCPConnector(limit=clients + 10)
    timeout = aiohttp.ClientTimeout(total=QUESTION_TIMEOUT_S)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as http:
        started = time.monotonic()
        end = started + duration
        await asyncio.gather(*(client(http, stats, seed, end, think) for seed in range(clients)))
        elapsed = time.monotonic() - started  # questions under way at the end are finished
    return stats, elapsed


def workdir_or_demo(workdir: Path | None, tmp: Path, console: Console) -> Path:
    """The given working directory, or a small demo built in `tmp`."""
    if workdir is None:
        build_demo(tmp, console)
        return tmp.resolve()
    return workdir.resolve()


def print_machine(console: Console, aim: str) -> None:
    console.print(
        f"machine: {os.cpu_count()} cores, {cpu_model()}; Python {platform.python_version()}; "
        f"aim: {aim}",
        highlight=False,
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def report(console: Console, stats: Stats, elapsed: float, clients: int, think: float) -> None:
    everything = [s for values in stats.latencies.values() for s in values]
    answered = len(everything)
    errors = sum(stats.errors.values())

    pause = f", think {think:g} s" if think else ", no think time"
    title = f"Genie API load: {clients} clients, {elapsed:.0f} s{pause}, offline backend"
    table = Table(title=title)
    for column in ("kind", "answered", "p50 ms", "p95 ms", "p99 ms", "max ms"):
        table.add_column(column, justify="left" if column == "kind" else "right")
    for kind, values in sorted(stats.latencies.items()):
        table.add_row(
            kind,
            f"{len(values):,}",
            ms(statistics.median(values)),
            ms(percentile(values, 0.95)),
            ms(percentile(values, 0.99)),
            ms(max(values)),
        )
    if everything:
        table.add_row(
            "all",
            f"{answered:,}",
            ms(statistics.median(everything)),
            ms(percentile(everything, 0.95)),
            ms(percentile(everything, 0.99)),
            ms(max(everything)),
            style="bold",
        )
    console.print(table)

    summary = Table(show_header=False, title="totals")
    summary.add_column("", justify="left")
    summary.add_column("", justify="right")
    summary.add_row("HTTP requests", f"{stats.requests:,}")
    summary.add_row("questions answered", f"{answered:,}")
    summary.add_row("errors (aim 0)", f"{errors:,}")
    if everything:
        p50, p99 = statistics.median(everything), percentile(everything, 0.99)
        summary.add_row("p50 (aim ≤ 1 s)", f"{p50:.3f} s")
        summary.add_row("p95", f"{percentile(everything, 0.95):.3f} s")
        summary.add_row("p99 (aim ≤ 1 s)", f"{p99:.3f} s")
        summary.add_row("max", f"{max(everything):.3f} s")
    summary.add_row("throughput", f"{answered / elapsed:.1f} answers/s")
    summary.add_row("requests/s", f"{stats.requests / elapsed:.1f}")
    console.print(summary)
    for kind, count in stats.errors.most_common():
        console.print(f"[red]{kind}[/red] × {count}: {stats.examples[kind]}", highlight=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="holds data/prd_sales.duckdb; default: build")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean seconds a client waits between questions"
    )
    args = parser.parse_args()
    console = Console()
    print_machine(console, "0 errors, p50 and p99 ≤ 1 s")
    with tempfile.TemporaryDirectory(prefix="genie-load-") as tmp:
        workdir = workdir_or_demo(args.workdir, Path(tmp), console)
        log_path = Path(tmp) / "server.log"
        process, url = start_server(workdir, log_path)
        try:
            console.print(f"server: {url} (pid {process.pid}, cwd {workdir})", highlight=False)
            stats, elapsed = asyncio.run(run_load(url, args.clients, args.duration, args.think))
        finally:
            stop(process)
        report(console, stats, elapsed, args.clients, args.think)


if __name__ == "__main__":
    main()
