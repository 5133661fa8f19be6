"""Where read-only queries run: DuckDB by default, Databricks SQL when configured.

`SALESGENIE_WAREHOUSE` chooses: unset means the DuckDB file `data/prd_sales.duckdb`,
`databricks` means Databricks SQL from `DATABRICKS_SERVER_HOSTNAME`, `DATABRICKS_HTTP_PATH` and
`DATABRICKS_TOKEN`, anything else is the path of a DuckDB file. Limits: see `base`.
"""

from __future__ import annotations

from salesgenie import settings
from salesgenie.warehouses.base import (
    QueryFailed,
    QueryLimits,
    QueryResult,
    QueryTimeout,
    Warehouse,
    WarehouseError,
    WarehouseUnavailable,
)
from salesgenie.warehouses.databricks_warehouse import DatabricksWarehouse
from salesgenie.warehouses.duckdb_warehouse import DuckDBWarehouse

__all__ = [
    "DatabricksWarehouse",
    "DuckDBWarehouse",
    "QueryFailed",
    "QueryLimits",
    "QueryResult",
    "QueryTimeout",
    "Warehouse",
    "WarehouseError",
    "WarehouseUnavailable",
    "open_query_warehouse",
]


def open_query_warehouse(limits: QueryLimits | None = None) -> Warehouse:
    """The configured warehouse, opened read-only; close it (or use `with`) when done."""
    if settings.uses_databricks():
        return DatabricksWarehouse.from_env(limits)
    return DuckDBWarehouse(settings.warehouse_path(), limits)
