"""The installed console script on bad input: a non-zero exit and one line on stderr naming the
problem, never a traceback. Each run starts in its own directory, so data/ lands there."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from console_script import run_salesgenie

from pipeline.contract import SILVER, SOURCE_TABLES, create_table_sql
from pipeline.warehouse import open_warehouse

FACT_HEADER = "order_id,order_line,order_date,customer_id,material_id,sales_org,quantity,net_value"
USAGE = 2  # click's exit status for a bad option value; SalesgenieError exits 1


def _run(cwd: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """`salesgenie ARGS` in cwd, with the default locations (data/ under cwd)."""
    return run_salesgenie(*args, cwd=cwd, unset_env=["SALESGENIE_WAREHOUSE", "MLFLOW_TRACKING_URI"])


def _fails(cwd: Path, args: list[str], *expected: str, status: int = 1) -> None:
    """`salesgenie ARGS` must exit `status` with one line on stderr that says each `expected`."""
    result = _run(cwd, args)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == status, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory without a warehouse: every step finds its input table missing."""
    return tmp_path_factory.mktemp("empty")


@pytest.fixture(scope="module")
def prepped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small generated sources, prepped, never trained."""
    path = tmp_path_factory.mktemp("prepped")
    for args in (["pipeline", "generate", "--scale", "0.05"], ["pipeline", "prep"]):
        result = _run(path, args)
        assert result.returncode == 0, result.stderr
    return path


def _write_sources(cwd: Path, facts: list[tuple]) -> None:
    """The source tables straight into cwd's warehouse: one customer, material and org."""
    rows = {
        "dim_customer": [("C1", "CARREFOUR PARIS", "Z001", "FR")],
        "dim_material": [("M1", "ETORKI PORT 250G FAMILIAL X8 FR", "ETORKI", "cheese")],
        "dim_sales_org": [("FR01", "France", "FR", "EUR")],
        "fact_sales_orders": facts,
    }
    with open_warehouse(cwd / "data" / "prd_sales.duckdb") as con:
        for table, columns in SOURCE_TABLES.items():
            con.execute(create_table_sql(SILVER, table, columns))
            if rows[table]:
                marks = ", ".join("?" for _ in columns)
                con.executemany(f"INSERT INTO {SILVER}.{table} VALUES ({marks})", rows[table])


@pytest.mark.parametrize(
    "args, expected",
    [
        (["pipeline", "prep"], ["missing table prd_sales.silver.", "pipeline generate"]),
        (["pipeline", "train"], ["missing table prd_sales.gold.sales_data_for_forecast", "prep"]),
        (["pipeline", "publish"], ["missing table prd_sales.gold.", "pipeline train"]),
        (["pipeline", "load", "fact_orders", "x.csv"], ["unknown table 'fact_orders'"]),
        (["pipeline", "load", "fact_sales_orders", "nope.csv"], ["nope.csv: no such file"]),
    ],
)
def test_missing_table_or_file(empty: Path, args: list[str], expected: list[str]) -> None:
    _fails(empty, args, *expected)


@pytest.mark.parametrize(
    "header, row, expected",
    [
        (FACT_HEADER.removesuffix(",net_value"), "1,1,2024-01-01,C1,M1,FR01,5", "'net_value'"),
        (FACT_HEADER, "1,1,2024-01-01,C1,M1,FR01,five,10", "'quantity' must be DOUBLE: 'five'"),
        (FACT_HEADER, "1,1,2024-31-01,C1,M1,FR01,5,10", "'order_date' must be DATE"),
        (FACT_HEADER, "", "no data rows"),
    ],
)
def test_bad_fact_file(tmp_path: Path, header: str, row: str, expected: str) -> None:
    (tmp_path / "bad.csv").write_text(f"{header}\n{row}\n" if row else f"{header}\n")
    _fails(tmp_path, ["pipeline", "load", "fact_sales_orders", "bad.csv"], "bad.csv: ", expected)


def test_prep_of_an_empty_fact_table(tmp_path: Path) -> None:
    _write_sources(tmp_path, [])
    _fails(tmp_path, ["pipeline", "prep"], "fact_sales_orders is empty: nothing to prep")


def test_prep_without_one_usable_row(tmp_path: Path) -> None:
    _write_sources(tmp_path, [("O1", 1, "2024-01-01", "C9", "M1", "FR01", 5.0, 10.0)])
    _fails(tmp_path, ["pipeline", "prep"], "no usable row", "unknown_customer 1")


@pytest.mark.parametrize(
    "options, expected, status",
    [
        (["--horizon", "0"], ["'--horizon'", "greater than or equal to 1"], USAGE),
        (["--backtest-windows", "x"], ["'--backtest-windows'", "integer"], USAGE),
        (["--start-date", "2024-13-01"], ["--start-date '2024-13-01' is not a date"], 1),
        (["--models", "Foo"], ["unknown model(s) Foo"], 1),
        (["--freq", "D"], ["--freq 'D' is not supported"], 1),
        (["--start-date", "2025-01-01", "--end-date", "2024-01-01"], ["must be before"], 1),
    ],
)
def test_bad_training_option(
    empty: Path, options: list[str], expected: list[str], status: int
) -> None:
    _fails(empty, ["pipeline", "train", *options], *expected, status=status)


def test_unknown_product_names_the_closest(prepped: Path) -> None:
    args = ["pipeline", "train", "--product", "NO SUCH CHEESE"]
    _fails(prepped, args, "unknown product 'NO SUCH CHEESE'; closest: ")


def test_dates_without_sales(prepped: Path) -> None:
    args = ["pipeline", "train", "--start-date", "2030-01-01", "--end-date", "2031-01-01"]
    _fails(prepped, args, "no sales between 2030-01-01 and 2031-01-01")


def test_publish_before_train(prepped: Path) -> None:
    _fails(prepped, ["pipeline", "publish"], "sales_weekly_scoring_output", "pipeline train")


def test_markup_in_a_file_name_is_shown_as_is(empty: Path) -> None:
    _fails(empty, ["pipeline", "load", "fact_sales_orders", "[red]x.csv"], "[red]x.csv: no such")
