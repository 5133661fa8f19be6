"""The Genie space's two tables: actual history and the selected forecast, one row per week."""

from __future__ import annotations

import pandas as pd


def sales_overall(history: pd.DataFrame, scoring: pd.DataFrame) -> pd.DataFrame:
    """Train rows (actual weekly sales) followed by predict rows (forecast with 95% interval)."""
    series = set(scoring["timeseries_id"])
    train = history[history["unique_id"].isin(series)]
    train_rows = pd.DataFrame(
        {
            "timeseries_id": train["unique_id"],
            "date": train["ds"],
            "sales": train["y"],
            "type": "train",
            "model": None,
            "sales_lower": float("nan"),
            "sales_upper": float("nan"),
        }
    )
    predict_rows = pd.DataFrame(
        {
            "timeseries_id": scoring["timeseries_id"],
            "date": scoring["date"],
            "sales": scoring["forecast"],
            "type": "predict",
            "model": scoring["model"],
            "sales_lower": scoring["forecast_lower"],
            "sales_upper": scoring["forecast_upper"],
        }
    )
    rows = pd.concat([train_rows, predict_rows], ignore_index=True)
    return rows.sort_values(["timeseries_id", "date"], ignore_index=True)


def mapping(products: pd.DataFrame, scoring: pd.DataFrame) -> pd.DataFrame:
    """One row per published series: product, brand, material and sales org."""
    series = scoring[["timeseries_id"]].drop_duplicates()
    return series.merge(products, on="timeseries_id", how="left")[
        ["timeseries_id", "product", "brand", "material_id", "sales_org", "sales_org_name"]
    ].sort_values("timeseries_id", ignore_index=True)
