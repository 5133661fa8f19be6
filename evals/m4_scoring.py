"""M4 Weekly scoring: the only code that reads the held-out test file.

Nothing that picks models, windows or parameters may look at the test values, so the file name
is built here and nowhere else (tests/test_m4.py checks both the source and the files opened).
Metrics are the competition's: sMAPE in percent, MASE scaled by the in-sample naive error over
each series' whole training history (m = 1 for weekly data), OWA relative to Naive2.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline.m4 import read_wide_series
from pipeline.metrics import mase, owa, smape
from salesgenie.errors import SalesgenieError

TEST_FILE = "Weekly-test.csv"


def held_out_file(directory: Path) -> Path:
    """The held-out part of the M4 Weekly directory."""
    return Path(directory) / TEST_FILE


def score(forecasts: pd.DataFrame, train: pd.DataFrame, test_path: Path) -> pd.DataFrame:
    """sMAPE (%) and MASE per forecast series, on the test weeks that follow its history.

    `forecasts` is the pipeline's scoring output (timeseries_id, date, forecast); `train` the
    whole training history (unique_id, ds, y), which dates the test weeks and scales MASE.
    """
    ids = forecasts["timeseries_id"].unique()
    unknown = sorted(set(ids) - set(train["unique_id"]))
    if unknown:
        raise SalesgenieError(f"forecast series {unknown[0]!r} has no training history")
    actual = read_wide_series(Path(test_path))
    untested = sorted(set(ids) - set(actual["unique_id"]))
    if untested:
        raise SalesgenieError(f"forecast series {untested[0]!r} is not in {test_path}")
    actual = actual[actual["unique_id"].isin(ids)]
    step = actual.groupby("unique_id").cumcount() + 1
    last = actual["unique_id"].map(train.groupby("unique_id")["ds"].max())
    actual = actual.assign(ds=last + pd.to_timedelta(7 * step, unit="D"))
    merged = actual.merge(
        forecasts.rename(columns={"timeseries_id": "unique_id", "date": "ds"})[
            ["unique_id", "ds", "forecast"]
        ].assign(ds=lambda f: pd.to_datetime(f["ds"])),
        on=["unique_id", "ds"],
        how="left",
    )
    missing = merged[merged["forecast"].isna()]
    if len(missing):
        first = missing.iloc[0]
        raise SalesgenieError(f"no forecast for {first['unique_id']} on {first['ds']:%Y-%m-%d}")
    if (merged[["y", "forecast"]] < 0).to_numpy().any():
        # pipeline.metrics.smape clips at 0; M4's sMAPE does not: they agree on values >= 0 only.
        raise SalesgenieError("negative actuals or forecasts: M4 sMAPE would differ from ours")
    insample = train.sort_values("ds").groupby("unique_id")["y"]
    rows = [
        {
            "unique_id": uid,
            "smape": 100 * smape(group["y"], group["forecast"]),
            "mase": mase(group["y"], group["forecast"], insample.get_group(uid)),
        }
        for uid, group in merged.groupby("unique_id", sort=False)
    ]
    return pd.DataFrame(rows, columns=["unique_id", "smape", "mase"])


def summary(scores: pd.DataFrame) -> dict[str, float]:
    """Means over series, and OWA from those means (the competition's ranking figure)."""
    mean_smape, mean_mase = float(scores["smape"].mean()), float(scores["mase"].mean())
    return {
        "series": len(scores),
        "smape": mean_smape,
        "mase": mean_mase,
        "owa": owa(mean_smape, mean_mase),
    }
