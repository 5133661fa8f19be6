"""Many-model training: backtest every model on every series, keep the best, forecast with it."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pipeline.metrics import smape_terms
from pipeline.models import (
    DEFAULT_MODELS,
    MeanCombination,
    build_model,
    check_models,
    combination_name,
    min_history,
)
from salesgenie.errors import SalesgenieError


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
    refit: str = "once"  # "once": fit at the first window, then forward; "every-window": MMF
    strategy: str = "best"  # "best": lowest mean SMAPE; "combination": mean of the top k models
    max_combined: int = 3  # "combination": k is chosen per series by backtest among 1..this
    max_history_weeks: int | None = None  # models see at most the last N weeks (None: all)
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
    if params.strategy not in STRATEGIES:
        raise SalesgenieError(f"unknown strategy {params.strategy!r}; use one of {STRATEGIES}")
    distributed = not isinstance(history, pd.DataFrame)
    history = _recent(history, params.max_history_weeks)
    lengths = _series_lengths(history, distributed)
    notes: list[str] = []
    evaluation = _evaluation_rows(_backtest_all(history, lengths, params, progress, notes))
    if params.strategy == "combination":
        selection, combined = _select_combinations(evaluation, params)
        evaluation = pd.concat([evaluation, combined], ignore_index=True)
    else:
        selection = {uid: (name,) for uid, name in _select_best(evaluation, params).items()}
    short = lengths.index.difference(list(selection)).tolist()
    if short:
        notes.append(
            f"{len(short)} series too short to backtest ({lengths[short].min()}–"
            f"{lengths[short].max()} weeks): forecast by {FALLBACK_MODEL} without selection"
        )
        selection.update({uid: (FALLBACK_MODEL,) for uid in short})
    best_models = {uid: combination_name(members) for uid, members in selection.items()}

    scoring, fitted = _forecast_selected(history, selection, params, progress)
    if not distributed:
        evaluation["model_pickle"] = _model_pickles(evaluation, fitted, params)
    series_smape = evaluation.groupby(["timeseries_id", "model"])["metric_value"].mean()
    selected_smape = [series_smape.get((uid, m)) for uid, m in best_models.items()]
    selected_smape = [v for v in selected_smape if v is not None and not np.isnan(v)]
    single = evaluation[evaluation["model"].isin(params.models)]
    return TrainResult(
        params=params,
        history=history.toPandas() if distributed else history,
        evaluation=evaluation,
        scoring=scoring,
        best_models=best_models,
        fitted_models=fitted,
        model_mean_smape=single.groupby("model")["metric_value"].mean().to_dict(),
        best_smape=float(np.mean(selected_smape)) if selected_smape else float("nan"),
        notes=notes,
    )


STRATEGIES = ("best", "combination")


def _recent(history: Any, max_weeks: int | None) -> Any:
    """Keep the last `max_weeks` weeks before the latest week (all series end there)."""
    if max_weeks is None:
        return history
    if isinstance(history, pd.DataFrame):
        first = history["ds"].max() - pd.Timedelta(weeks=max_weeks - 1)
        return history[history["ds"] >= first]
    from pyspark.sql import functions as F  # noqa: N812

    last = history.agg(F.max("ds")).first()[0]
    return history.filter(history["ds"] >= last - pd.Timedelta(weeks=max_weeks - 1))


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
    history: Any, selection: dict[str, tuple[str, ...]], params: TrainParams, progress: Any
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Refit each series' selected model(s) on its whole history and forecast the horizon.

    A combination's forecast and bounds are the mean of its members'.
    """
    distributed = not isinstance(history, pd.DataFrame)
    by_model: dict[str, list[str]] = {}
    for uid, members in sorted(selection.items()):
        for name in members:
            by_model.setdefault(name, []).append(uid)
    jobs = [(name, chunk) for name, ids in by_model.items() for chunk in _chunks(ids, 4)]
    task = _ProgressTask(progress, "forecasting", total=len(jobs))
    forecasts, member_fits = [], {}
    for name, chunk in jobs:
        forecast, models = _fit_forecast(_subset(history, chunk, distributed), name, params)
        forecasts.append(forecast)
        member_fits.update({(uid, name): model for uid, model in models.items()})
        task.advance()
    members = pd.DataFrame(
        [(uid, name, combination_name(ms)) for uid, ms in selection.items() for name in ms],
        columns=["timeseries_id", "model", "selected"],
    )
    scoring = pd.concat(forecasts, ignore_index=True).merge(members, on=["timeseries_id", "model"])
    value_columns = [c for c in scoring.columns if c.startswith("forecast")]
    scoring = (
        scoring.groupby(["timeseries_id", "selected", "date"], as_index=False)[value_columns]
        .mean()
        .rename(columns={"selected": "model"})
        .sort_values(["timeseries_id", "date"], ignore_index=True)
    )
    fitted: dict[str, Any] = {}
    for uid, ms in selection.items():
        fits = [member_fits[(uid, name)] for name in ms if (uid, name) in member_fits]
        if len(fits) == len(ms):
            fitted[uid] = fits[0] if len(fits) == 1 else MeanCombination(fits, combination_name(ms))
    return scoring, fitted


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
        for name in params.models
    }
    return [
        selected[uid] if uid in selected and fitted[uid].alias == name else configured.get(name)
        for uid, name in zip(evaluation["timeseries_id"], evaluation["model"], strict=True)
    ]


