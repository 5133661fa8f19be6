"""Shared fixtures: one small demo warehouse, built once per test session through the CLI; the
app serving it on a real uvicorn server, once per test module; and a scripted OpenAI-compatible
server (tests/openai_stub.py) per test."""

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from live_server import LiveServer, live_server
from openai_stub import FakeOpenAI
from typer.testing import CliRunner

from salesgenie.cli import app

ETORKI = "ETORKI PORT 250G FAMILIAL X8 FR"


def _run_pipeline(workdir: Path, steps: list[list[str]]) -> None:
    """Run CLI steps in `workdir` (its data/ gets the warehouse and the MLflow store)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(workdir)
        mp.delenv("SALESGENIE_WAREHOUSE", raising=False)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        runner = CliRunner()
        for args in steps:
            result = runner.invoke(app, args)
            assert result.exit_code == 0, (args, result.output, result.exception)


@pytest.fixture(scope="session")
def run_pipeline() -> Callable[[Path, list[list[str]]], None]:
    """For modules that need a warehouse of their own (e.g. the whole catalogue trained)."""
    return _run_pipeline


@pytest.fixture(scope="session")
def demo_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory whose data/ holds a demo warehouse (Etorki trained and published)
    and its MLflow store. Tests read it; a test that changes it works on a copy."""
    path = tmp_path_factory.mktemp("demo")
    _run_pipeline(
        path,
        [
            ["pipeline", "generate", "--scale", "0.1"],
            ["pipeline", "prep"],
            ["pipeline", "train", "--product", ETORKI],
            ["pipeline", "publish"],
        ],
    )
    return path


@pytest.fixture(scope="session")
def demo_warehouse(demo_workdir: Path) -> Path:
    return demo_workdir / "data" / "prd_sales.duckdb"


@pytest.fixture(scope="module")
def app_server(
    demo_workdir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The app over the demo warehouse (offline backend), with a conversation store of the
    module's own."""
    store = tmp_path_factory.mktemp("server") / "conversations.sqlite"
    with live_server(demo_workdir, store) as running:
        yield running


@pytest.fixture
def client(app_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=app_server.url, timeout=60) as http:
        yield http


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    """A fresh scripted LLM server; set `.script` before asking, read `.requests` after."""
    fake = FakeOpenAI()
    yield fake
    fake.close()
