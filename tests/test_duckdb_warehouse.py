"""The read-only DuckDB warehouse: results, row cap, hardening, time limit, unavailable files."""

import subprocess
import sys
import textwrap
import threading
import time
from datetime import date, datetime

import duckdb
import pandas as pd
import pytest

from pipeline.contract import GOLD, GOLD_TABLES
from pipeline.warehouse import open_warehouse, replace_tables
from salesgenie.warehouses import (
    DuckDBWarehouse,
    QueryFailed,
    QueryLimits,
    QueryTimeout,
    WarehouseUnavailable,
    open_query_warehouse,
)

WEEKS = pd.date_range("2025-01-06", periods=6, freq="W-MON")


@pytest.fixture(scope="module")
def gold_path(tmp_path_factory):
    """A small gold schema written by the pipeline's own writer, closed before any reading."""
    path = tmp_path_factory.mktemp("warehouse") / "prd_sales.duckdb"
    overall = pd.DataFrame(
        {
            "timeseries_id": "FR01_M1",
            "date": WEEKS,
            "sales": [10.0, 12.0, 11.0, 13.0, 14.5, 15.0],
            "type": ["train"] * 4 + ["predict"] * 2,
            "model": [None] * 4 + ["StatsForecastAutoEts"] * 2,
            "sales_lower": [None] * 4 + [12.0, 12.5],
            "sales_upper": [None] * 4 + [17.0, 17.5],
        }
    )
    evaluation = pd.DataFrame(
        {
            "timeseries_id": ["FR01_M1"],
            "model": ["StatsForecastAutoEts"],
            "backtest_window_start_date": [WEEKS[2]],
            "metric_name": ["smape"],
            "metric_value": [0.12],
            "forecast": [[11.0, 12.0]],
            "actual": [[11.0, 13.0]],
            "model_pickle": [b""],
            "run_id": ["r1"],
            "run_date": [datetime(2025, 2, 20, 9, 30)],
        }
    )
    frames = {"sales_overall": overall, "sales_weekly_evaluation_output": evaluation}
    with open_warehouse(path) as con:
        replace_tables(con, GOLD, frames, GOLD_TABLES)
    return path


@pytest.fixture
def warehouse(gold_path):
    with DuckDBWarehouse(gold_path, QueryLimits(time_limit_s=10, row_cap=100)) as wh:
        yield wh


def test_columns_types_and_rows(warehouse):
    result = warehouse.execute(
        "SELECT date, sales, type, model, count(*) OVER () AS n "
        "FROM prd_sales.gold.sales_overall ORDER BY date LIMIT 2"
    )
    assert warehouse.dialect == "duckdb"
    assert result.columns == ["date", "sales", "type", "model", "n"]
    assert result.types == ["DATE", "DOUBLE", "VARCHAR", "VARCHAR", "BIGINT"]
    assert result.rows == [
        (date(2025, 1, 6), 10.0, "train", None, 6),
        (date(2025, 1, 13), 12.0, "train", None, 6),
    ]
    assert result.truncated is False
    assert result.elapsed_ms > 0


def test_arrays_timestamps_and_two_part_names(warehouse):
    result = warehouse.execute(
        "SELECT forecast, run_date, metric_value > 0.1 AS poor, NULL AS nothing "
        "FROM gold.sales_weekly_evaluation_output"
    )
    assert result.types == ["DOUBLE[]", "TIMESTAMP", "BOOLEAN", "NULL"]
    assert result.rows == [([11.0, 12.0], datetime(2025, 2, 20, 9, 30), True, None)]


@pytest.mark.parametrize(("cap", "truncated"), [(5, True), (6, False), (7, False)])
def test_row_cap(gold_path, cap, truncated):
    with DuckDBWarehouse(gold_path, QueryLimits(row_cap=cap)) as wh:
        result = wh.execute("SELECT sales FROM prd_sales.gold.sales_overall ORDER BY date")
    assert len(result.rows) == min(cap, 6)
    assert result.truncated is truncated


def test_hardening_settings_are_in_force(warehouse):
    names = [
        "enable_external_access",
        "lock_configuration",
        "autoload_known_extensions",
        "autoinstall_known_extensions",
        "temp_directory",
        "memory_limit",
    ]
    result = warehouse.execute(
        "SELECT " + ", ".join(f"current_setting('{name}')" for name in names)
    )
    assert result.rows == [(False, True, False, False, "", "1.8 GiB")]


@pytest.fixture
def outside_file(tmp_path):
    path = tmp_path / "outside.csv"
    path.write_text("a,b\n1,2\n")
    return path


ESCAPES = {
    "SET after lock": ("SET memory_limit = '8GB'", "configuration has been locked"),
    "RESET after lock": ("RESET memory_limit", "configuration has been locked"),
    "re-enable access": ("SET enable_external_access = true", "configuration has been locked"),
    "unlock": ("SET lock_configuration = false", "configuration has been locked"),
    "PRAGMA setting": ("PRAGMA threads = 1", "configuration has been locked"),
    "read_csv": ("SELECT * FROM read_csv('{csv}')", "file system operations are disabled"),
    "replacement scan": ("SELECT * FROM '{csv}'", "file system operations are disabled"),
    "read_text": ("SELECT * FROM read_text('{csv}')", "file system operations are disabled"),
    "glob": ("SELECT * FROM glob('{dir}/*')", "file system operations are disabled"),
    "COPY TO": ("COPY (SELECT 1) TO '{dir}/out.csv'", "file system operations are disabled"),
    "EXPORT": ("EXPORT DATABASE '{dir}/export'", "file system operations are disabled"),
    "ATTACH": ("ATTACH '{dir}/other.duckdb' AS other", "file system operations are disabled"),
    "INSTALL": ("INSTALL httpfs", "file system operations are disabled"),
    "LOAD": ("LOAD httpfs", "Loading external extensions is disabled"),
    "INSERT": ("INSERT INTO gold.sales_overall (type) VALUES ('x')", "read-only mode"),
    "UPDATE": ("UPDATE prd_sales.gold.sales_overall SET sales = 0", "read-only mode"),
    "DELETE": ("DELETE FROM gold.sales_overall", "read-only mode"),
    "CREATE": ("CREATE TABLE prd_sales.gold.x (a INTEGER)", "read-only mode"),
    "DROP": ("DROP TABLE gold.sales_overall", "read-only mode"),
    "CREATE SCHEMA": ("CREATE SCHEMA prd_sales.sneaky", "read-only mode"),
}


