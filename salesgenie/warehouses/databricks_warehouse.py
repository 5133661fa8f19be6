"""Databricks SQL through databricks-sql-connector (`SALESGENIE_WAREHOUSE=databricks`).

The connection comes from `DATABRICKS_SERVER_HOSTNAME`, `DATABRICKS_HTTP_PATH` and
`DATABRICKS_TOKEN`. Queries use three-part names (`prd_sales.gold.sales_overall`), so no
catalog or schema is set on the session. Two time limits: a client-side timer cancels the
statement when the limit passes (our message, our timing), and the session's
`STATEMENT_TIMEOUT` a few seconds later makes the warehouse stop it even if this process dies.
"""

from __future__ import annotations

import logging
import math
import os
import time
from contextlib import suppress
from typing import Any

from salesgenie.errors import first_line
from salesgenie.warehouses.base import (
    Deadline,
    QueryFailed,
    QueryLimits,
    QueryResult,
    Warehouse,
    WarehouseError,
    WarehouseUnavailable,
)

# The connector logs each failed request at ERROR; with no logging configured Python would print
# that to stderr next to our one-line message. Records still reach any handler the app sets up.
logging.getLogger("databricks.sql").addHandler(logging.NullHandler())

ENV_VARS = ("DATABRICKS_SERVER_HOSTNAME", "DATABRICKS_HTTP_PATH", "DATABRICKS_TOKEN")

# Seconds the server waits past our own limit, so the client's cancel normally comes first.
SERVER_TIMEOUT_MARGIN_S = 5
_MAX_STATEMENT_TIMEOUT_S = 172_800  # the largest value Databricks SQL accepts (2 days)

# cursor.description type codes (Thrift type names, lower case) → DuckDB's names for them.
_TYPE_NAMES = {
    "boolean": "BOOLEAN",
    "tinyint": "TINYINT",
    "smallint": "SMALLINT",
    "int": "INTEGER",
    "bigint": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "varchar": "VARCHAR",
    "char": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timestamp_ntz": "TIMESTAMP",
    "binary": "BLOB",
    "map": "MAP",
    "struct": "STRUCT",
    "null": "NULL",
    "interval_year_month": "INTERVAL",
    "interval_day_time": "INTERVAL",
}

# Python element type → name, for arrays (the type code says only "array"). bool before int.
_ELEMENT_TYPES = ((bool, "BOOLEAN"), (int, "BIGINT"), (float, "DOUBLE"), (str, "VARCHAR"))


class DatabricksWarehouse(Warehouse):
    """Runs queries on a Databricks SQL warehouse under the time and row limits."""

    dialect = "databricks"

    def __init__(
        self,
        server_hostname: str,
        http_path: str,
        access_token: str,
        limits: QueryLimits | None = None,
    ) -> None:
        from databricks import sql  # half a second to import: only when Databricks is chosen

        self.server_hostname = server_hostname
        self.limits = limits or QueryLimits.from_env()
        self._exc = sql.exc
        server_timeout = min(
            math.ceil(self.limits.time_limit_s) + SERVER_TIMEOUT_MARGIN_S,
            _MAX_STATEMENT_TIMEOUT_S,
        )
        try:
            self._conn = sql.connect(
                server_hostname=server_hostname,
                http_path=http_path,
                access_token=access_token,
                session_configuration={"STATEMENT_TIMEOUT": str(server_timeout)},
                user_agent_entry="salesgenie",
                # The connector retries an unreachable host for 15 minutes by default; give up
                # within the time limit instead (an internal option it documents, minimum 1 s).
                _retry_stop_after_attempts_duration=max(1.0, self.limits.time_limit_s),
            )
        except sql.exc.Error as exc:
            raise WarehouseUnavailable(
                f"cannot connect to Databricks SQL at {server_hostname}: {first_line(exc)}"
            ) from None

    @classmethod
    def from_env(cls, limits: QueryLimits | None = None) -> DatabricksWarehouse:
        missing = [name for name in ENV_VARS if not os.environ.get(name)]
        if missing:
            raise WarehouseUnavailable(
                f"SALESGENIE_WAREHOUSE=databricks needs {', '.join(missing)} in the environment"
            )
        hostname, http_path, token = (os.environ[name] for name in ENV_VARS)
        return cls(hostname, http_path, token, limits)

    def execute(self, sql: str) -> QueryResult:
        cap = self.limits.row_cap
        start = time.perf_counter()
        try:
            # row_limit makes the server stop at cap + 1 rows; fetchmany bounds us regardless
            cursor = self._conn.cursor(row_limit=cap + 1)
        except self._exc.Error as exc:
            raise self._mapped(exc) from None
        deadline = Deadline(self.limits.time_limit_s, cursor.cancel)
        try:
            with deadline:
                cursor.execute(sql)
                rows = cursor.fetchmany(cap + 1)
                description = cursor.description or []
        except self._exc.Error as exc:
            if deadline.expired:
                raise deadline.timeout() from None
            raise self._mapped(exc) from None
        finally:
            with suppress(self._exc.Error):
                cursor.close()
        if deadline.expired:  # a cancelled statement may end without an error
            raise deadline.timeout()
        plain = [tuple(_plain(value) for value in row) for row in rows[:cap]]
        return QueryResult(
            columns=[column[0] for column in description],
            types=[
                _type_name(column, [row[index] for row in plain])
                for index, column in enumerate(description)
            ],
            rows=plain,
            truncated=len(rows) > cap,
            elapsed_ms=(time.perf_counter() - start) * 1000,
        )

    def _mapped(self, exc: Exception) -> WarehouseError:
        """Transport and session problems mean unavailable; anything else, the query failed."""
        if isinstance(exc, self._exc.RequestError | self._exc.InterfaceError):
            return WarehouseUnavailable(
                f"Databricks SQL at {self.server_hostname} is unavailable: {first_line(exc)}"
            )
        return QueryFailed(first_line(exc))

    def close(self) -> None:
        with suppress(self._exc.Error):  # the session may already be gone server-side
            self._conn.close()


def _plain(value: Any) -> Any:
    """The connector hands arrays over as numpy arrays: make them lists like DuckDB's."""
    return value.tolist() if hasattr(value, "tolist") else value


def _type_name(column: tuple[Any, ...], values: list[Any]) -> str:
    """A description entry (name, type_code, _, _, precision, scale, _) → a normalised name."""
    code = str(column[1]).lower()
    if code == "decimal" and column[4] is not None:
        return f"DECIMAL({column[4]},{column[5]})"
    if code == "array":
        return _array_type(values)
    return _TYPE_NAMES.get(code, code.upper())


def _array_type(values: list[Any]) -> str:
    elements = (item for value in values if value for item in value if item is not None)
    first = next(elements, None)
    for kind, name in _ELEMENT_TYPES:
        if isinstance(first, kind):
            return f"{name}[]"
    return "ARRAY"
