"""Loading users' files: round trips, one-line errors, and a bad file never touching the table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipeline.contract import SOURCE_TABLES
from pipeline.generate import generate
from pipeline.load import load_table
from pipeline.warehouse import open_warehouse
from salesgenie.errors import SalesgenieError

FACT_HEADER = ",".join(SOURCE_TABLES["fact_sales_orders"])
FACT_ROWS = [
    "4500000001,1,2024-01-01,2000001,100001,FR01,24,131.5",
    "4500000001,2,2024-01-01,2000001,100002,FR01,10,55.25",
    "4500000002,1,2024-01-08,2000002,100001,ES01,8,41",
]


@pytest.fixture
def con(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_warehouse(tmp_path / "w.duckdb") as connection:
        yield connection


def _csv(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM silver.{table} ORDER BY ALL").fetchall()


def _error(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> str:
    with pytest.raises(SalesgenieError) as caught:
        load_table(con, table, path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_csv_round_trip(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = _csv(tmp_path, "fact_sales_orders.csv", FACT_HEADER, *FACT_ROWS)
    assert load_table(con, "fact_sales_orders", path) == 3
    assert _rows(con, "fact_sales_orders")[0] == (
        "4500000001",
        1,
        date(2024, 1, 1),
        "2000001",
        "100001",
        "FR01",
        24.0,
        131.5,
    )
    types = con.execute("DESCRIBE silver.fact_sales_orders").fetchall()
    assert [(name, sql_type) for name, sql_type, *_ in types] == list(
        SOURCE_TABLES["fact_sales_orders"].items()
    )


def test_parquet_round_trip_of_generated_sources(tmp_path: Path) -> None:
    with open_warehouse(tmp_path / "source.duckdb") as source:
        generate(source, scale=0.01, seed=3)
        expected = {table: _rows(source, table) for table in SOURCE_TABLES}
        for table in SOURCE_TABLES:
            source.execute(f"COPY silver.{table} TO '{tmp_path / table}.parquet'")
    with open_warehouse(tmp_path / "target.duckdb") as target:
        for table in SOURCE_TABLES:
            count = load_table(target, table, tmp_path / f"{table}.parquet")
            assert count == len(expected[table])
            assert _rows(target, table) == expected[table]


def test_header_case_order_delimiter_and_extra_columns(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "customers.csv",
        "Country;Customer_ID;comment;CUSTOMER_NAME;customer_group",
        'FR;2000001;ignored;"CARREFOUR; PARIS";Z001',
        "ES;2000002;;MERCADONA MADRID;",
    )
    assert load_table(con, "dim_customer", path) == 2
    assert _rows(con, "dim_customer") == [
        ("2000001", "CARREFOUR; PARIS", "Z001", "FR"),
        ("2000002", "MERCADONA MADRID", None, "ES"),
    ]


def test_parquet_with_other_types_is_cast(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "materials.parquet"
    pd.DataFrame(
        {
            "material_id": [100001, 100002],
            "material_description": [
                "ETORKI PORT 250G FAMILIAL X8 FR",
                "PRESIDENT BRIE 200G X8 FR",
            ],
            "brand": ["ETORKI", "PRESIDENT"],
            "category": ["cheese", "cheese"],
        }
    ).to_parquet(path)
    assert load_table(con, "dim_material", path) == 2
    assert _rows(con, "dim_material")[0][0] == "100001"


def test_missing_column(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    header = FACT_HEADER.removesuffix(",net_value")
    path = _csv(tmp_path, "fact_sales_orders.csv", header, FACT_ROWS[0].rsplit(",", 1)[0])
    assert _error(con, "fact_sales_orders", path) == (
        "fact_sales_orders.csv: missing column 'net_value' (expected order_id, order_line, "
        "order_date, customer_id, material_id, sales_org, quantity, net_value)"
    )


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "4500000003,1,2024-01-08,2000002,100001,ES01,abc,41",
            "column 'quantity' must be DOUBLE: 'abc' (row 3)",
        ),
        (
            '4500000003,1,2024-01-08,2000002,100001,ES01,8,"41,5"',
            "column 'net_value' must be DOUBLE: '41,5' (row 3)",
        ),
        (
            "4500000003,1,08/01/2024,2000002,100001,ES01,8,41",
            "column 'order_date' must be DATE (expected YYYY-MM-DD): '08/01/2024' (row 3)",
        ),
        (
            "4500000003,1.5,2024-01-08,2000002,100001,ES01,8,41",
            "column 'order_line' must be INTEGER (expected a whole number): '1.5' (row 3)",
        ),
    ],
)
def test_mistyped_value(
    con: duckdb.DuckDBPyConnection, tmp_path: Path, row: str, expected: str
) -> None:
    path = _csv(tmp_path, "fact.csv", FACT_HEADER, *FACT_ROWS[:2], row)
    assert _error(con, "fact_sales_orders", path) == f"fact.csv: {expected}"


def test_duplicate_dimension_key(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "orgs.csv",
        "sales_org,sales_org_name,country,currency",
        "FR01,France,FR,EUR",
        "ES01,Spain,ES,EUR",
        "FR01,France bis,FR,EUR",
    )
    assert _error(con, "dim_sales_org", path) == (
        "orgs.csv: duplicate sales_org 'FR01' (rows 1 and 3)"
    )


def test_unknown_table(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = _csv(tmp_path, "fact.csv", FACT_HEADER, *FACT_ROWS)
    assert _error(con, "fact_sales", path) == (
        "unknown table 'fact_sales' (expected one of dim_customer, dim_material, dim_sales_org, "
        "fact_sales_orders)"
    )


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("nope.csv", None, "no such file"),
        ("fact.xlsx", "x", "fact.xlsx: unsupported file type '.xlsx' (expected .csv or .parquet)"),
        ("fact.csv", "", "fact.csv: empty file (a header row is required)"),
        ("fact.csv", FACT_HEADER + "\n", "fact.csv: no data rows; the table was left as it was"),
        (
            "fact.csv",
            f"{FACT_HEADER}\n{FACT_ROWS[0]}\n4500000002,1\n",
            "fact.csv: cannot read: CSV Error on Line: 3: Expected Number of Columns: 8 Found: 2",
        ),
        ("fact.parquet", "not parquet", "fact.parquet: cannot read:"),
    ],
)
def test_unreadable_files(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    name: str,
    content: str | None,
    expected: str,
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert _error(con, "fact_sales_orders", path).startswith(
        f"{path}: {expected}" if content is None else expected
    )


def test_failed_load_leaves_previous_table(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    good = _csv(tmp_path, "good.csv", FACT_HEADER, *FACT_ROWS)
    load_table(con, "fact_sales_orders", good)
    before = _rows(con, "fact_sales_orders")
    bad_rows = [*FACT_ROWS, "4500000003,1,2024-01-08,2000002,100001,ES01,abc,41"]
    for bad in (
        _csv(tmp_path, "bad.csv", FACT_HEADER, *bad_rows),
        _csv(tmp_path, "short.csv", "order_id,order_line", "1,1"),
        tmp_path / "missing.parquet",
    ):
        _error(con, "fact_sales_orders", bad)
        assert _rows(con, "fact_sales_orders") == before
    leftovers = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '%staging%' "
        "OR table_name LIKE '%salesgenie_load%'"
    ).fetchall()
    assert leftovers == []
