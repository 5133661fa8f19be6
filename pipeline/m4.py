"""Series in the "one row per series" wide format (M4 and its kin) → the pipeline's inputs.

Such files carry no dates: each row is an id followed by its values, oldest first, rows of
different lengths padded with empty cells. Weekly dates are counted back from a fixed Monday, so
every series ends on the same week and a run is reproducible whatever day it starts.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.contract import GOLD, GOLD_TABLES
from pipeline.warehouse import replace_tables
from salesgenie.errors import SalesgenieError

LAST_MONDAY = date(2025, 8, 25)  # the demo's last week: the default training window ends here
TRAIN_FILE = "Weekly-train.csv"  # the training part only; the held-out part is the scorer's
SALES_ORG = "M4"
BRAND = "M4 Weekly"


@dataclass(frozen=True)
class LoadedSeries:
    """What load_m4 wrote, and the training window that covers all of it."""

    series: int
    rows: int
    first_date: date
    last_date: date

    @property
    def end_date(self) -> date:
        """`--end-date` (exclusive) of a training run that uses every week."""
        return self.last_date + timedelta(days=7)


def read_wide_series(path: Path, last_monday: date = LAST_MONDAY) -> pd.DataFrame:
    """unique_id, ds (Monday weeks), y: one series per row, its last value dated last_monday."""
    if last_monday.weekday() != 0:
        raise SalesgenieError(f"last_monday {last_monday} is a {last_monday:%A}, not a Monday")
    raw = _read_cells(path)
    ids = raw.iloc[:, 0].str.strip()
    values = _numbers(path, raw)
    present = ~np.isnan(values)
    lengths = present.sum(axis=1)
    _check_rows(path, ids, values, present, lengths)

    # Series i has lengths[i] points; its k-th point is (lengths[i] - 1 - k) weeks before the end.
    weeks_back = np.concatenate([np.arange(n - 1, -1, -1) for n in lengths])
    ds = pd.Timestamp(last_monday) - pd.to_timedelta(weeks_back * 7, unit="D")
    return pd.DataFrame(
        {
            "unique_id": np.repeat(ids.to_numpy(dtype=object), lengths),
            "ds": ds.astype("datetime64[ns]"),
            "y": values[present],
        }
    )


def load_m4(directory: Path, con: Any, last_monday: date = LAST_MONDAY) -> LoadedSeries:
    """Write the M4 training part into gold.sales_data_for_forecast, one series per material.

    The training job names a series `sales_org || '_' || material_id`, so W1 trains as M4_W1.
    """
    history = read_wide_series(Path(directory) / TRAIN_FILE, last_monday)
    gold = pd.DataFrame(
        {
            "date": history["ds"].dt.date,
            "sales_org": SALES_ORG,
            "material_id": history["unique_id"],
            "product": history["unique_id"],
            "brand": BRAND,
            "quantity": history["y"],
            "net_value": None,
        }
    )
    replace_tables(con, GOLD, {"sales_data_for_forecast": gold}, GOLD_TABLES)
    return LoadedSeries(
        series=history["unique_id"].nunique(),
        rows=len(history),
        first_date=history["ds"].min().date(),
        last_date=history["ds"].max().date(),
    )


def _read_cells(path: Path) -> pd.DataFrame:
    """Every cell as text (empty → NaN), so a bad cell can be named rather than mis-parsed."""
    try:
        with warnings.catch_warnings():
            # a first row longer than the header would otherwise silently become the index
            warnings.simplefilter("error", pd.errors.ParserWarning)
            raw = pd.read_csv(path, dtype=str, index_col=False)
    except FileNotFoundError:
        raise SalesgenieError(f"{path}: no such file") from None
    except pd.errors.ParserWarning:
        raise SalesgenieError(
            f"{path}: not a wide series CSV (a row has more cells than the header)"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise SalesgenieError(f"{path}: not a wide series CSV ({reason})") from None
    if raw.shape[1] < 2 or raw.empty:
        raise SalesgenieError(f"{path}: needs a header, then rows of an id and its values")
    return raw


def _numbers(path: Path, raw: pd.DataFrame) -> np.ndarray:
    cells = raw.iloc[:, 1:]
    try:
        values = cells.astype(float).to_numpy()
    except ValueError:
        numeric = cells.apply(pd.to_numeric, errors="coerce")
        row, col = np.argwhere((numeric.isna() & cells.notna()).to_numpy())[0]
        raise SalesgenieError(
            f"{path}: series {raw.iloc[row, 0]!r}, column {cells.columns[col]}: "
            f"{cells.iloc[row, col]!r} is not a number"
        ) from None
    if np.isinf(values).any():
        row = int(np.argwhere(np.isinf(values))[0][0])
        raise SalesgenieError(f"{path}: series {raw.iloc[row, 0]!r} has an infinite value")
    return values


def _check_rows(
    path: Path, ids: pd.Series, values: np.ndarray, present: np.ndarray, lengths: np.ndarray
) -> None:
    """Ids present and unique; values contiguous from the first column (only the end is ragged)."""
    missing = ids.isna() | ids.eq("")
    if missing.any():
        raise SalesgenieError(f"{path}: row {int(missing.argmax()) + 2} has no series id")
    duplicated = ids[ids.duplicated()]
    if len(duplicated):
        raise SalesgenieError(f"{path}: series id {duplicated.iloc[0]!r} appears twice")
    empty = ids[lengths == 0]
    if len(empty):
        raise SalesgenieError(f"{path}: series {empty.iloc[0]!r} has no values")
    holes = present != (np.arange(values.shape[1]) < lengths[:, None])
    if holes.any():
        row = int(holes.any(axis=1).argmax())
        raise SalesgenieError(
            f"{path}: series {ids.iloc[row]!r} has an empty cell inside its history "
            f"(only trailing cells may be empty)"
        )