@pytest.mark.parametrize(("sql", "message"), ESCAPES.values(), ids=ESCAPES.keys())
def test_hardening_holds(warehouse, outside_file, sql, message):
    statement = sql.format(csv=outside_file, dir=outside_file.parent)
    with pytest.raises(QueryFailed, match=message) as caught:
        warehouse.execute(statement)
    assert "\n" not in str(caught.value)
    assert sorted(p.name for p in outside_file.parent.iterdir()) == ["outside.csv"]
    assert warehouse.execute("SELECT count(*) FROM gold.sales_overall").rows == [(6,)]


def test_failed_query_is_one_line(warehouse):
    with pytest.raises(QueryFailed, match=r'^Binder Error: Referenced column "nope" not found'):
        warehouse.execute("SELECT nope FROM prd_sales.gold.sales_overall")


def test_overlong_query_is_cancelled_and_the_connection_survives(gold_path):
    with DuckDBWarehouse(gold_path, QueryLimits(time_limit_s=0.5)) as wh:
        start = time.monotonic()
        with pytest.raises(QueryTimeout, match=r"^query cancelled after 0\.5 s time limit$"):
            wh.execute("SELECT count(*) FROM range(10_000_000_000) a")
        assert 0.5 <= time.monotonic() - start < 5
        assert wh.execute("SELECT 42").rows == [(42,)]


def test_concurrent_queries_each_get_their_own_result(warehouse):
    results = {}

    def run(n):
        results[n] = warehouse.execute(f"SELECT {n} + count(*) FROM gold.sales_overall").rows

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: [(n + 6,)] for n in range(4)}


def test_closed_warehouse(gold_path):
    wh = DuckDBWarehouse(gold_path)
    wh.close()
    with pytest.raises(WarehouseUnavailable, match="closed"):
        wh.execute("SELECT 1")


def test_missing_file(tmp_path):
    missing = tmp_path / "nowhere.duckdb"
    with pytest.raises(WarehouseUnavailable, match=rf"no warehouse at {missing}.*salesgenie demo"):
        DuckDBWarehouse(missing)


def test_not_a_database(tmp_path):
    path = tmp_path / "junk.duckdb"
    path.write_text("not a database\n" * 100)
    with pytest.raises(WarehouseUnavailable, match=rf"^cannot open warehouse {path}: "):
        DuckDBWarehouse(path)


def test_file_held_by_a_writer(tmp_path):
    path = tmp_path / "busy.duckdb"
    duckdb.connect(str(path)).close()
    writer = textwrap.dedent(
        f"""
        import sys, duckdb
        con = duckdb.connect({str(path)!r})
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", writer], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseUnavailable, match="open for writing by another process"):
            DuckDBWarehouse(path)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    with DuckDBWarehouse(path) as wh:  # free again once the writer has gone
        assert wh.execute("SELECT 1").rows == [(1,)]


def test_bad_memory_limit(gold_path):
    with pytest.raises(WarehouseUnavailable, match="SALESGENIE_MEMORY_LIMIT='lots'"):
        DuckDBWarehouse(gold_path, QueryLimits(memory_limit="lots"))


def test_limits_from_env(monkeypatch):
    monkeypatch.setenv("SALESGENIE_QUERY_TIMEOUT", "2.5")
    monkeypatch.setenv("SALESGENIE_ROW_CAP", "50")
    monkeypatch.setenv("SALESGENIE_MEMORY_LIMIT", "512MB")
    assert QueryLimits.from_env() == QueryLimits(2.5, 50, "512MB")
    for name in ("SALESGENIE_QUERY_TIMEOUT", "SALESGENIE_ROW_CAP", "SALESGENIE_MEMORY_LIMIT"):
        monkeypatch.delenv(name)
    assert QueryLimits.from_env() == QueryLimits(30.0, 10_000, "2GB")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SALESGENIE_QUERY_TIMEOUT", "soon"),
        ("SALESGENIE_QUERY_TIMEOUT", "0"),
        ("SALESGENIE_QUERY_TIMEOUT", "inf"),
        ("SALESGENIE_ROW_CAP", "1.5"),
        ("SALESGENIE_ROW_CAP", "-3"),
    ],
)
def test_bad_limits_name_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(WarehouseUnavailable, match=rf"^{name} must be a positive"):
        QueryLimits.from_env()


def test_open_query_warehouse_default_and_path(gold_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SALESGENIE_WAREHOUSE", raising=False)
    with pytest.raises(WarehouseUnavailable, match="no warehouse at data/prd_sales.duckdb"):
        open_query_warehouse()
    monkeypatch.setenv("SALESGENIE_WAREHOUSE", str(gold_path))
    with open_query_warehouse() as wh:
        assert isinstance(wh, DuckDBWarehouse)
        assert wh.execute("SELECT count(*) FROM prd_sales.gold.sales_overall").rows == [(6,)]