def _select_best(evaluation: pd.DataFrame, params: TrainParams) -> dict[str, str]:
    """Lowest mean SMAPE per series; ties go to the model listed first."""
    means = _mean_smape(evaluation)
    ranked = means.assign(order=means["model"].map(list(params.models).index))
    best = ranked.sort_values(["timeseries_id", "metric_value", "order"]).drop_duplicates(
        "timeseries_id"
    )
    return dict(zip(best["timeseries_id"], best["model"], strict=True))


def _mean_smape(evaluation: pd.DataFrame) -> pd.DataFrame:
    """Mean SMAPE per (series, model) over the windows; models with a NaN window drop out."""
    return (
        evaluation.groupby(["timeseries_id", "model"], sort=False)["metric_value"]
        .mean()
        .dropna()
        .reset_index()
    )


def _select_combinations(
    evaluation: pd.DataFrame, params: TrainParams
) -> tuple[dict[str, tuple[str, ...]], pd.DataFrame]:
    """Per series, the mean of its k best models, k chosen by the combination's backtest SMAPE.

    Returns the selection and evaluation rows for every chosen combination (k > 1), so the
    published model and its backtest stay side by side in evaluation_output.
    """
    order = list(params.models)
    means = _mean_smape(evaluation)
    valid = evaluation.merge(means[["timeseries_id", "model"]], on=["timeseries_id", "model"])
    valid = valid.sort_values(["timeseries_id", "model", "backtest_window_start_date"])
    selection: dict[str, tuple[str, ...]] = {}
    rows = []
    for uid, group in valid.groupby("timeseries_id", sort=True):
        per_model = {name: g for name, g in group.groupby("model")}
        score = means[means["timeseries_id"] == uid].set_index("model")["metric_value"]
        ranked = sorted(per_model, key=lambda name: (score[name], order.index(name)))
        actual = np.stack(per_model[ranked[0]]["actual"].to_list())
        best_k, best_score, best_forecast = 1, score[ranked[0]], None
        for k in range(2, min(params.max_combined, len(ranked)) + 1):
            forecast = np.mean(
                [np.stack(per_model[name]["forecast"].to_list()) for name in ranked[:k]], axis=0
            )
            combined = float(smape_terms(actual, forecast).mean())
            if combined < best_score:
                best_k, best_score, best_forecast = k, combined, forecast
        selection[uid] = tuple(ranked[:best_k])
        if best_forecast is not None:
            windows = per_model[ranked[0]]
            rows.append(
                pd.DataFrame(
                    {
                        "timeseries_id": uid,
                        "model": combination_name(selection[uid]),
                        "backtest_window_start_date": windows["backtest_window_start_date"],
                        "metric_name": "smape",
                        "metric_value": smape_terms(actual, best_forecast).mean(axis=1),
                        "forecast": list(best_forecast),
                        "actual": list(actual),
                        "model_pickle": None,
                    }
                )
            )
    combined_rows = pd.concat(rows, ignore_index=True) if rows else evaluation.iloc[:0]
    return selection, combined_rows
