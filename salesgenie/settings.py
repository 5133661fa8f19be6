"""Where things live. Every location is relative to the working directory unless overridden."""

from __future__ import annotations

import os
from pathlib import Path

from salesgenie.errors import SalesgenieError

CATALOG = "prd_sales"
DATA_DIR = Path("data")
DATABRICKS = "databricks"


def uses_databricks() -> bool:
    """`SALESGENIE_WAREHOUSE=databricks`: queries go to Databricks SQL."""
    return os.environ.get("SALESGENIE_WAREHOUSE", "").strip().lower() == DATABRICKS


def warehouse_path() -> Path:
    """The DuckDB warehouse file: `SALESGENIE_WAREHOUSE` or data/prd_sales.duckdb."""
    if uses_databricks():
        raise SalesgenieError(
            "SALESGENIE_WAREHOUSE=databricks: this step needs the local DuckDB warehouse "
            "(on Databricks the pipeline runs as jobs on the cluster; see the README)"
        )
    return Path(os.environ.get("SALESGENIE_WAREHOUSE") or DATA_DIR / f"{CATALOG}.duckdb")


def mlflow_tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` when set, else a sqlite store under data/."""
    explicit = os.environ.get("MLFLOW_TRACKING_URI")
    if explicit:
        return explicit
    return f"sqlite:///{(DATA_DIR / 'mlflow.db').resolve()}"


def mlflow_artifact_root() -> str:
    """Artifacts of experiments we create go next to the sqlite store, not into ./mlruns."""
    return (DATA_DIR / "mlartifacts").resolve().as_uri()


def charts_dir() -> Path:
    return DATA_DIR / "charts"
