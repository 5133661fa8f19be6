"""The read-only side of the DuckDB warehouse, used by everything that answers questions.

Defence in depth behind the SQL guard: the file is attached READ_ONLY under the catalog name
`prd_sales` (so three-part names work as on Databricks), extensions are never installed or
loaded, external access is off, the configuration is locked so SQL cannot undo any of it, the
memory limit is hard (no spilling to a temp directory) and a timer interrupts overlong queries.
Still reachable after all this, so the guard must block them: `query()`, `query_table()`,
`current_setting()`, `duckdb_settings()`, `PRAGMA`, reading the database's own file, and
in-memory scratch tables (`ATTACH ':memory:'`, `CREATE TABLE memory.…`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import duckdb

from salesgenie import settings
from salesgenie.errors import first_line
from salesgenie.warehouses.base import (
    Deadline,
    QueryFailed,
    QueryLimits,
    QueryResult,
    Warehouse,
    WarehouseUnavailable,
)

# Applied after the ATTACH, in this order: once external access is off nothing new can be
# attached, and once the configuration is locked no SET or RESET can loosen anything.
_HARDENING = (
    "SET allowed_directories = []",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)


class DuckDBWarehouse(Warehouse):
    """Runs read-only queries on a DuckDB file under the time, row and memory limits."""

    dialect = "duckdb"

    def __init__(self, path: Path | str, limits: QueryLimits | None = None) -> None:
        self.path = Path(path)
        self.limits = limits or QueryLimits.from_env()
        if not self.path.is_file():
            raise WarehouseUnavailable(
                f"no warehouse at {self.path}: run `salesgenie demo` to build it, "
                "or point SALESGENIE_WAREHOUSE at one"
            )
        self._con = _connect(self.limits)
        try:
            self._attach()
            for statement in _HARDENING:
                self._con.execute(statement)
        except BaseException:
            self._con.close()
            raise

    def _attach(self) -> None:
        quoted = str(self.path).replace("'", "''")
        try:
            self._con.execute(f"ATTACH '{quoted}' AS {settings.CATALOG} (READ_ONLY)")
        except duckdb.Error as exc:
            if "could not set lock" in str(exc).lower():
                raise WarehouseUnavailable(
                    f"warehouse {self.path} is open for writing by another process "
                    "(a pipeline run?): try again when it has finished"
                ) from None
            raise WarehouseUnavailable(
                f"cannot open warehouse {self.path}: {first_line(exc)}"
            ) from None
        self._con.execute(f"USE {settings.CATALOG}")

    def execute(self, sql: str) -> QueryResult:
        """Run one query on its own cursor, so concurrent callers do not share a result."""
        cap = self.limits.row_cap
        try:
            cursor = self._con.cursor()
        except duckdb.Error as exc:  # the warehouse was closed
            raise WarehouseUnavailable(first_line(exc)) from None
        start = time.perf_counter()
        deadline = Deadline(self.limits.time_limit_s, cursor.interrupt)
        try:
            with deadline:
                cursor.execute(f"USE {settings.CATALOG}")  # a new cursor starts in `memory`
                cursor.execute(sql)
                rows = cursor.fetchmany(cap + 1)
                description = cursor.description or []
        except duckdb.Error as exc:  # an interrupt from the deadline is one too
            if deadline.expired:
                raise deadline.timeout() from None
            raise QueryFailed(first_line(exc)) from None
        finally:
            cursor.close()
        return QueryResult(
            columns=[column[0] for column in description],
            types=[str(column[1]).strip('"') for column in description],  # "NULL" is quoted
            rows=rows[:cap],
            truncated=len(rows) > cap,
            elapsed_ms=(time.perf_counter() - start) * 1000,
        )

    def close(self) -> None:
        self._con.close()


def _connect(limits: QueryLimits) -> duckdb.DuckDBPyConnection:
    """An in-memory database whose global options are fixed before any SQL can run."""
    config: dict[str, str | bool | int] = {
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
        "memory_limit": limits.memory_limit,
        "temp_directory": "",  # no spilling: the memory limit is a hard bound, nothing is written
        "threads": min(4, os.cpu_count() or 1),  # one query must not take over a shared host
    }
    try:
        return duckdb.connect(config=config)
    except duckdb.Error as exc:
        raise WarehouseUnavailable(
            f"SALESGENIE_MEMORY_LIMIT={limits.memory_limit!r} is not a memory size DuckDB "
            f"accepts: {first_line(exc)}"
        ) from None
