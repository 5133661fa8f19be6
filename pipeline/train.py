"""Many-model training: backtest every model on every series, keep the best, forecast with it."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pipeline.metrics import smape_terms
from pipeline.models import DEFAULT_MODELS, build_model, check_models, min_history


@dataclass
class TrainParams:
    """The training job's parameters (the seed job's widgets), logged as MLflow params."""

    product: str | None = None
    start_date: date = date(2024, 1, 1)
    end_date: date = date(2025, 9, 1)  # exclusive
    freq: str = "W"
    horizon: int = 3
    backtest_windows: int = 10
    metric: str = "smape"
    models: tuple[str, ...] = DEFAULT_MODELS
    season_length: int = 4
    refit: str = (
        "once"  # "once": auto models fit at the first window, then forward; "every-window": MMF
    )
    n_jobs: int = -1
    experiment: str = "sales_weekly_training_final"
    register_as: str = "prd_sales.gold.sales_weekly_forecast_model_final"


@dataclass
class TrainResult:
    """Everything a training job produced, before it is written anywhere."""

    params: TrainParams
    history: pd.DataFrame  # unique_id, ds (Monday), y — weekly, gaps filled with 0
    evaluation: pd.DataFrame  # evaluation_output columns without run_id/run_date
    scoring: pd.DataFrame  # timeseries_id, model, date, forecast, forecast_lower/upper (95%), *_80
    best_models: dict[str, str]  # timeseries_id -> selected model name
    fitted_models: dict[str, Any]  # timeseries_id -> selected model fitted on the whole history
    model_mean_smape: dict[str, float]  # model -> mean SMAPE over series and windows
    best_smape: float  # mean over series of the selected model's mean SMAPE
    notes: list[str] = field(default_factory=list)  # short series, skipped models, fallbacks


FREQ = "W-MON"  # weeks start on Monday and are dated by that Monday
LEVELS = (80, 95)
FALLBACK_MODEL = "StatsForecastBaselineNaive"
CHUNKS_PER_MODEL = 8  # progress granularity; each chunk still runs on every core


def train(history: Any, params: TrainParams, progress: Any = None) -> TrainResult:
    """Backtest each model on each series, select by mean SMAPE, refit the selection, forecast.

    `history` (unique_id, ds, y; weekly, gaps filled) is a pandas DataFrame, or a Spark
    DataFrame to run statsforecast's distributed backend; Spark runs return no fitted model
    objects (fugue cannot bring them back), so their model_pickle is NULL.
    """
    check_models(list(params.models))
    distributed = not isinstance(history, pd.DataFrame)
    lengths = _series_lengths(history, distributed)
    notes: list[str] = []
    evaluation = _evaluation_rows(_backtest_all(history, lengths, params, progress, notes))
    series_smape = (
        evaluation.groupby(["timeseries_id", "model"], sort=False)["metric_value"]
        .mean()
        .dropna()
        .reset_index()
    )
    best_models = _select_best(series_smape, list(params.models))
    short = lengths.index.difference(list(best_models)).tolist()
    if short:
        notes.append(
            f"{len(short)} series too short to backtest ({lengths[short].min()}–"
            f"{lengths[short].max()} weeks): forecast by {FALLBACK_MODEL} without selection"
        )
        best_models.update({uid: FALLBACK_MODEL for uid in short})

    scoring, fitted = _forecast_selected(history, best_models, params, progress)
    if not distributed:
        evaluation["model_pickle"] = _model_pickles(evaluation, fitted, params)
    chosen = pd.DataFrame(list(best_models.items()), columns=["timeseries_id", "model"])
    best_smape = series_smape.merge(chosen, on=["timeseries_id", "model"])["metric_value"]
    return TrainResult(
        params=params,
        history=history.toPandas() if distributed else history,
        evaluation=evaluation,
        scoring=scoring,
        best_models=best_models,
        fitted_models=fitted,
        model_mean_smape=evaluation.groupby("model")["metric_value"].mean().to_dict(),
        best_smape=float(best_smape.mean()) if len(best_smape) else float("nan"),
        notes=notes,
    )


def _backtest_all(
    history: Any, lengths: pd.Series, params: TrainParams, progress: Any, notes: list[str]
) -> pd.DataFrame:
    """Every model on every series long enough for it: one row per backtest forecast week."""
    distributed = not isinstance(history, pd.DataFrame)
    backtest_span = params.horizon + params.backtest_windows - 1
    task = _ProgressTask(progress, "backtesting", total=len(params.models) * CHUNKS_PER_MODEL)
    windows = []
    for name in params.models:
        needed = min_history(name, params.season_length, params.horizon) + backtest_span
        eligible = lengths.index[lengths >= needed].tolist()
        if len(eligible) < len(lengths):
            notes.append(
                f"{name}: skipped for {len(lengths) - len(eligible)} series shorter than "
                f"{needed} weeks"
            )
        chunks = _chunks(eligible, CHUNKS_PER_MODEL)
        for chunk in chunks:
            windows.append(_backtest(_subset(history, chunk, distributed), name, params))
            task.advance()
        task.advance(CHUNKS_PER_MODEL - len(chunks))
    return pd.concat(windows, ignore_index=True)


def _forecast_selected(
    history: Any, best_models: dict[str, str], params: TrainParams, progress: Any
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Refit each series' selected model on its whole history and forecast the horizon."""
    distributed = not isinstance(history, pd.DataFrame)
    by_model: dict[str, list[str]] = {}
    for uid, name in sorted(best_models.items()):
        by_model.setdefault(name, []).append(uid)
    jobs = [(name, chunk) for name, ids in by_model.items() for chunk in _chunks(ids, 4)]
    task = _ProgressTask(progress, "forecasting", total=len(jobs))
    forecasts, fitted = [], {}
    for name, chunk in jobs:
        forecast, models = _fit_forecast(_subset(history, chunk, distributed), name, params)
        forecasts.append(forecast)
        fitted.update(models)
        task.advance()
    scoring = pd.concat(forecasts, ignore_index=True)
    return scoring.sort_values(["timeseries_id", "date"], ignore_index=True), fitted


