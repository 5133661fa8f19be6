"""Scale-out: the same training function on a Spark DataFrame (statsforecast's fugue backend)."""

import os
import sys

import numpy as np
import pandas as pd
import pytest

from pipeline.train import TrainParams, train

MODELS = (
    "StatsForecastBaselineNaive",
    "StatsForecastBaselineSeasonalNaive",
    "StatsForecastAutoArima",
)


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers need this venv's packages
    session = (
        SparkSession.builder.master("local[2]")
        .appName("salesgenie-test")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_spark_training_matches_local(spark):
    rng = np.random.default_rng(7)
    weeks = pd.date_range("2024-01-01", periods=60, freq="W-MON")
    history = pd.concat(
        [
            pd.DataFrame(
                {
                    "unique_id": f"FR01_{i}",
                    "ds": weeks,
                    "y": 40 + 10 * np.sin(np.arange(60) / 3 + i) + rng.normal(0, 3, 60),
                }
            )
            for i in range(4)
        ],
        ignore_index=True,
    )
    params = TrainParams(models=MODELS, n_jobs=1)
    local = train(history, params)
    distributed = train(spark.createDataFrame(history), params)

    assert distributed.best_models == local.best_models
    key = ["timeseries_id", "model", "backtest_window_start_date"]
    merged = local.evaluation.merge(distributed.evaluation, on=key, suffixes=("_local", "_spark"))
    assert len(merged) == len(local.evaluation) == 4 * 10 * len(MODELS)
    # fugue hands results back as float32: compare at that precision.
    np.testing.assert_allclose(merged.metric_value_spark, merged.metric_value_local, rtol=1e-4)
    scored = local.scoring.merge(distributed.scoring, on=["timeseries_id", "date"])
    np.testing.assert_allclose(scored.forecast_y, scored.forecast_x, rtol=1e-4)
    np.testing.assert_allclose(scored.forecast_upper_y, scored.forecast_upper_x, rtol=1e-4)
    assert distributed.fitted_models == {}  # fugue returns no fitted model objects
    assert distributed.evaluation["model_pickle"].isna().all()
