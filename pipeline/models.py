"""Many Model Forecasting names → statsforecast models.

Each call builds fresh model objects: conformal intervals mutate the models they are attached to,
so objects are never shared between jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from salesgenie.errors import SalesgenieError

DEFAULT_MODELS = (
    "StatsForecastBaselineWindowAverage",
    "StatsForecastBaselineSeasonalWindowAverage",
    "StatsForecastBaselineNaive",
    "StatsForecastBaselineSeasonalNaive",
    "StatsForecastAutoArima",
)


def _factories(season_length: int, horizon: int) -> dict[str, Callable[[], Any]]:
    from statsforecast.models import (
        AutoARIMA,
        AutoCES,
        AutoETS,
        AutoTheta,
        DynamicOptimizedTheta,
        Naive,
        RandomWalkWithDrift,
        SeasonalNaive,
        SeasonalWindowAverage,
        SimpleExponentialSmoothingOptimized,
        WindowAverage,
    )
    from statsforecast.utils import ConformalIntervals

    def conformal() -> ConformalIntervals:
        # WindowAverage and SeasonalWindowAverage have no native intervals.
        return ConformalIntervals(h=horizon, n_windows=2)

    return {
        "StatsForecastBaselineWindowAverage": lambda: WindowAverage(
            window_size=season_length, prediction_intervals=conformal()
        ),
        "StatsForecastBaselineSeasonalWindowAverage": lambda: SeasonalWindowAverage(
            window_size=2, season_length=season_length, prediction_intervals=conformal()
        ),
        "StatsForecastBaselineNaive": Naive,
        "StatsForecastBaselineSeasonalNaive": lambda: SeasonalNaive(season_length=season_length),
        "StatsForecastAutoArima": lambda: AutoARIMA(season_length=season_length),
        "StatsForecastAutoEts": lambda: AutoETS(season_length=season_length),
        "StatsForecastAutoTheta": lambda: AutoTheta(season_length=season_length),
        "StatsForecastAutoCes": lambda: AutoCES(season_length=season_length),
        # Non-seasonal by construction (M4's weekly benchmarks): season_length does not apply.
        "StatsForecastBaselineRandomWalkWithDrift": RandomWalkWithDrift,
        "StatsForecastSesOptimized": SimpleExponentialSmoothingOptimized,
        "StatsForecastDampedHolt": lambda: AutoETS(model="AAN", damped=True),
        # AutoARIMA at season_length 52 takes ~20 s a series (seasonal differencing tests and
        # 52-lag terms); this one stays non-seasonal whatever the season length.
        "StatsForecastAutoArimaNonSeasonal": lambda: AutoARIMA(season_length=1),
        "StatsForecastDynamicOptimizedTheta": lambda: DynamicOptimizedTheta(
            season_length=season_length
        ),
    }


AVAILABLE_MODELS = (
    *DEFAULT_MODELS,
    "StatsForecastAutoEts",
    "StatsForecastAutoTheta",
    "StatsForecastAutoCes",
    "StatsForecastBaselineRandomWalkWithDrift",
    "StatsForecastSesOptimized",
    "StatsForecastDampedHolt",
    "StatsForecastAutoArimaNonSeasonal",
    "StatsForecastDynamicOptimizedTheta",
)


def build_model(name: str, season_length: int, horizon: int) -> Any:
    """A new statsforecast model whose alias is its MMF name."""
    check_models([name])
    model = _factories(season_length, horizon)[name]()
    model.alias = name
    return model


def min_history(name: str, season_length: int, horizon: int) -> int:
    """Fewest observations a model needs to fit and give intervals: shorter series skip it."""
    seasonal = name in ("StatsForecastBaselineSeasonalWindowAverage",)
    if seasonal:
        return max(2 * season_length, 2 * horizon + 1)
    if name == "StatsForecastBaselineWindowAverage":
        return max(season_length, 2 * horizon + 1)
    if name == "StatsForecastBaselineSeasonalNaive":
        return season_length
    if name == "StatsForecastAutoArimaNonSeasonal":
        return 4  # what AutoARIMA needs at season length 1
    if name.startswith("StatsForecastAuto") or name == "StatsForecastDynamicOptimizedTheta":
        return 2 * season_length + 2
    if name == "StatsForecastDampedHolt":
        return 10  # ETS needs more observations than its 5 parameters + 4
    if name in ("StatsForecastBaselineRandomWalkWithDrift", "StatsForecastSesOptimized"):
        return 3  # a slope or a smoothing weight, and a residual variance for the intervals
    return 1


def check_models(names: list[str]) -> None:
    unknown = [n for n in names if n not in AVAILABLE_MODELS]
    if unknown:
        raise SalesgenieError(
            f"unknown model(s) {', '.join(unknown)}; available: {', '.join(AVAILABLE_MODELS)}"
        )


class MeanCombination:
    """Several fitted models forecasting as one: the mean of their forecasts and bounds.

    Averaging interval bounds is an approximation (the members' errors are correlated, so the
    true interval is at least as wide as this); it keeps the combination usable wherever a
    fitted statsforecast model is (scoring, the pyfunc model).
    """

    def __init__(self, members: list[Any], alias: str) -> None:
        self.members = members
        self.alias = alias

    def predict(self, h: int, level: list[int] | None = None) -> dict[str, Any]:
        import numpy as np

        outputs = [m.predict(h=h, level=level) if level else m.predict(h=h) for m in self.members]
        return {key: np.mean([o[key] for o in outputs], axis=0) for key in outputs[0]}


def combination_name(members: tuple[str, ...]) -> str:
    """`model` column value: a single model's name, or `Combination(A+B)` for a mean of several."""
    return members[0] if len(members) == 1 else f"Combination({'+'.join(members)})"
