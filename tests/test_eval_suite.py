"""CI runs the offline eval suite on a demo-like warehouse and fails below 95% GOOD.

The warehouse: the demo's whole catalogue at scale 0.1, trained with two baselines and
AutoArima over two backtest windows (the demo trains five models). Gold SQL is computed from
the data, so the suite means the same on any such warehouse and on the real demo.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evals.runner import DEFAULT_QUESTIONS, load_questions
from salesgenie.cli import app
from salesgenie.warehouses import DuckDBWarehouse
from semantic_layer.guard import check_sql
from semantic_layer.model import load_semantic_model

# AutoArima: the suite asks about it by name.
MODELS = "StatsForecastBaselineNaive,StatsForecastBaselineWindowAverage,StatsForecastAutoArima"


@pytest.fixture(scope="module")
def eval_workdir(tmp_path_factory: pytest.TempPathFactory, run_pipeline) -> Path:
    """A working directory with a whole-catalogue warehouse and its MLflow store."""
    path = tmp_path_factory.mktemp("evals")
    run_pipeline(
        path,
        [
            ["pipeline", "generate", "--scale", "0.1"],
            ["pipeline", "prep"],
            ["pipeline", "train", "--models", MODELS, "--backtest-windows", "2"],
            ["pipeline", "publish"],
        ],
    )
    return path


def test_every_gold_sql_passes_the_guard_and_runs(eval_workdir: Path) -> None:
    questions = load_questions(DEFAULT_QUESTIONS)
    assert len(questions) >= 80
    allowed = load_semantic_model().allowed_columns()
    with DuckDBWarehouse(eval_workdir / "data" / "prd_sales.duckdb") as warehouse:
        for question in questions:
            for turn in question.turns:
                for sql in turn.gold_sql:
                    checked = check_sql(sql, allowed, row_limit=1_000_000)
                    assert warehouse.execute(checked.sql).rows, (question.id, sql)


def test_offline_suite_scores_at_least_95_percent(
    eval_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(eval_workdir)
    monkeypatch.delenv("SALESGENIE_WAREHOUSE", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    report = eval_workdir / "report.md"
    result = CliRunner().invoke(
        app, ["eval", "--backend", "offline", "--report", str(report), "--min-good", "0.95"]
    )
    payload = json.loads(report.with_suffix(".json").read_text())
    flagged = [(i["id"], i["reasons"]) for i in payload["items"] if i["verdict"] != "GOOD"]
    assert result.exit_code == 0, (payload["totals"], flagged, result.output)
    assert payload["totals"]["good_share"] >= 0.95
    assert "| **all** |" in report.read_text()
    assert payload["mlflow_run_id"]


def test_below_the_bar_exits_1_with_one_line(
    eval_workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(eval_workdir)
    monkeypatch.delenv("SALESGENIE_WAREHOUSE", raising=False)
    questions = tmp_path / "q.yaml"
    questions.write_text(
        "- id: wrong_on_purpose\n  category: totals\n  question: how many series are there\n"
        "  gold_sql: [SELECT COUNT(*) + 1 FROM prd_sales.gold.mapping_timeseries_id_product]\n"
        "  chart: none\n",
        encoding="utf-8",
    )
    report = tmp_path / "r.md"
    result = CliRunner().invoke(
        app, ["eval", "--questions", str(questions), "--report", str(report)]
    )
    assert result.exit_code == 1
    item = json.loads(report.with_suffix(".json").read_text())["items"][0]
    assert item["verdict"] == "BAD" and item["reasons"] == ["SINGLE_CELL_DIFFERENCE"]
