"""MLflow logging, the registered pyfunc model and the training charts, on a hand-made TrainResult.

The result is built here with statsforecast directly (not with pipeline.train.train) so these
tests pin the tracking contract on their own. One sqlite store serves the whole module: creating
one costs several seconds of migrations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from rich.progress import Progress

from pipeline import charts
from pipeline.models import build_model
from pipeline.tracking import TrackingInfo, load_champion, log_training_run
from pipeline.train import TrainParams, TrainResult
from salesgenie.errors import SalesgenieError

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

MODELS = (
    "StatsForecastBaselineNaive",
    "StatsForecastBaselineWindowAverage",
    "StatsForecastAutoArima",
)
HORIZON = 3
WINDOWS = 3
SEASON = 4
FIRST_MONDAY = pd.Timestamp("2024-01-01")
REGISTERED = "prd_sales.gold.sales_weekly_forecast_model_test"


def _series(weeks: int = 60) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    t = np.arange(weeks)
    intermittent = np.where(rng.random(weeks) < 0.3, 0.0, rng.poisson(5, weeks).astype(float))
    return {
        "FR01_100001": 500 + 60 * np.sin(2 * np.pi * t / SEASON) + rng.normal(0, 25, weeks),
        "FR01_100002": 80 + 0.8 * t + rng.normal(0, 6, weeks),
        "DE01_200001": intermittent,  # zeros make week-over-week changes infinite
    }


def _smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    denom = np.abs(actual) + np.abs(forecast)
    terms = np.divide(
        2 * np.abs(actual - forecast), denom, out=np.zeros_like(denom), where=denom > 0
    )
    return float(terms.mean())


def build_result() -> TrainResult:
    """A small real TrainResult: backtests, selection and full-history fits done by hand."""
    params = TrainParams(
        horizon=HORIZON,
        backtest_windows=WINDOWS,
        models=MODELS,
        register_as=REGISTERED,
        experiment="tracking_test",
    )
    history_parts, eval_rows, scoring_parts = [], [], []
    best_models, fitted_models, best_scores = {}, {}, []
    for ts_id, raw in _series().items():
        y = np.clip(raw, 0, None)
        dates = pd.date_range(FIRST_MONDAY, periods=len(y), freq="W-MON")
        history_parts.append(pd.DataFrame({"unique_id": ts_id, "ds": dates, "y": y}))
        scores = {}
        for name in MODELS:
            smapes = []
            for w in range(WINDOWS):
                cut = len(y) - HORIZON - (WINDOWS - 1 - w)
                model = build_model(name, SEASON, HORIZON).fit(y[:cut])
                fcst = np.clip(model.predict(h=HORIZON)["mean"], 0, None)
                actual = y[cut : cut + HORIZON]
                smapes.append(_smape(actual, fcst))
                eval_rows.append(
                    {
                        "timeseries_id": ts_id,
                        "model": name,
                        "backtest_window_start_date": dates[cut].date(),
                        "metric_name": "smape",
                        "metric_value": smapes[-1],
                        "forecast": list(fcst),
                        "actual": list(actual),
                        "model_pickle": b"not-logged",
                    }
                )
            scores[name] = float(np.mean(smapes))
        best = min(scores, key=scores.get)
        best_scores.append(scores[best])
        model = build_model(best, SEASON, HORIZON).fit(y)
        out = model.predict(h=HORIZON, level=[80, 95])
        best_models[ts_id], fitted_models[ts_id] = best, model
        scoring_parts.append(
            pd.DataFrame(
                {
                    "timeseries_id": ts_id,
                    "model": best,
                    "date": pd.date_range(
                        dates[-1] + pd.Timedelta(weeks=1), periods=HORIZON, freq="W-MON"
                    ),
                    "forecast": np.clip(out["mean"], 0, None),
                    "forecast_lower": np.clip(np.asarray(out["lo-95"]), 0, None),
                    "forecast_upper": np.clip(np.asarray(out["hi-95"]), 0, None),
                    "forecast_lower_80": np.clip(np.asarray(out["lo-80"]), 0, None),
                    "forecast_upper_80": np.clip(np.asarray(out["hi-80"]), 0, None),
                }
            )
        )
    evaluation = pd.DataFrame(eval_rows)
    per_model = evaluation.groupby("model")["metric_value"].mean()
    return TrainResult(
        params=params,
        history=pd.concat(history_parts, ignore_index=True),
        evaluation=evaluation,
        scoring=pd.concat(scoring_parts, ignore_index=True),
        best_models=best_models,
        fitted_models=fitted_models,
        model_mean_smape={m: float(v) for m, v in per_model.items()},
        best_smape=float(np.mean(best_scores)),
        notes=["DE01_200001: intermittent demand"],
    )


@dataclass
class Store:
    root: Path
    uri: str
    result: TrainResult
    first: TrackingInfo
    second: TrackingInfo
    progress: Progress


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """Two training runs logged into a fresh sqlite store, artifacts under the same tmp dir."""
    import mlflow

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    previous_uri = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.chdir(root)  # settings' data/ (artifacts, charts) now lives in root
        result = build_result()
        progress = Progress()  # never started: records the task without drawing
        first = log_training_run(
            result,
            progress=progress,
            plot_series="FR01_100001",
            plot_label="ETORKI PORT 250G FAMILIAL X8 FR",
        )
        second = log_training_run(result, plot_series="XX99_999999")
        yield Store(root, uri, result, first, second, progress)
    mlflow.set_tracking_uri(previous_uri)


def test_run_holds_params_metrics_tags_and_artifacts(store: Store) -> None:
    import mlflow

    run = mlflow.MlflowClient(store.uri).get_run(store.first.run_id)
    assert run.data.params["models"] == ",".join(MODELS)
    assert run.data.params["horizon"] == "3"
    assert run.data.params["product"] == ""
    assert run.data.params["start_date"] == "2024-01-01"
    assert run.data.params["register_as"] == REGISTERED
    metrics = run.data.metrics
    assert metrics["best_smape"] == pytest.approx(store.result.best_smape)
    for model, value in store.result.model_mean_smape.items():
        assert metrics[f"mean_smape_{model}"] == pytest.approx(value)
    assert metrics["n_series"] == 3 and metrics["n_series_forecast"] == 3
    assert run.data.tags["salesgenie.plot_series"] == "FR01_100001"
    assert "intermittent" in run.data.tags["mlflow.note.content"]
    assert run.info.experiment_id == store.first.experiment_id
    experiment = mlflow.MlflowClient(store.uri).get_experiment(store.first.experiment_id)
    assert experiment.name == "tracking_test"
    assert experiment.artifact_location.startswith((store.root / "data").as_uri())

    artifact_dir = Path(run.info.artifact_uri.removeprefix("file://"))
    for relative in store.first.run_artifacts:
        assert (artifact_dir / relative).stat().st_size > 0, relative
    assert "charts/forecast_FR01_100001.png" in store.first.run_artifacts
    evaluation = pd.read_csv(artifact_dir / "tables/evaluation.csv")
    assert "model_pickle" not in evaluation.columns
    assert len(evaluation) == len(store.result.evaluation)
    assert len(json.loads(evaluation["forecast"][0])) == HORIZON
    task = store.progress.tasks[0]
    assert task.description == "logging to MLflow" and task.completed == task.total == 4


def test_unforecast_plot_series_falls_back_to_the_biggest_seller(store: Store) -> None:
    assert store.second.artifacts["forecast"].name == "forecast_FR01_100001.png"
    assert store.second.run_id != store.first.run_id


def test_champion_alias_follows_the_latest_version(store: Store) -> None:
    import mlflow

    client = mlflow.MlflowClient(store.uri)
    assert (store.first.model_version, store.second.model_version) == ("1", "2")
    assert str(client.get_model_version_by_alias(REGISTERED, "champion").version) == "2"
    assert store.second.model_uri == f"models:/{REGISTERED}/2"
    assert client.get_model_version(REGISTERED, "2").run_id == store.second.run_id


@pytest.fixture(scope="module")
def champion(store: Store) -> PyFuncModel:
    import mlflow

    return mlflow.pyfunc.load_model(f"models:/{REGISTERED}@champion")


def test_pyfunc_forecasts_equal_the_fitted_models(store: Store, champion: PyFuncModel) -> None:
    ids = ["FR01_100002", "FR01_100001"]
    out = champion.predict(pd.DataFrame({"timeseries_id": ids}), params={"horizon": 3})
    assert list(out.columns) == [
        "timeseries_id",
        "date",
        "model",
        "forecast",
        "forecast_lower_80",
        "forecast_upper_80",
        "forecast_lower_95",
        "forecast_upper_95",
    ]
    assert list(out["timeseries_id"]) == [ids[0]] * 3 + [ids[1]] * 3
    last = store.result.history["ds"].max()
    for ts_id in ids:
        rows = out[out["timeseries_id"] == ts_id]
        expected = store.result.fitted_models[ts_id].predict(h=3, level=[80, 95])
        np.testing.assert_allclose(rows["forecast"], np.clip(expected["mean"], 0, None))
        np.testing.assert_allclose(rows["forecast_upper_95"], np.clip(expected["hi-95"], 0, None))
        np.testing.assert_allclose(rows["forecast_lower_80"], np.clip(expected["lo-80"], 0, None))
        assert set(rows["model"]) == {store.result.best_models[ts_id]}
        assert list(rows["date"]) == [last + pd.Timedelta(weeks=k) for k in (1, 2, 3)]
        assert (rows["date"].dt.dayofweek == 0).all()
        scoring = store.result.scoring[store.result.scoring["timeseries_id"] == ts_id]
        np.testing.assert_allclose(rows["forecast"], scoring["forecast"])


def test_pyfunc_default_horizon_and_date_range(store: Store, champion: PyFuncModel) -> None:
    default = champion.predict(pd.DataFrame({"timeseries_id": ["FR01_100001"]}))
    assert len(default) == HORIZON
    last = store.result.history["ds"].max()
    window = pd.DataFrame(
        {
            "timeseries_id": ["FR01_100001", "DE01_200001"],
            "start_date": [(last + pd.Timedelta(weeks=2)).strftime("%Y-%m-%d"), None],
            "end_date": [(last + pd.Timedelta(weeks=4)).strftime("%Y-%m-%d"), None],
        }
    )
    out = champion.predict(window, params={"horizon": 6})
    first = out[out["timeseries_id"] == "FR01_100001"]
    assert list(first["date"]) == [last + pd.Timedelta(weeks=k) for k in (2, 3, 4)]
    assert len(out[out["timeseries_id"] == "DE01_200001"]) == 6
    assert (out["forecast"] >= 0).all()


def test_pyfunc_rejects_unknown_series_and_bad_horizon(champion: PyFuncModel) -> None:
    with pytest.raises(ValueError, match="unknown timeseries_id: XX99_000000"):
        champion.predict(pd.DataFrame({"timeseries_id": ["FR01_100001", "XX99_000000"]}))
    with pytest.raises(ValueError, match="horizon must be between 1"):
        champion.predict(pd.DataFrame({"timeseries_id": ["FR01_100001"]}), params={"horizon": 0})


def test_pyfunc_loads_in_a_fresh_interpreter(store: Store, champion: PyFuncModel) -> None:
    code = (
        "import json, sys, mlflow, pandas as pd\n"
        f"m = mlflow.pyfunc.load_model('models:/{REGISTERED}@champion')\n"
        "out = m.predict(pd.DataFrame({'timeseries_id': ['FR01_100001']}), params={'horizon': 4})\n"
        "print(out.to_json(orient='records', date_format='iso'))\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": store.uri}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=store.root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    here = champion.predict(pd.DataFrame({"timeseries_id": ["FR01_100001"]}), params={"horizon": 4})
    assert [r["forecast"] for r in rows] == pytest.approx(list(here["forecast"]))
    assert rows[0]["date"].startswith(here["date"][0].strftime("%Y-%m-%d"))


def test_load_champion_uses_settings_and_explains_a_missing_model(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    request = pd.DataFrame({"timeseries_id": ["FR01_100002"]})
    assert len(load_champion(REGISTERED).predict(request)) == 3
    with pytest.raises(SalesgenieError, match="no model 'prd_sales.gold.nothing'"):
        load_champion("prd_sales.gold.nothing")


@pytest.mark.parametrize(
    "model", ["StatsForecastBaselineWindowAverage", "StatsForecastBaselineSeasonalWindowAverage"]
)
def test_conformal_bands_hold_for_every_horizon(model: str) -> None:
    """Calibrated for HORIZON weeks: a shorter horizon is that forecast cut, a longer one has
    bands up to HORIZON only."""
    from pipeline.forecast_model import SeriesModel, StatsForecastModelWrapper

    y = np.arange(60, dtype=float) % 5 + 10
    fitted = build_model(model, SEASON, HORIZON).fit(y)
    entry = SeriesModel(model, fitted, pd.Timestamp("2024-07-22"))
    wrapper = StatsForecastModelWrapper({"A": entry}, horizon=HORIZON)
    request = pd.DataFrame({"timeseries_id": ["A"]})
    full = wrapper.predict(None, request, {"horizon": HORIZON})
    for horizon in (1, 2):
        short = wrapper.predict(None, request, {"horizon": horizon})
        pd.testing.assert_frame_equal(short, full.head(horizon))
    longer = wrapper.predict(None, request, {"horizon": 5})
    assert longer["forecast"].notna().all()
    assert longer["forecast_upper_95"].notna().tolist() == [True, True, True, False, False]
    assert longer["date"].iloc[0] == pd.Timestamp("2024-07-29")


def test_charts_are_real_pngs(store: Store, tmp_path: Path) -> None:
    result = store.result
    histogram = charts.wow_variation_histogram(result.history, tmp_path / "h.png")
    plot = charts.forecast_plot(
        result.history, result.scoring, result.evaluation, "DE01_200001", tmp_path / "sub" / "f.png"
    )
    for path in (histogram, plot, *store.first.artifacts.values()):
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, path
    changes = charts.week_over_week_variation(result.history)
    assert np.isfinite(changes).all() and changes.between(-100, 200).all()
    with pytest.raises(ValueError, match="no forecast"):
        charts.forecast_plot(
            result.history, result.scoring, result.evaluation, "nope", tmp_path / "x.png"
        )


def test_monte_carlo_band_brackets_the_forecast() -> None:
    forecast = np.array([100.0, 100.0, 100.0, 100.0])
    errors = np.array([[-10.0, -20.0, -30.0], [10.0, 20.0, 30.0], [0.0, 0.0, 0.0]])
    low, high = charts.monte_carlo_band(forecast, errors)
    assert (low <= forecast).all() and (high >= forecast).all()
    assert high[2] == pytest.approx(130) and low[3] == pytest.approx(70)  # step 4 reuses step 3


def test_distributed_run_is_logged_without_a_model(store: Store) -> None:
    """Spark training brings no fitted models back: the run is logged, nothing registered."""
    import mlflow

    info = log_training_run(replace(store.result, fitted_models={}))
    assert (info.model_name, info.model_version, info.model_uri) == (None, None, None)
    client = mlflow.MlflowClient(store.uri)
    assert "no fitted models" in client.get_run(info.run_id).data.tags["salesgenie.model"]
    assert str(client.get_model_version_by_alias(REGISTERED, "champion").version) == "2"


def test_mlflow_failures_are_one_line_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://x")
    with pytest.raises(SalesgenieError, match="MLflow logging failed"):
        log_training_run(build_result())


def test_scoring_server_answers_forecasts_and_400s(champion: PyFuncModel) -> None:
    """What `mlflow models serve` runs: JSON records and params in, a clear 400 on bad input."""
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient
    from mlflow.pyfunc import scoring_server

    client = TestClient(scoring_server.init(champion))
    ok = client.post(
        "/invocations",
        json={"dataframe_records": [{"timeseries_id": "FR01_100002"}], "params": {"horizon": 2}},
    )
    assert ok.status_code == 200, ok.text
    rows = ok.json()["predictions"]
    assert [row["date"][:10] for row in rows] == ["2025-02-24", "2025-03-03"]
    bad = client.post("/invocations", json={"dataframe_records": [{"timeseries_id": "NOPE"}]})
    assert bad.status_code == 400
    assert "unknown timeseries_id: NOPE" in bad.json()["message"]
