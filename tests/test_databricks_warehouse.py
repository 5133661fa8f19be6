"""The Databricks SQL adapter at the connector's own boundary: connect() → cursor() → Cursor.

No workspace is reachable from a test, so `databricks.sql.connect` is replaced by a fake that
records what the adapter asks of it and answers the way the connector's Cursor does (Row
tuples, numpy arrays for ARRAY columns, PEP 249 descriptions with Thrift type names).
"""

import subprocess
import sys
import threading
import time
from datetime import date

import numpy as np
import pytest
from databricks.sql import exc
from databricks.sql.types import Row

from salesgenie.warehouses import (
    DatabricksWarehouse,
    QueryFailed,
    QueryLimits,
    QueryTimeout,
    WarehouseUnavailable,
    open_query_warehouse,
)

ENV = {
    "DATABRICKS_SERVER_HOSTNAME": "adb-123.azuredatabricks.net",
    "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/abc",
    "DATABRICKS_TOKEN": "dapi-secret",
}


def column(name, type_code, precision=None, scale=None):
    return (name, type_code, None, None, precision, scale, None)


class FakeCursor:
    def __init__(self, connection, row_limit):
        self.connection = connection
        self.row_limit = row_limit
        self.cancelled = threading.Event()
        self.closed = False

    def execute(self, operation):
        self.connection.executed.append(operation)
        behaviour = self.connection.behaviour
        if isinstance(behaviour, Exception):
            raise behaviour
        if behaviour in ("block", "block-then-raise"):
            self.cancelled.wait(timeout=10)  # the Thrift backend polls until the state changes
        if behaviour == "block-then-raise":
            raise exc.ServerOperationError("Operation was canceled by the client")
        return self

    def fetchmany(self, size):
        self.connection.fetch_sizes.append(size)
        return [] if self.cancelled.is_set() else self.connection.rows[:size]

    @property
    def description(self):
        return self.connection.description

    def cancel(self):
        self.connection.cancels += 1
        self.cancelled.set()

    def close(self):
        self.closed = True


class FakeConnection:
    def __init__(self, **params):
        self.params = params
        self.behaviour = None
        self.rows = []
        self.description = None
        self.executed = []
        self.fetch_sizes = []
        self.cursors = []
        self.cancels = 0
        self.closed = False

    def cursor(self, row_limit=None):
        if self.closed:
            raise exc.InterfaceError("Cannot create cursor from closed connection")
        self.cursors.append(FakeCursor(self, row_limit))
        return self.cursors[-1]

    def close(self):
        self.closed = True


@pytest.fixture
def connections(monkeypatch):
    opened = []

    def connect(server_hostname, http_path, access_token=None, **kwargs):
        opened.append(
            FakeConnection(
                **kwargs,
                server_hostname=server_hostname,
                http_path=http_path,
                access_token=access_token,
            )
        )
        return opened[-1]

    monkeypatch.setattr("databricks.sql.connect", connect)
    return opened


@pytest.fixture
def env(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SALESGENIE_WAREHOUSE", "databricks")


def test_connection_parameters_from_env(connections, env):
    with open_query_warehouse(QueryLimits(time_limit_s=30)) as wh:
        assert isinstance(wh, DatabricksWarehouse)
        assert wh.dialect == "databricks"
    (conn,) = connections
    assert conn.params == {
        "server_hostname": "adb-123.azuredatabricks.net",
        "http_path": "/sql/1.0/warehouses/abc",
        "access_token": "dapi-secret",
        "session_configuration": {"STATEMENT_TIMEOUT": "35"},
        "user_agent_entry": "salesgenie",
        "_retry_stop_after_attempts_duration": 30,
    }
    assert conn.closed


def test_statement_timeout_follows_the_time_limit(connections):
    DatabricksWarehouse("h", "/p", "t", QueryLimits(time_limit_s=0.3))
    params = connections[0].params
    assert params["session_configuration"] == {"STATEMENT_TIMEOUT": "6"}
    assert params["_retry_stop_after_attempts_duration"] == 1  # the connector's minimum


def test_result_types_and_rows(connections):
    wh = DatabricksWarehouse("h", "/p", "t", QueryLimits(row_cap=10))
    conn = connections[0]
    names = ["date", "sales", "type", "n", "k", "amount", "ok", "forecast", "run", "x"]
    conn.description = [
        column("date", "date"),
        column("sales", "double"),
        column("type", "string"),
        column("n", "bigint"),
        column("k", "int"),
        column("amount", "decimal", 10, 2),
        column("ok", "boolean"),
        column("forecast", "array"),
        column("run", "timestamp"),
        column("x", "geography"),
    ]
    row = Row(*names)
    conn.rows = [
        row(date(2025, 1, 6), 10.5, "train", 3, 1, None, True, np.array([1.0, 2.0]), None, "P"),
        row(date(2025, 1, 13), None, "predict", 4, 2, None, False, None, None, None),
    ]
    sql = "SELECT date FROM prd_sales.gold.sales_overall"
    result = wh.execute(sql)
    assert conn.executed == [sql]
    assert conn.cursors[0].row_limit == 11
    assert conn.fetch_sizes == [11]
    assert conn.cursors[0].closed
    assert conn.cancels == 0
    assert result.columns == names
    assert result.types == [
        "DATE", "DOUBLE", "VARCHAR", "BIGINT", "INTEGER", "DECIMAL(10,2)", "BOOLEAN", "DOUBLE[]",
        "TIMESTAMP", "GEOGRAPHY",
    ]  # fmt: skip
    assert result.rows[0] == (
        date(2025, 1, 6), 10.5, "train", 3, 1, None, True, [1.0, 2.0], None, "P"
    )  # fmt: skip
    assert type(result.rows[0]) is tuple
    assert type(result.rows[0][7]) is list
    assert result.truncated is False


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([np.array([1, 2])], "BIGINT[]"),
        ([np.array(["a"])], "VARCHAR[]"),
        ([None, np.array([], dtype=float)], "ARRAY"),
    ],
)
def test_array_element_types(connections, values, expected):
    wh = DatabricksWarehouse("h", "/p", "t")
    connections[0].description = [column("a", "array")]
    connections[0].rows = [Row("a")(value) for value in values]
    assert wh.execute("SELECT a").types == [expected]


