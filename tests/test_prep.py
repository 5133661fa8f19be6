"""Prep: a hand-made star schema with known totals, every reject reason, change detection.

The SQL renderings are held in golden files under tests/snapshots/. After an intended change to
the prep SQL, regenerate them and review the diff:

    SALESGENIE_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_prep.py -k snapshot
"""

import json
import os
from datetime import date
from pathlib import Path

import pytest
import sqlglot
from rich.progress import Progress

from pipeline.contract import GOLD, SILVER, SOURCE_TABLES, create_table_sql
from pipeline.prep import REJECT_REASONS, prep_sql, rejects_sql, run_prep
from pipeline.warehouse import open_warehouse
from salesgenie.errors import SalesgenieError

SNAPSHOTS = Path(__file__).parent / "snapshots"
D1, D2, D3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)
ETORKI = "ETORKI PORT 250G FAMILIAL X8 FR"
BRIE = "PRESIDENT BRIE 200G ES"

DIMENSIONS = {
    "dim_sales_org": [("FR01", "France", "FR", "EUR"), ("ES01", "Spain", "ES", "EUR")],
    "dim_material": [("M1", ETORKI, "ETORKI", "cheese"), ("M2", BRIE, "PRESIDENT", "cheese")],
    "dim_customer": [
        ("C1", "Carrefour", "Z001", "FR"),
        ("C2", "Lactalis Iberia", "ZCD4", "ES"),  # intra-group: left out, not a reject
        ("C3", "Corner shop", None, "FR"),  # no group: kept
    ],
}
# order_id, order_line, order_date, customer_id, material_id, sales_org, quantity, net_value
FACTS = [
    ("O1", 1, D1, "C1", "M1", "FR01", 10.0, 100.0),
    ("O1", 2, D1, "C3", "M1", "FR01", 5.0, 50.0),
    ("O2", 1, D1, "C2", "M1", "FR01", 7.0, 70.0),  # ZCD4
    ("O3", 1, D2, "C1", "M2", "ES01", 3.0, 30.0),
    ("O4", 1, D2, "C1", "M2", "ES01", 0.0, 0.0),
    ("O5", 1, None, "C1", "M1", "FR01", 1.0, 10.0),  # null_key
    (None, 1, D2, "C1", "M1", "FR01", 1.0, 10.0),  # null_key
    ("O5", 2, D2, "C9", "M1", "FR01", 1.0, 10.0),  # unknown_customer
    ("O5", 3, D2, "C1", "M9", "FR01", 1.0, 10.0),  # unknown_material
    ("O5", 4, D2, "C1", "M1", "XX99", 1.0, 10.0),  # unknown_sales_org
    ("O6", 1, D2, "C1", "M1", "FR01", -2.0, -20.0),  # negative_quantity
    ("O9", 1, D2, "C2", "M1", "FR01", -1.0, -10.0),  # negative_quantity, although ZCD4
    ("O7", 1, D3, "C1", "M1", "FR01", 4.0, 40.0),  # kept
    ("O7", 1, D3, "C1", "M1", "FR01", 4.0, 40.0),  # duplicate_order_line (exact copy)
    ("O7", 1, D3, "C1", "M1", "FR01", 9.0, 90.0),  # duplicate_order_line (conflicting copy)
    ("O8", 1, D1, "C9", "M1", "FR01", 8.0, 80.0),  # unknown_customer, sorts first by date
    ("O8", 1, D3, "C1", "M1", "FR01", 1.0, 10.0),  # kept: the valid copy wins
]
EXPECTED_ROWS = [
    (D1, "FR01", "M1", ETORKI, "ETORKI", 15.0, 150.0),
    (D2, "ES01", "M2", BRIE, "PRESIDENT", 3.0, 30.0),
    (D3, "FR01", "M1", ETORKI, "ETORKI", 5.0, 50.0),
]
EXPECTED_REJECTS = {
    "null_key": 2,
    "unknown_sales_org": 1,
    "unknown_material": 1,
    "unknown_customer": 2,
    "negative_quantity": 2,
    "duplicate_order_line": 2,
}
ORDERED = "SELECT * FROM gold.sales_data_for_forecast ORDER BY ALL"


