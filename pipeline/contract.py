"""The warehouse contract of DESIGN.md as data: every table, its columns and their DuckDB types.

Loaders validate against it, writers create tables from it, tests check the live tables match it.
"""

from __future__ import annotations

SILVER = "silver"
GOLD = "gold"

SOURCE_TABLES: dict[str, dict[str, str]] = {
    "dim_customer": {
        "customer_id": "VARCHAR",
        "customer_name": "VARCHAR",
        "customer_group": "VARCHAR",
        "country": "VARCHAR",
    },
    "dim_material": {
        "material_id": "VARCHAR",
        "material_description": "VARCHAR",
        "brand": "VARCHAR",
        "category": "VARCHAR",
    },
    "dim_sales_org": {
        "sales_org": "VARCHAR",
        "sales_org_name": "VARCHAR",
        "country": "VARCHAR",
        "currency": "VARCHAR",
    },
    "fact_sales_orders": {
        "order_id": "VARCHAR",
        "order_line": "INTEGER",
        "order_date": "DATE",
        "customer_id": "VARCHAR",
        "material_id": "VARCHAR",
        "sales_org": "VARCHAR",
        "quantity": "DOUBLE",
        "net_value": "DOUBLE",
    },
}

GOLD_TABLES: dict[str, dict[str, str]] = {
    "sales_data_for_forecast": {
        "date": "DATE",
        "sales_org": "VARCHAR",
        "material_id": "VARCHAR",
        "product": "VARCHAR",
        "brand": "VARCHAR",
        "quantity": "DOUBLE",
        "net_value": "DOUBLE",
    },
    "prep_rejects": {
        "source_table": "VARCHAR",
        "reason": "VARCHAR",
        "order_id": "VARCHAR",
        "order_line": "INTEGER",
        "row_json": "VARCHAR",
    },
    "sales_weekly_evaluation_output": {
        "timeseries_id": "VARCHAR",
        "model": "VARCHAR",
        "backtest_window_start_date": "DATE",
        "metric_name": "VARCHAR",
        "metric_value": "DOUBLE",
        "forecast": "DOUBLE[]",
        "actual": "DOUBLE[]",
        "model_pickle": "BLOB",
        "run_id": "VARCHAR",
        "run_date": "TIMESTAMP",
    },
    "sales_weekly_training_runs": {
        "run_id": "VARCHAR",
        "run_date": "TIMESTAMP",
        "product": "VARCHAR",
        "start_date": "DATE",
        "end_date": "DATE",
        "horizon": "INTEGER",
        "backtest_windows": "INTEGER",
        "models": "VARCHAR",
        "series": "INTEGER",
        "best_smape": "DOUBLE",
        "notes": "VARCHAR",
    },
    "sales_weekly_scoring_output": {
        "timeseries_id": "VARCHAR",
        "model": "VARCHAR",
        "date": "DATE",
        "forecast": "DOUBLE",
        "forecast_lower": "DOUBLE",
        "forecast_upper": "DOUBLE",
        "run_id": "VARCHAR",
    },
    "mapping_timeseries_id_product": {
        "timeseries_id": "VARCHAR",
        "product": "VARCHAR",
        "brand": "VARCHAR",
        "material_id": "VARCHAR",
        "sales_org": "VARCHAR",
        "sales_org_name": "VARCHAR",
    },
    "sales_overall": {
        "timeseries_id": "VARCHAR",
        "date": "DATE",
        "sales": "DOUBLE",
        "type": "VARCHAR",
        "model": "VARCHAR",
        "sales_lower": "DOUBLE",
        "sales_upper": "DOUBLE",
    },
}

PRIMARY_KEYS = {
    "dim_customer": "customer_id",
    "dim_material": "material_id",
    "dim_sales_org": "sales_org",
    "mapping_timeseries_id_product": "timeseries_id",
}

ZCD4_GROUP = "ZCD4"


def create_table_sql(schema: str, table: str, columns: dict[str, str]) -> str:
    cols = ", ".join(f'"{name}" {sql_type}' for name, sql_type in columns.items())
    return f"CREATE OR REPLACE TABLE {schema}.{table} ({cols})"
