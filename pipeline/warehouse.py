"""The writable side of the DuckDB warehouse, used by the pipeline jobs.

The file is attached under the catalog name `prd_sales` whatever its file name, so three-part
names (`prd_sales.gold.sales_overall`) work exactly as they do on Databricks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd

from pipeline.contract import GOLD, SILVER
from salesgenie import settings
from salesgenie.errors import SalesgenieError


@contextmanager
def open_warehouse(path: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open (creating if needed) the warehouse for writing, with the silver and gold schemas."""
    path = Path(path or settings.warehouse_path())
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET enable_progress_bar = false")  # progress is rich's job
        try:
            con.execute(f"ATTACH '{_quote(path)}' AS {settings.CATALOG}")
        except duckdb.Error as exc:  # locked by another process, not a database, …
            raise SalesgenieError(f"cannot open warehouse {path}: {exc}") from None
        con.execute(f"USE {settings.CATALOG}")
        for schema in (SILVER, GOLD):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        yield con
    finally:
        con.close()


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables "
        "WHERE table_catalog = ? AND table_schema = ? AND table_name = ?",
        [settings.CATALOG, schema, table],
    ).fetchone()
    return bool(row and row[0])


def require_table(con: duckdb.DuckDBPyConnection, schema: str, table: str, hint: str) -> None:
    """Fail with a one-line message naming the missing table and what creates it."""
    if not table_exists(con, schema, table):
        raise SalesgenieError(f"missing table {settings.CATALOG}.{schema}.{table}: {hint}")


def replace_tables(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    frames: Mapping[str, pd.DataFrame],
    columns: Mapping[str, Mapping[str, str]],
) -> None:
    """Replace several tables at once: stage every frame, then swap all of them in one transaction.

    Readers see either every old table or every new one; a process killed at any point leaves
    the previous versions in place (DuckDB discards an uncommitted transaction on reopen).
    """
    staged = {}
    for table, frame in frames.items():
        staging = f"{table}__staging"
        cols = columns[table]
        con.register("_incoming", frame)
        select = ", ".join(
            f'CAST("{name}" AS {sql_type}) AS "{name}"' for name, sql_type in cols.items()
        )
        con.execute(f"CREATE OR REPLACE TABLE {schema}.{staging} AS SELECT {select} FROM _incoming")
        con.unregister("_incoming")
        staged[table] = staging
    con.execute("BEGIN TRANSACTION")
    try:
        for table, staging in staged.items():
            con.execute(f"DROP TABLE IF EXISTS {schema}.{table}")
            con.execute(f"ALTER TABLE {schema}.{staging} RENAME TO {table}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
