"""M4 Weekly: the metrics against hand-computed values, the wide-format loader, load-m4, and
the rule that only the scorer ever reads the held-out test file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from evals.m4_scoring import TEST_FILE, held_out_file, score, summary
from pipeline.m4 import TRAIN_FILE, load_m4, read_wide_series
from pipeline.metrics import mase, owa, smape
from pipeline.train import TrainParams, train
from pipeline.warehouse import open_warehouse
from salesgenie.cli import app
from salesgenie.errors import SalesgenieError

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipeline", "agent", "semantic_layer", "evals", "salesgenie", "benchmarks")

TINY = "\n".join(
    [
        '"V1","V2","V3","V4","V5"',
        '"A","1","2","3","4"',
        '"B","10","20","",""',  # ragged: two trailing empty cells
        '"C","7","","",""',
    ]
)


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text + "\n", encoding="utf-8")
    return path


# --- metrics ---------------------------------------------------------------------------------


def test_m4_smape_is_100_times_ours():
    # y = [100, 200], ŷ = [110, 180]: 2·10/210 = 0.095238…, 2·20/380 = 0.105263…
    # M4: (200 / 2) · (10/210 + 20/380) = 100 · 0.100251… = 10.0251 %
    assert 100 * smape([100, 200], [110, 180]) == pytest.approx(10.025063, abs=1e-6)


def test_mase_scales_by_the_whole_in_sample_naive_error():
    # insample 1, 3, 2, 6: |3−1| + |2−3| + |6−2| = 2 + 1 + 4 = 7 over 3 steps → scale 7/3
    # errors |7−6| = 1, |3−6| = 3 → mean 2; MASE = 2 / (7/3) = 6/7
    assert mase([7, 3], [6, 6], [1, 3, 2, 6]) == pytest.approx(6 / 7)
    # m = 2: |2−1| + |6−3| = 4 over 2 → scale 2; MASE = 2 / 2 = 1
    assert mase([7, 3], [6, 6], [1, 3, 2, 6], m=2) == pytest.approx(1.0)


def test_owa_is_relative_to_naive2():
    assert owa(9.161, 2.777) == pytest.approx(1.0)
    # ½ · (4.5805 / 9.161 + 2.777 / 2.777) = ½ · (0.5 + 1) = 0.75
    assert owa(4.5805, 2.777) == pytest.approx(0.75)
    # other reference figures: ½ · (5 / 10 + 3 / 2) = 1
    assert owa(5, 3, naive2_smape=10, naive2_mase=2) == pytest.approx(1.0)


# --- loader ----------------------------------------------------------------------------------


def test_wide_series_are_dated_back_from_the_last_monday(tmp_path: Path):
    frame = read_wide_series(_write(tmp_path, "tiny.csv", TINY), last_monday=date(2025, 8, 25))
    assert list(frame.columns) == ["unique_id", "ds", "y"]
    assert frame.groupby("unique_id").size().to_dict() == {"A": 4, "B": 2, "C": 1}
    assert frame["ds"].dt.dayofweek.eq(0).all()
    assert frame.groupby("unique_id")["ds"].max().eq(pd.Timestamp("2025-08-25")).all()
    a = frame[frame["unique_id"] == "A"]
    assert a["ds"].dt.strftime("%Y-%m-%d").tolist() == [
        "2025-08-04",
        "2025-08-11",
        "2025-08-18",
        "2025-08-25",
    ]
    assert a["y"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert frame[frame["unique_id"] == "B"]["y"].tolist() == [10.0, 20.0]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('"V1","V2","V3"\n"A","1","x"', "'x' is not a number"),
        ('"V1","V2","V3"\n"A","","2"', "empty cell inside its history"),
        ('"V1","V2"\n"A","1"\n"A","2"', "'A' appears twice"),
        ('"V1","V2"\n"A",""', "'A' has no values"),
        ('"V1","V2"\n,"1"', "row 2 has no series id"),
        ('"V1"\n"A"', "needs a header"),
        ('"V1","V2"\n"A","1","2","3"', "more cells than the header"),
        ('"V1","V2"\n"A","1"\n"B","1","2"', "Expected 2 fields in line 3, saw 3"),
        ("", "not a wide series CSV"),
    ],
)
def test_malformed_files_are_named_in_one_line(tmp_path: Path, text: str, problem: str):
    path = _write(tmp_path, "bad.csv", text)
    with pytest.raises(SalesgenieError) as caught:
        read_wide_series(path)
    assert problem in str(caught.value)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_last_monday_must_be_a_monday(tmp_path: Path):
    with pytest.raises(SalesgenieError, match="not a Monday"):
        read_wide_series(_write(tmp_path, "tiny.csv", TINY), last_monday=date(2025, 8, 26))


def test_load_m4_writes_the_training_input(tmp_path: Path):
    _write(tmp_path, TRAIN_FILE, TINY)
    with open_warehouse(tmp_path / "w.duckdb") as con:
        loaded = load_m4(tmp_path, con)
        rows = con.execute(
            "SELECT sales_org || '_' || material_id, date, product, brand, quantity, net_value "
            "FROM gold.sales_data_for_forecast ORDER BY ALL"
        ).fetchall()
    assert (loaded.series, loaded.rows) == (3, 7)
    assert (loaded.first_date, loaded.last_date) == (date(2025, 8, 4), date(2025, 8, 25))
    assert loaded.end_date == date(2025, 9, 1)
    assert rows[0] == ("M4_A", date(2025, 8, 4), "A", "M4 Weekly", 1.0, None)
    assert {row[0] for row in rows} == {"M4_A", "M4_B", "M4_C"}


def test_load_m4_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _write(tmp_path, TRAIN_FILE, TINY)
    warehouse = tmp_path / "w.duckdb"
    monkeypatch.setenv("SALESGENIE_WAREHOUSE", str(warehouse))
    result = CliRunner().invoke(app, ["pipeline", "load-m4", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "loaded 3 series" in result.output
    assert "--end-date 2025-09-01" in result.output
    with open_warehouse(warehouse) as con:
        assert con.execute("SELECT count(*) FROM gold.sales_data_for_forecast").fetchone() == (7,)


# --- scorer ----------------------------------------------------------------------------------


def test_score_dates_the_test_weeks_after_each_history(tmp_path: Path):
    train_frame = read_wide_series(_write(tmp_path, "train.csv", '"V1","V2","V3"\n"A","1","3"'))
    _write(tmp_path, TEST_FILE, '"V1","V2","V3"\n"A","4","2"')
    forecasts = pd.DataFrame(
        {
            "timeseries_id": "A",
            "date": pd.to_datetime(["2025-09-01", "2025-09-08"]),
            "forecast": [3.0, 3.0],
        }
    )
    scores = score(forecasts, train_frame, held_out_file(tmp_path))
    # sMAPE: 100 · (2·1/7 + 2·1/5) / 2 = 100 · 12/35 = 34.2857 %; MASE: mean error 1 / scale 2
    assert scores.iloc[0]["smape"] == pytest.approx(1200 / 35)
    assert scores.iloc[0]["mase"] == pytest.approx(0.5)
    assert summary(scores)["owa"] == pytest.approx(owa(1200 / 35, 0.5))
    late = forecasts.assign(date=forecasts["date"] + pd.Timedelta(weeks=1))
    with pytest.raises(SalesgenieError, match="no forecast for A on 2025-09-01"):
        score(late, train_frame, held_out_file(tmp_path))


# --- only the scorer reads the test file -----------------------------------------------------

_opened: list[str] | None = None  # set while recording; audit hooks cannot be removed
_hook_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], str | bytes | Path):
        _opened.append(str(args[0]))


@contextmanager
def _recording_opens() -> Iterator[list[str]]:
    """Every file opened by this process meanwhile (builtin open and os.open both audit)."""
    global _opened, _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit)
        _hook_installed = True
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


def test_no_code_but_the_scorer_names_the_test_file():
    stem = TEST_FILE.removesuffix(".csv")
    scorer = REPO / "evals" / "m4_scoring.py"
    naming = [
        path.relative_to(REPO)
        for package in PACKAGES
        for path in sorted((REPO / package).rglob("*.py"))
        if path != scorer and stem in path.read_text(encoding="utf-8")
    ]
    assert naming == []
    assert stem in scorer.read_text(encoding="utf-8")


def _m4_like_directory(directory: Path) -> Path:
    """Three series in the competition's wide format: 60 weeks of history, 13 held out."""
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, 5, (3, 73)).cumsum(axis=1)
    header = ",".join(f'"V{i}"' for i in range(1, 62))
    train_rows = [
        f'"W{i + 1}",' + ",".join(f"{v:.2f}" for v in row[:60]) for i, row in enumerate(values)
    ]
    test_header = ",".join(f'"V{i}"' for i in range(1, 15))
    test_rows = [
        f'"W{i + 1}",' + ",".join(f"{v:.2f}" for v in row[60:]) for i, row in enumerate(values)
    ]
    _write(directory, TRAIN_FILE, "\n".join([header, *train_rows]))
    _write(directory, TEST_FILE, "\n".join([test_header, *test_rows]))
    return directory


def test_loading_and_training_never_open_the_test_file_but_scoring_does(tmp_path: Path):
    m4 = _m4_like_directory(tmp_path)
    test_path = held_out_file(m4).resolve()
    with _recording_opens() as opened:
        history = read_wide_series(m4 / TRAIN_FILE)
        params = TrainParams(
            horizon=13,
            backtest_windows=2,
            models=("StatsForecastBaselineNaive", "StatsForecastBaselineWindowAverage"),
            max_history_weeks=260,
            n_jobs=1,  # one process, so the hook sees every open
        )
        result = train(history, params)
    assert any(TRAIN_FILE in path for path in opened)
    assert not any(Path(path).resolve() == test_path for path in opened)

    with _recording_opens() as opened:
        scores = score(result.scoring, history, held_out_file(m4))
    assert any(Path(path).resolve() == test_path for path in opened)
    assert len(scores) == 3 and np.isfinite(scores[["smape", "mase"]].to_numpy()).all()