def weekly_history(daily: pd.DataFrame, params: TrainParams) -> pd.DataFrame:
    """Daily (timeseries_id, date, quantity) → Monday weeks in [start, end), missing weeks = 0."""
    from utilsforecast.preprocessing import fill_gaps

    frame = daily.rename(columns={"timeseries_id": "unique_id", "quantity": "y"})
    days = pd.to_datetime(frame["date"])
    frame["ds"] = days - pd.to_timedelta(days.dt.dayofweek, unit="D")
    frame = frame.groupby(["unique_id", "ds"], as_index=False)["y"].sum()
    last_day = pd.Timestamp(params.end_date) - pd.Timedelta(days=1)
    last_week = last_day - pd.Timedelta(days=last_day.dayofweek)
    frame = fill_gaps(frame, freq=FREQ, start="per_serie", end=last_week)
    frame["y"] = frame["y"].fillna(0.0).astype(float)
    return frame.sort_values(["unique_id", "ds"], ignore_index=True)


class _ProgressTask:
    """A rich progress task when a Progress is given, nothing otherwise."""

    def __init__(self, progress: Any, description: str, total: int) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=total) if progress else None

    def advance(self, steps: int = 1) -> None:
        if self._progress is not None and steps:
            self._progress.advance(self._task, steps)

    def done(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self._progress.tasks[self._task].total)


def _series_lengths(history: Any, distributed: bool) -> pd.Series:
    if distributed:
        counts = history.groupBy("unique_id").count().toPandas()
        return counts.set_index("unique_id")["count"].sort_index()
    return history.groupby("unique_id").size().sort_index()