def write_sources(con, tables=None):
    for table, rows in (tables or {**DIMENSIONS, "fact_sales_orders": FACTS}).items():
        columns = SOURCE_TABLES[table]
        con.execute(create_table_sql(SILVER, table, columns))
        marks = ", ".join("?" for _ in columns)
        con.executemany(f"INSERT INTO {SILVER}.{table} VALUES ({marks})", rows)


@pytest.fixture
def con(tmp_path):
    with open_warehouse(tmp_path / "w.duckdb") as con:
        write_sources(con)
        yield con


def test_known_totals_and_every_reject_reason(con):
    summary = run_prep(con)

    assert not summary.skipped
    assert sorted(summary.changed_tables) == sorted(SOURCE_TABLES)
    assert summary.source_rows["fact_sales_orders"] == len(FACTS)
    assert con.execute(ORDERED).fetchall() == EXPECTED_ROWS
    assert summary.output_rows == len(EXPECTED_ROWS)
    assert summary.rejects == EXPECTED_REJECTS
    assert set(summary.rejects) == set(REJECT_REASONS)
    zcd4 = con.execute("SELECT count(*) FROM gold.prep_rejects WHERE row_json LIKE '%\"C2\"%'")
    assert zcd4.fetchone() == (1,)  # only the negative-quantity ZCD4 row is a reject


def test_rejects_keep_the_source_row(con):
    run_prep(con)
    rows = con.execute(
        "SELECT source_table, reason, order_id, order_line, row_json FROM gold.prep_rejects "
        "WHERE order_id = 'O7'"
    ).fetchall()
    assert [row[:4] for row in rows] == [
        ("fact_sales_orders", "duplicate_order_line", "O7", 1),
        ("fact_sales_orders", "duplicate_order_line", "O7", 1),
    ]
    copies = sorted(json.loads(row[4])["quantity"] for row in rows)
    assert copies == [4.0, 9.0]  # the first-ranked copy (quantity 4) is the one kept
    assert json.loads(rows[0][4])["order_date"] == "2024-01-03"


def test_portable_statements_give_what_run_prep_wrote(con):
    run_prep(con)
    assert con.execute(f"SELECT * FROM ({prep_sql()}) ORDER BY ALL").fetchall() == (
        con.execute(ORDERED).fetchall()
    )
    rejects = "SELECT * FROM gold.prep_rejects ORDER BY ALL"
    assert con.execute(f"SELECT * FROM ({rejects_sql()}) ORDER BY ALL").fetchall() == (
        con.execute(rejects).fetchall()
    )


def test_second_run_is_a_no_op(con):
    run_prep(con)
    summary = run_prep(con)
    assert summary.skipped
    assert summary.changed_tables == []
    assert sorted(summary.unchanged_tables) == sorted(SOURCE_TABLES)
    assert summary.output_rows == len(EXPECTED_ROWS)
    assert summary.rejects == EXPECTED_REJECTS
    assert summary.describe().startswith("prep skipped: sources unchanged")


def test_rerun_after_a_change(con):
    run_prep(con)
    con.execute(
        f"INSERT INTO {SILVER}.fact_sales_orders VALUES "
        "('O10', 1, DATE '2024-01-02', 'C1', 'M2', 'ES01', 2.0, 20.0)"
    )
    summary = run_prep(con)
    assert not summary.skipped
    assert summary.changed_tables == ["fact_sales_orders"]
    assert con.execute(ORDERED).fetchall()[1] == (D2, "ES01", "M2", BRIE, "PRESIDENT", 5.0, 50.0)

    con.execute(f"UPDATE {SILVER}.dim_material SET brand = 'PRESIDENT FR' WHERE material_id = 'M2'")
    summary = run_prep(con)
    assert summary.changed_tables == ["dim_material"]
    assert "changed: dim_material" in summary.describe()
    assert con.execute(ORDERED).fetchall()[1][4] == "PRESIDENT FR"
    assert run_prep(con).skipped


