"""The pipeline's jobs as the CLI runs them: read the warehouse, compute, write atomically.

The warehouse is held open only while reading or writing, never during training, so other
processes (the agent, the server) can read it meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from pipeline import publish
from pipeline.contract import GOLD, GOLD_TABLES, SILVER
from pipeline.train import TrainParams, TrainResult, train, weekly_history
from pipeline.warehouse import open_warehouse, replace_tables, require_table, table_exists
from salesgenie.errors import SalesgenieError

SERIES_ID = "sales_org || '_' || material_id"  # one series = one (sales_org, material_id)
DEMO_PRODUCT = "ETORKI PORT 250G FAMILIAL X8 FR"
DEMO_SALES_ORG = "FR01"


@dataclass
class TrainSummary:
    result: TrainResult
    tracking: Any  # pipeline.tracking.TrackingInfo
    plotted_series: str | None


def train_job(params: TrainParams, progress: Any = None) -> TrainSummary:
    """Train on gold.sales_data_for_forecast, log to MLflow, then write the two output tables."""
    from pipeline.tracking import log_training_run

    with open_warehouse() as con:
        history = load_history(con, params)
        previous_runs = _training_runs(con)
        demo_series = con.execute(
            f"SELECT DISTINCT {SERIES_ID} FROM gold.sales_data_for_forecast "
            "WHERE product = ? AND sales_org = ?",
            [DEMO_PRODUCT, DEMO_SALES_ORG],
        ).fetchall()
    result = train(history, params, progress)
    demo_ids = [row[0] for row in demo_series]
    plotted = _series_to_plot(result, demo_ids)
    tracking = log_training_run(
        result,
        plot_series=plotted,
        plot_label=DEMO_PRODUCT if plotted in demo_ids else None,
        progress=progress,
    )
    run_date = datetime.now()
    evaluation = result.evaluation.assign(run_id=tracking.run_id, run_date=run_date)
    scoring = result.scoring.assign(run_id=tracking.run_id)
    run_row = pd.DataFrame(
        [
            {
                "run_id": tracking.run_id,
                "run_date": run_date,
                "product": params.product,
                "start_date": params.start_date,
                "end_date": params.end_date,
                "horizon": params.horizon,
                "backtest_windows": params.backtest_windows,
                "models": ",".join(params.models),
                "series": len(result.best_models),
                "best_smape": result.best_smape,
                "notes": "; ".join(result.notes),
            }
        ]
    )
    with open_warehouse() as con:
        replace_tables(
            con,
            GOLD,
            {
                "sales_weekly_evaluation_output": evaluation,
                "sales_weekly_scoring_output": scoring,
                "sales_weekly_training_runs": (
                    pd.concat([previous_runs, run_row]) if len(previous_runs) else run_row
                ),
            },
            GOLD_TABLES,
        )
    return TrainSummary(result=result, tracking=tracking, plotted_series=plotted)


def publish_job() -> dict[str, int]:
    """Rebuild gold.sales_overall and gold.mapping_timeseries_id_product from the latest run."""
    with open_warehouse() as con:
        require_table(
            con, GOLD, "sales_weekly_scoring_output", "run `salesgenie pipeline train` first"
        )
        runs = _training_runs(con)
        if runs.empty:
            raise SalesgenieError("no training run recorded: run `salesgenie pipeline train` first")
        last = runs.sort_values("run_date").iloc[-1]
        params = TrainParams(
            product=last["product"] if pd.notna(last["product"]) else None,
            start_date=pd.Timestamp(last["start_date"]).date(),
            end_date=pd.Timestamp(last["end_date"]).date(),
        )
        history = load_history(con, params)
        scoring = con.execute(
            "SELECT * FROM gold.sales_weekly_scoring_output WHERE run_id = ?", [last["run_id"]]
        ).df()
        products = _products(con)
        tables = {
            "sales_overall": publish.sales_overall(history, scoring),
            "mapping_timeseries_id_product": publish.mapping(products, scoring),
        }
        replace_tables(con, GOLD, tables, GOLD_TABLES)
    return {name: len(frame) for name, frame in tables.items()}


def load_history(con: Any, params: TrainParams) -> pd.DataFrame:
    """The training input: weekly quantity per series in [start, end), gaps filled with 0."""
    require_table(con, GOLD, "sales_data_for_forecast", "run `salesgenie pipeline prep` first")
    daily = _daily_sales(con, params)
    if daily.empty:
        raise SalesgenieError(
            f"no sales between {params.start_date} and {params.end_date} in "
            "gold.sales_data_for_forecast: check --start-date/--end-date"
        )
    return weekly_history(daily, params)


def _daily_sales(con: Any, params: TrainParams) -> pd.DataFrame:
    """Daily quantity per series in [start, end), for one product when the job names one."""
    sql = (
        f"SELECT {SERIES_ID} AS timeseries_id, date, quantity "
        "FROM gold.sales_data_for_forecast WHERE date >= ? AND date < ?"
    )
    args: list[Any] = [params.start_date, params.end_date]
    if params.product:
        _check_product(con, params.product)
        sql += " AND lower(product) = lower(?)"
        args.append(params.product)
    return con.execute(sql, args).df()


def _check_product(con: Any, product: str) -> None:
    from rapidfuzz import process

    names = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT product FROM gold.sales_data_for_forecast WHERE product IS NOT NULL"
        ).fetchall()
    ]
    if product.lower() in {n.lower() for n in names}:
        return
    close = [m[0] for m in process.extract(product.upper(), names, limit=3)]
    raise SalesgenieError(f"unknown product {product!r}; closest: {', '.join(close)}")


def _training_runs(con: Any) -> pd.DataFrame:
    if not table_exists(con, GOLD, "sales_weekly_training_runs"):
        return pd.DataFrame(columns=list(GOLD_TABLES["sales_weekly_training_runs"]))
    return con.execute("SELECT * FROM gold.sales_weekly_training_runs").df()


def _products(con: Any) -> pd.DataFrame:
    """Series attributes: product and brand from the gold data, the org's name from silver."""
    require_table(con, SILVER, "dim_sales_org", "run `salesgenie pipeline generate` or `load`")
    return con.execute(
        f"SELECT {SERIES_ID} AS timeseries_id, any_value(product) AS product, "
        "any_value(brand) AS brand, material_id, sales_org, "
        "any_value(o.sales_org_name) AS sales_org_name "
        "FROM gold.sales_data_for_forecast LEFT JOIN silver.dim_sales_org o USING (sales_org) "
        "GROUP BY ALL"
    ).df()


def _series_to_plot(result: TrainResult, preferred: list[str]) -> str:
    """The demo's series (Etorki in FR01) when trained, else the highest-volume one."""
    for series in preferred:
        if series in result.best_models:
            return series
    return str(result.history.groupby("unique_id")["y"].sum().idxmax())
