"""Training charts logged with each MLflow run: how volatile sales are, and one series' forecast.

Figures are built with matplotlib's object API (no pyplot): no global backend state, safe in
threads and servers, PNG through the Agg canvas.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

WOW_CLIP = (-100.0, 200.0)  # % change: y >= 0 bounds it below; spikes off a tiny base are capped
FORECAST_COLOR = "tab:orange"
MONTE_CARLO_COLOR = "tab:purple"


def week_over_week_variation(history: pd.DataFrame) -> pd.Series:
    """% change of y on the previous week of the same series; finite values only, clipped."""
    ordered = history.sort_values(["unique_id", "ds"])
    change = ordered.groupby("unique_id")["y"].pct_change() * 100
    change = change[np.isfinite(change)]
    return change.clip(*WOW_CLIP)


def wow_variation_histogram(history: pd.DataFrame, path: str | Path) -> Path:
    """Histogram of week-over-week variation over all series (history: unique_id, ds, y)."""
    from matplotlib.figure import Figure

    change = week_over_week_variation(history)
    fig = Figure(figsize=(9, 5), layout="constrained")
    ax = fig.add_subplot()
    bins = np.arange(WOW_CLIP[0], WOW_CLIP[1] + 10, 10)
    ax.hist(change, bins=bins, color="tab:blue", edgecolor="white")
    if len(change):
        median = float(change.median())
        ax.axvline(median, color="black", linestyle="--", label=f"median {median:+.1f}%")
        ax.legend()
    ax.set_title(
        f"Week-over-week sales variation — {history['unique_id'].nunique()} series, "
        f"{len(change):,} week pairs"
    )
    ax.set_xlabel(f"change vs previous week, % (clipped to {WOW_CLIP[0]:.0f}…{WOW_CLIP[1]:.0f})")
    ax.set_ylabel("series-weeks")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def monte_carlo_band(
    forecast: np.ndarray,
    errors: np.ndarray,
    n_paths: int = 1000,
    quantiles: tuple[float, float] = (2.5, 97.5),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Quantiles of simulated paths: forecast + backtest errors resampled per forecast step.

    errors has one row per backtest window and one column per step (actual − forecast); steps
    past the backtest horizon reuse its last step's errors, usually the most spread out.
    """
    rng = np.random.default_rng(seed)
    steps = np.minimum(np.arange(len(forecast)), errors.shape[1] - 1)
    draws = rng.integers(0, errors.shape[0], size=(n_paths, len(forecast)))
    paths = np.clip(forecast + errors[draws, steps], 0, None)
    low, high = np.percentile(paths, quantiles, axis=0)
    return low, high


def backtest_errors(evaluation: pd.DataFrame, timeseries_id: str, model: str) -> np.ndarray:
    """actual − forecast of a series' backtest windows for one model, shape (windows, horizon)."""
    mine = (evaluation["timeseries_id"] == timeseries_id) & (evaluation["model"] == model)
    rows = evaluation[mine]
    if rows.empty:
        return np.empty((0, 0))
    width = min(len(f) for f in rows["forecast"])
    actual = np.array([np.asarray(a, dtype=float)[:width] for a in rows["actual"]])
    forecast = np.array([np.asarray(f, dtype=float)[:width] for f in rows["forecast"]])
    errors = actual - forecast
    return errors[np.isfinite(errors).all(axis=1)]


def forecast_plot(
    history: pd.DataFrame,
    scoring: pd.DataFrame,
    evaluation: pd.DataFrame,
    timeseries_id: str,
    path: str | Path,
    product: str | None = None,
    history_weeks: int = 52,
) -> Path:
    """A series' recent history, its selected model's forecast, 80/95% bands, Monte Carlo band."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    actual = history[history["unique_id"] == timeseries_id].sort_values("ds").tail(history_weeks)
    fcst = scoring[scoring["timeseries_id"] == timeseries_id].sort_values("date")
    if fcst.empty:
        raise ValueError(f"no forecast for timeseries_id {timeseries_id!r}")
    model = str(fcst["model"].iloc[0])
    dates = pd.to_datetime(fcst["date"])
    mean = fcst["forecast"].to_numpy(dtype=float)

    fig = Figure(figsize=(11, 5.5), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(pd.to_datetime(actual["ds"]), actual["y"], color="tab:blue", label="actual (train)")
    if not actual.empty:  # join the last actual week to the first forecast week
        ax.plot(
            [pd.Timestamp(actual["ds"].iloc[-1]), dates.iloc[0]],
            [actual["y"].iloc[-1], mean[0]],
            color=FORECAST_COLOR,
            linestyle=":",
        )
    for lower, upper, alpha, label in (
        ("forecast_lower", "forecast_upper", 0.18, "95% interval"),
        ("forecast_lower_80", "forecast_upper_80", 0.32, "80% interval"),
    ):
        if lower in fcst and upper in fcst:
            ax.fill_between(
                dates, fcst[lower], fcst[upper], color=FORECAST_COLOR, alpha=alpha, label=label
            )
    errors = backtest_errors(evaluation, timeseries_id, model)
    if errors.size:
        low, high = monte_carlo_band(mean, errors)
        ax.plot(dates, low, color=MONTE_CARLO_COLOR, linestyle="--", label="Monte Carlo 95% band")
        ax.plot(dates, high, color=MONTE_CARLO_COLOR, linestyle="--")
    ax.plot(dates, mean, color=FORECAST_COLOR, marker="o", linewidth=2, label=f"forecast ({model})")
    ax.axvspan(
        dates.iloc[0] - pd.Timedelta(days=3.5),
        dates.iloc[-1] + pd.Timedelta(days=3.5),
        color="grey",
        alpha=0.08,
        label="forecast weeks",
    )

    title = f"{product} ({timeseries_id})" if product else f"Series {timeseries_id}"
    ax.set_title(f"{title} — weekly sales and {len(mean)}-week forecast, model {model}")
    ax.set_ylabel("units per week")
    ax.set_ylim(bottom=0)
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncols=3, frameon=False)
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