def test_new_prep_logic_reruns_once(con, monkeypatch):
    run_prep(con)
    monkeypatch.setattr("pipeline.prep._logic", lambda: "a newer prep SQL")
    assert sorted(run_prep(con).changed_tables) == sorted(SOURCE_TABLES)
    assert run_prep(con).skipped


def test_force_and_missing_outputs_rebuild(con):
    run_prep(con)
    assert not run_prep(con, force=True).skipped
    con.execute(f"DROP TABLE {GOLD}.prep_rejects")
    summary = run_prep(con)
    assert not summary.skipped
    assert summary.rejects == EXPECTED_REJECTS


def test_progress_is_reported(con):
    with Progress(disable=True) as progress:
        run_prep(con, progress=progress)
    assert all(task.finished for task in progress.tasks)


def test_missing_table(con):
    con.execute(f"DROP TABLE {SILVER}.dim_customer")
    with pytest.raises(
        SalesgenieError,
        match=r"^missing table prd_sales\.silver\.dim_customer: "
        r"run salesgenie pipeline generate or pipeline load$",
    ):
        run_prep(con)


def test_missing_column(con):
    con.execute(f"ALTER TABLE {SILVER}.fact_sales_orders DROP COLUMN quantity")
    with pytest.raises(
        SalesgenieError, match=r"^missing column prd_sales\.silver\.fact_sales_orders\.quantity: "
    ):
        run_prep(con)


def test_empty_fact_table(con):
    con.execute(f"DELETE FROM {SILVER}.fact_sales_orders")
    with pytest.raises(SalesgenieError, match=r"fact_sales_orders is empty: nothing to prep"):
        run_prep(con)


def test_no_usable_row_keeps_previous_outputs(con):
    run_prep(con)
    before = con.execute(ORDERED).fetchall()
    kept = "order_id IN ('O2', 'O6', 'O9')"  # intra-group, negative, both
    con.execute(f"DELETE FROM {SILVER}.fact_sales_orders WHERE {kept} IS NOT TRUE")
    with pytest.raises(
        SalesgenieError,
        match=r"^no usable row in prd_sales\.silver\.fact_sales_orders: 2 rejects "
        r"\(negative_quantity 2\), 1 intra-group \(ZCD4\) rows; previous outputs kept$",
    ):
        run_prep(con)
    assert con.execute(ORDERED).fetchall() == before


def test_repeated_dimension_key_is_refused(con):
    con.execute(f"INSERT INTO {SILVER}.dim_material VALUES ('M1', 'ETORKI 2', 'ETORKI', 'x')")
    with pytest.raises(SalesgenieError, match=r"dim_material has material_id 'M1' more than once"):
        run_prep(con)


def test_failed_run_keeps_previous_outputs_and_fingerprints(con):
    run_prep(con)
    before = con.execute(ORDERED).fetchall()
    con.execute(f"ALTER TABLE {SILVER}.fact_sales_orders ALTER quantity TYPE VARCHAR")
    con.execute(
        f"INSERT INTO {SILVER}.fact_sales_orders VALUES "
        "('O11', 1, DATE '2024-01-02', 'C1', 'M2', 'ES01', 'lots', 20.0)"
    )
    with pytest.raises(SalesgenieError, match=r"^prep failed, previous outputs kept: "):
        run_prep(con)
    assert con.execute(ORDERED).fetchall() == before
    assert not con.execute("SELECT * FROM duckdb_tables() WHERE temporary").fetchall()
    write_sources(con, {"fact_sales_orders": FACTS})
    assert run_prep(con).skipped  # the failed run recorded no fingerprint


@pytest.mark.parametrize("name, render", [("prep", prep_sql), ("rejects", rejects_sql)])
@pytest.mark.parametrize("dialect", ["databricks", "duckdb"])
def test_snapshot(name, render, dialect):
    sql = render(dialect) + "\n"
    assert len(sqlglot.parse(sql, read=dialect)) == 1
    golden = SNAPSHOTS / f"{name}_{dialect}.sql"
    if os.environ.get("SALESGENIE_UPDATE_SNAPSHOTS"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(sql)
    assert golden.exists(), f"{golden} missing: run with SALESGENIE_UPDATE_SNAPSHOTS=1"
    assert sql == golden.read_text()
