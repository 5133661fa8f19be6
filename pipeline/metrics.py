"""SMAPE as Many Model Forecasting defines it (sktime's symmetric MAPE, 0 perfect … 2 worst)."""

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