def _chunks(ids: list[str], n: int) -> list[list[str]]:
    size = max(1, -(-len(ids) // n))
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _subset(history: Any, ids: list[str], distributed: bool) -> Any:
    if distributed:
        return history.filter(history["unique_id"].isin(ids))
    return history[history["unique_id"].isin(ids)]


def _statsforecast(name: str, params: TrainParams) -> Any:
    from statsforecast import StatsForecast

    return StatsForecast(
        models=[build_model(name, params.season_length, params.horizon)],
        freq=FREQ,
        n_jobs=params.n_jobs,
        fallback_model=build_model(FALLBACK_MODEL, params.season_length, params.horizon),
    )


def _refit(name: str, params: TrainParams) -> bool:
    """Refit in every window, unless the model can carry its fit forward (`forward`) cheaply."""
    if params.refit == "every-window":
        return True
    return not hasattr(build_model(name, params.season_length, params.horizon), "forward")


def _backtest(frame: Any, name: str, params: TrainParams) -> pd.DataFrame:
    """statsforecast's cross_validation(h, n_windows, step_size=1): one row per forecast week."""
    cv = _statsforecast(name, params).cross_validation(
        df=frame,
        h=params.horizon,
        n_windows=params.backtest_windows,
        step_size=1,
        refit=_refit(name, params),
    )
    if not isinstance(cv, pd.DataFrame):
        cv = cv.toPandas()
    cv = cv.rename(columns={name: "forecast", "y": "actual", "unique_id": "timeseries_id"})
    cv["model"] = name
    cv["ds"] = pd.to_datetime(cv["ds"])
    return cv[["timeseries_id", "model", "cutoff", "ds", "forecast", "actual"]].astype(
        {"forecast": float, "actual": float}
    )


def _fit_forecast(
    frame: Any, name: str, params: TrainParams
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Fit on the whole history and forecast the horizon with 80% and 95% intervals."""
    sf = _statsforecast(name, params)
    level = list(LEVELS)
    if not isinstance(frame, pd.DataFrame):
        forecast = sf.forecast(df=frame, h=params.horizon, level=level).toPandas()
        models: dict[str, Any] = {}
    else:
        sf.fit(frame)
        forecast = sf.predict(h=params.horizon, level=level)
        models = {uid: sf.fitted_[i, 0] for i, uid in enumerate(sf.uids)}
    forecast = forecast.rename(columns={"unique_id": "timeseries_id", "ds": "date"})
    out = pd.DataFrame(
        {
            "timeseries_id": forecast["timeseries_id"],
            "model": name,
            "date": pd.to_datetime(forecast["date"]),
            "forecast": forecast[name].astype(float).clip(lower=0),
        }
    )
    for lvl in LEVELS:
        suffix = "" if lvl == 95 else f"_{lvl}"
        for side, column in (("lo", "forecast_lower"), ("hi", "forecast_upper")):
            out[column + suffix] = forecast[f"{name}-{side}-{lvl}"].astype(float).clip(lower=0)
    return out, models


def _evaluation_rows(cv: pd.DataFrame) -> pd.DataFrame:
    """One row per (series, model, window): SMAPE, forecast and actual arrays."""
    cv = cv.assign(
        forecast=cv["forecast"].clip(lower=0),
        actual=cv["actual"].clip(lower=0),
    ).sort_values(["timeseries_id", "model", "cutoff", "ds"])
    cv["term"] = smape_terms(cv["actual"], cv["forecast"])
    grouped = cv.groupby(["timeseries_id", "model", "cutoff"], sort=False)
    rows = grouped.agg(
        backtest_window_start_date=("ds", "min"),
        metric_value=("term", "mean"),
        forecast=("forecast", list),
        actual=("actual", list),
    ).reset_index()
    rows["metric_name"] = "smape"
    rows["metric_value"] = rows["metric_value"].where(
        rows["forecast"].map(lambda f: not np.isnan(f).any())
    )
    rows["model_pickle"] = None
    return rows[list(EVALUATION_COLUMNS)]


EVALUATION_COLUMNS = (
    "timeseries_id",
    "model",
    "backtest_window_start_date",
    "metric_name",
    "metric_value",
    "forecast",
    "actual",
    "model_pickle",
)


def _model_pickles(
    evaluation: pd.DataFrame, fitted: dict[str, Any], params: TrainParams
) -> list[bytes]:
    """The selected model fitted on the whole history; other models as configured (unfitted).

    Refitting every model on the whole history would double the training time for objects
    nobody forecasts with; a configured model still reproduces its backtest with `forecast`.
    """
    import cloudpickle

    def dump(model: Any) -> bytes:
        return zlib.compress(cloudpickle.dumps(model))

    selected = {uid: dump(model) for uid, model in fitted.items()}
    configured = {
        name: dump(build_model(name, params.season_length, params.horizon))
        for name in evaluation["model"].unique()
    }
    return [
        selected[uid] if uid in selected and fitted[uid].alias == name else configured[name]
        for uid, name in zip(evaluation["timeseries_id"], evaluation["model"], strict=True)
    ]


def _select_best(series_smape: pd.DataFrame, model_order: list[str]) -> dict[str, str]:
    """Lowest mean SMAPE per series; ties go to the model listed first."""
    ranked = series_smape.assign(order=series_smape["model"].map(model_order.index))
    ranked = ranked.sort_values(["timeseries_id", "metric_value", "order"])
    best = ranked.drop_duplicates("timeseries_id")
    return dict(zip(best["timeseries_id"], best["model"], strict=True))
