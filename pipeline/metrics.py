"""SMAPE as Many Model Forecasting defines it (sktime's symmetric MAPE, 0 perfect … 2 worst);
M4's MASE and OWA for scoring against the competition's published figures."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def smape_terms(actual: ArrayLike, forecast: ArrayLike) -> np.ndarray:
    """Per-point 2·|y − ŷ| / (|y| + |ŷ|) after clipping both at 0; a 0/0 point scores 0."""
    y = np.clip(np.asarray(actual, dtype=float), 0, None)
    y_hat = np.clip(np.asarray(forecast, dtype=float), 0, None)
    denominator = np.abs(y) + np.abs(y_hat)
    with np.errstate(invalid="ignore", divide="ignore"):
        terms = np.where(denominator == 0, 0.0, 2 * np.abs(y - y_hat) / denominator)
    return terms


def smape(actual: ArrayLike, forecast: ArrayLike) -> float:
    """Mean SMAPE over a window."""
    return float(smape_terms(actual, forecast).mean())


def mase(actual: ArrayLike, forecast: ArrayLike, insample: ArrayLike, m: int = 1) -> float:
    """Mean absolute error scaled by the in-sample seasonal naive error (M4: m = 1 weekly).

    The scale is the mean |y_t − y_{t−m}| over the whole history given, so a model that sees
    only the last years is still scaled as the competition scales it.
    """
    y = np.asarray(insample, dtype=float)
    scale = np.mean(np.abs(y[m:] - y[:-m]))
    error = np.mean(np.abs(np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float)))
    return float(error / scale)


def owa(
    smape_pct: float, mase: float, naive2_smape: float = 9.161, naive2_mase: float = 2.777
) -> float:
    """M4's overall weighted average: sMAPE (%) and MASE relative to Naive2's (weekly defaults).

    Applied to the means over series, as the competition ranks methods.
    """
    return 0.5 * (smape_pct / naive2_smape + mase / naive2_mase)