@pytest.mark.parametrize(("available", "truncated"), [(4, True), (3, False)])
def test_row_cap(connections, available, truncated):
    wh = DatabricksWarehouse("h", "/p", "t", QueryLimits(row_cap=3))
    connections[0].description = [column("n", "int")]
    connections[0].rows = [Row("n")(n) for n in range(available)]
    result = wh.execute("SELECT n")
    assert result.rows == [(0,), (1,), (2,)]
    assert result.truncated is truncated


@pytest.mark.parametrize("behaviour", ["block", "block-then-raise"])
def test_overlong_query_is_cancelled(connections, behaviour):
    wh = DatabricksWarehouse("h", "/p", "t", QueryLimits(time_limit_s=0.3))
    conn = connections[0]
    conn.behaviour = behaviour
    start = time.monotonic()
    with pytest.raises(QueryTimeout, match=r"^query cancelled after 0\.3 s time limit$"):
        wh.execute("SELECT slow()")
    assert 0.3 <= time.monotonic() - start < 5
    assert conn.cancels == 1
    assert conn.cursors[0].closed
    conn.behaviour = None
    conn.description, conn.rows = [column("one", "int")], [Row("one")(1)]
    assert wh.execute("SELECT 1").rows == [(1,)]
    assert conn.cancels == 1


ERRORS = {
    "analysis error": (
        exc.ServerOperationError(
            "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column `nope` cannot be resolved.\n"
            "SQLSTATE: 42703; line 1 pos 7\n\tat org.apache.spark.sql.AnalysisException",
            {"diagnostic-info": "java stack trace"},
        ),
        QueryFailed,
        r"^\[UNRESOLVED_COLUMN.WITH_SUGGESTION\] A column `nope` cannot be resolved\.$",
    ),
    "programming error": (
        exc.ProgrammingError("There is no active result set"),
        QueryFailed,
        "^There is no active result set$",
    ),
    "request error": (
        exc.RequestError("Error during request to server: Connection refused", {}),
        WarehouseUnavailable,
        r"^Databricks SQL at h is unavailable: Error during request to server",
    ),
    "retries exhausted": (
        exc.MaxRetryDurationError("Retry request would exceed Retry policy max retry duration"),
        WarehouseUnavailable,
        "is unavailable: Retry request would exceed",
    ),
}


@pytest.mark.parametrize(("error", "kind", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_connector_errors_are_mapped(connections, error, kind, message):
    wh = DatabricksWarehouse("h", "/p", "t")
    connections[0].behaviour = error
    with pytest.raises(kind, match=message) as caught:
        wh.execute("SELECT nope")
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_closed_connection(connections):
    wh = DatabricksWarehouse("h", "/p", "t")
    wh.close()
    with pytest.raises(WarehouseUnavailable, match="closed connection"):
        wh.execute("SELECT 1")


def test_connect_failure(monkeypatch):
    def refuse(*args, **kwargs):
        raise exc.RequestError("Error during request to server: Name or service not known", {})

    monkeypatch.setattr("databricks.sql.connect", refuse)
    with pytest.raises(
        WarehouseUnavailable, match=r"^cannot connect to Databricks SQL at adb-1: Error during"
    ):
        DatabricksWarehouse("adb-1", "/p", "t")


@pytest.mark.parametrize("missing", [list(ENV)[:1], list(ENV)[1:], list(ENV)])
def test_missing_env_vars_are_named(connections, env, monkeypatch, missing):
    for name in missing:
        monkeypatch.delenv(name)
    with pytest.raises(WarehouseUnavailable) as caught:
        open_query_warehouse()
    assert str(caught.value) == (
        f"SALESGENIE_WAREHOUSE=databricks needs {', '.join(missing)} in the environment"
    )
    assert connections == []


def test_connector_is_imported_only_when_chosen():
    code = "import sys, salesgenie.warehouses; print('databricks.sql' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
