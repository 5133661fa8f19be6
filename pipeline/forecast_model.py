"""The registered MLflow model: each series' selected, fitted statsforecast model behind one pyfunc.

Importing this module imports mlflow (about 1.2 s): only tracking and serving code import it, and
they do so lazily. Loading a logged model needs this module importable (the installed `pipeline`
package), mlflow, statsforecast, pandas and numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

if TYPE_CHECKING:
    from mlflow.models.signature import ModelSignature

    from pipeline.train import TrainResult

LEVELS = (80, 95)
MAX_HORIZON = 156  # three years of weeks: beyond that a request is a mistake, not a forecast
FREQ = "W-MON"
OUTPUT_COLUMNS = [
    "timeseries_id",
    "date",
    "model",
    "forecast",
    "forecast_lower_80",
    "forecast_upper_80",
    "forecast_lower_95",
    "forecast_upper_95",
]
_BANDS = {  # output column -> key of statsforecast's predict(level=...) dict
    "forecast_lower_80": "lo-80",
    "forecast_upper_80": "hi-80",
    "forecast_lower_95": "lo-95",
    "forecast_upper_95": "hi-95",
}


class ForecastRequestError(MlflowException, ValueError):
    """A bad request: a ValueError to Python callers, a 400 naming the problem when served."""

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


@dataclass(frozen=True)
class SeriesModel:
    """One series' selected model, fitted on its whole history, and where that history ends."""

    model_name: str
    fitted: Any  # a fitted statsforecast model object
    last_date: pd.Timestamp  # the last history week (a Monday): forecasts start the week after


class StatsForecastModelWrapper(mlflow.pyfunc.PythonModel):
    """Forecasts any trained series on demand, for any horizon, without the warehouse."""

    def __init__(self, series: dict[str, SeriesModel], horizon: int) -> None:
        self.series = series
        self.horizon = horizon

    @classmethod
    def from_result(cls, result: TrainResult) -> StatsForecastModelWrapper:
        last_dates = result.history.groupby("unique_id")["ds"].max()
        series = {
            ts_id: SeriesModel(
                model_name=result.best_models[ts_id],
                fitted=fitted,
                last_date=pd.Timestamp(last_dates[ts_id]),
            )
            for ts_id, fitted in result.fitted_models.items()
        }
        return cls(series, result.params.horizon)

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """One row per requested series and forecast week, kept within start_date/end_date."""
        requests = _requests(pd.DataFrame(model_input))
        horizon = _horizon((params or {}).get("horizon"), self.horizon)
        unknown = sorted(set(requests["timeseries_id"]) - set(self.series))
        if unknown:
            shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
            raise ForecastRequestError(
                f"unknown timeseries_id: {shown} (the model knows {len(self.series)})"
            )
        forecasts = {
            ts_id: self.forecast(ts_id, horizon) for ts_id in requests["timeseries_id"].unique()
        }
        parts = []
        for ts_id, start, end in requests.itertuples(index=False):
            frame = forecasts[ts_id]
            keep = pd.Series(True, index=frame.index)
            if pd.notna(start):
                keep &= frame["date"] >= start
            if pd.notna(end):
                keep &= frame["date"] <= end
            parts.append(frame[keep])
        if not parts:
            return pd.DataFrame(columns=OUTPUT_COLUMNS)
        return pd.concat(parts, ignore_index=True)[OUTPUT_COLUMNS]

    def forecast(self, timeseries_id: str, horizon: int) -> pd.DataFrame:
        """The selected model's forecast and 80/95% bands, clipped at 0 like the actuals.

        Conformal bands (WindowAverage, SeasonalWindowAverage) exist only for the horizon they
        were calibrated on: they are computed for that horizon and cut to a shorter one, and
        weeks past it get the point forecast and NaN bands.
        """
        entry = self.series[timeseries_id]
        calibration = getattr(entry.fitted, "prediction_intervals", None)
        calibrated = horizon if calibration is None else calibration.h
        out = entry.fitted.predict(h=calibrated, level=list(LEVELS))
        banded = min(horizon, calibrated)
        mean = out["mean"] if calibrated >= horizon else entry.fitted.predict(h=horizon)["mean"]
        frame = pd.DataFrame(
            {
                "timeseries_id": timeseries_id,
                "date": pd.date_range(
                    entry.last_date + pd.Timedelta(weeks=1), periods=horizon, freq=FREQ
                ),
                "model": entry.model_name,
                "forecast": np.clip(np.asarray(mean[:horizon], dtype=float), 0, None),
            }
        )
        for column, key in _BANDS.items():
            band = np.full(horizon, np.nan)
            band[:banded] = np.clip(np.asarray(out[key][:banded], dtype=float), 0, None)
            frame[column] = band
        return frame


def _requests(model_input: pd.DataFrame) -> pd.DataFrame:
    """timeseries_id, start_date, end_date per row, dates parsed, or a ValueError saying why."""
    if "timeseries_id" not in model_input.columns:
        raise ForecastRequestError("model input needs a timeseries_id column")
    ids = model_input["timeseries_id"]
    if ids.isna().any():
        raise ForecastRequestError("timeseries_id must not be empty")
    requests = pd.DataFrame({"timeseries_id": ids.astype(str)})
    for column in ("start_date", "end_date"):
        values = model_input.get(column, pd.Series(pd.NaT, index=model_input.index))
        try:
            requests[column] = pd.to_datetime(values)
        except (ValueError, TypeError):
            raise ForecastRequestError(f"{column} must be dates such as 2025-09-01") from None
    backwards = requests.loc[requests["start_date"] > requests["end_date"], "timeseries_id"]
    if len(backwards):
        raise ForecastRequestError(f"start_date is after end_date for {backwards.iloc[0]}")
    return requests


def _horizon(value: Any, default: int) -> int:
    horizon = default if value is None else value
    if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)):
        raise ForecastRequestError(f"horizon must be a whole number of weeks, got {horizon!r}")
    if not 1 <= horizon <= MAX_HORIZON:
        raise ForecastRequestError(
            f"horizon must be between 1 and {MAX_HORIZON} weeks, got {horizon}"
        )
    return int(horizon)


def signature(horizon: int) -> ModelSignature:
    """Explicit, so logging needs no scipy (infer_signature does) and serving validates input."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

    inputs = Schema(
        [
            ColSpec("string", "timeseries_id"),
            ColSpec("datetime", "start_date", required=False),
            ColSpec("datetime", "end_date", required=False),
        ]
    )
    outputs = Schema(
        [
            ColSpec("string", "timeseries_id"),
            ColSpec("datetime", "date"),
            ColSpec("string", "model"),
            *(ColSpec("double", name) for name in OUTPUT_COLUMNS[3:]),
        ]
    )
    params = ParamSchema([ParamSpec("horizon", "long", horizon)])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)
