"""SMAPE against values computed by hand (sktime's symmetric MAPE: 0 perfect, 2 worst)."""

import math

import numpy as np
import pytest

from pipeline.metrics import smape, smape_terms


@pytest.mark.parametrize(
    ("actual", "forecast", "expected"),
    [
        ([10, 10, 10], [10, 10, 10], 0.0),
        ([0, 0, 0], [0, 0, 0], 0.0),  # 0/0 scores 0, not NaN
        ([0, 0], [5, 0], 1.0),  # (2 + 0) / 2
        ([100], [50], 2 * 50 / 150),
        ([10, 20], [20, 10], 2 * 10 / 30),
        ([4, 0, 6], [6, 3, 4], (2 * 2 / 10 + 2 + 2 * 2 / 10) / 3),
        ([5], [-5], 2.0),  # forecast clipped at 0 → worst
        ([-3], [0], 0.0),  # actual clipped at 0 → both 0
    ],
)
def test_smape_matches_hand_values(actual, forecast, expected):
    assert smape(actual, forecast) == pytest.approx(expected)


def test_smape_is_twice_utilsforecast_smape():
    """DESIGN.md: our SMAPE is 2 × utilsforecast.losses.smape on positive data."""
    import pandas as pd
    from utilsforecast.losses import smape as uf_smape

    rng = np.random.default_rng(1)
    y, y_hat = rng.uniform(1, 100, 20), rng.uniform(1, 100, 20)
    frame = pd.DataFrame({"unique_id": "a", "y": y, "model": y_hat})
    assert smape(y, y_hat) == pytest.approx(2 * uf_smape(frame, ["model"])["model"].iloc[0])


def test_nan_forecast_propagates():
    assert math.isnan(smape_terms([1.0], [float("nan")])[0])
