"""The demo generator: contract shape, determinism and the data features prep and training need."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from rich.console import Console
from rich.progress import Progress

from pipeline.contract import SOURCE_TABLES, ZCD4_GROUP
from pipeline.generate import BAD_ROW_RATE, FLAGSHIP, MIN_BAD_ROWS, build_sources, generate
from pipeline.prep import REJECT_REASONS, run_prep
from pipeline.warehouse import open_warehouse
from salesgenie.errors import SalesgenieError

SCALE = 0.05  # ~32 k order lines: a second per generation
SEED = 7
# The good order lines: the fact rows less the bad ones the generator adds (exact copies included).
GOOD_LINES = """(
    SELECT DISTINCT f.* FROM silver.fact_sales_orders f
    SEMI JOIN silver.dim_customer USING (customer_id)
    SEMI JOIN silver.dim_material USING (material_id)
    SEMI JOIN silver.dim_sales_org USING (sales_org)
    WHERE f.quantity >= 0)"""
GOLD_ROWS = """
    SELECT date, sales_org, material_id, product, brand, quantity, round(net_value, 6)
    FROM gold.sales_data_for_forecast ORDER BY ALL"""


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    with open_warehouse(tmp_path_factory.mktemp("gen") / "w.duckdb") as con:
        generate(con, scale=SCALE, seed=SEED)
        yield con


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def _checksums(path: Path, seed: int) -> dict[str, int]:
    with open_warehouse(path) as con:
        generate(con, scale=SCALE, seed=seed)
        return {
            table: _one(con, f"SELECT sum(hash(columns(*))::HUGEINT) FROM silver.{table}")
            for table in SOURCE_TABLES
        }


def test_tables_match_the_contract(warehouse: duckdb.DuckDBPyConnection) -> None:
    for table, columns in SOURCE_TABLES.items():
        found = warehouse.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = 'prd_sales' AND table_schema = 'silver' AND table_name = ? "
            "ORDER BY ordinal_position",
            [table],
        ).fetchall()
        assert found == list(columns.items()), table
    staging = "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '%staging%'"
    assert _one(warehouse, staging) == 0


def test_returns_row_counts(tmp_path: Path) -> None:
    with open_warehouse(tmp_path / "w.duckdb") as con:
        counts = generate(con, scale=0.01, seed=SEED)
        assert counts == {
            table: _one(con, f"SELECT count(*) FROM silver.{table}") for table in SOURCE_TABLES
        }
    assert counts["dim_sales_org"] == 5
    assert counts["fact_sales_orders"] > 1000


def test_same_seed_same_data_and_other_seed_differs(tmp_path: Path) -> None:
    first = _checksums(tmp_path / "a.duckdb", SEED)
    assert _checksums(tmp_path / "b.duckdb", SEED) == first
    other = _checksums(tmp_path / "c.duckdb", SEED + 1)
    assert other["fact_sales_orders"] != first["fact_sales_orders"]
    assert other["dim_material"] == first["dim_material"]  # the catalogue is fixed


def test_scale_multiplies_order_lines() -> None:
    small, large = build_sources(0.02, SEED), build_sources(0.08, SEED)
    ratio = len(large["fact_sales_orders"]) / len(small["fact_sales_orders"])
    assert 3.6 < ratio < 4.4
    assert len(large["dim_customer"]) > len(small["dim_customer"])


def test_flagship_sells_in_fr01_every_month(warehouse: duckdb.DuckDBPyConnection) -> None:
    material_id, brand = warehouse.execute(
        "SELECT material_id, brand FROM silver.dim_material WHERE material_description = ?",
        [FLAGSHIP],
    ).fetchone() or (None, None)
    assert brand == "ETORKI"
    months = f"""
        SELECT count(DISTINCT date_trunc('month', order_date)) FROM silver.fact_sales_orders
        WHERE material_id = '{material_id}' AND sales_org = 'FR01'
          AND order_date >= DATE '2023-01-01' AND order_date < DATE '2025-09-01'"""
    assert _one(warehouse, months) == 32  # 2023-01 .. 2025-08
    assert _one(warehouse, "SELECT count(*) FROM silver.dim_material WHERE brand = 'ETORKI'") > 3


def test_catalogue_looks_real(warehouse: duckdb.DuckDBPyConnection) -> None:
    rows = warehouse.execute(
        "SELECT material_id, material_description, brand, category FROM silver.dim_material"
    ).fetchall()
    assert 120 <= len(rows) <= 200
    assert len({brand for _, _, brand, _ in rows}) >= 12
    assert {category for *_, category in rows} >= {"cheese", "butter", "cream", "milk", "yogurt"}
    for material_id, description, brand, _ in rows:
        assert material_id.isdigit() and len(material_id) == 6
        assert description.startswith(brand + " ")
        assert description.split()[-2].startswith("X")  # pack count, then country


def test_sales_orgs_fr01_first(warehouse: duckdb.DuckDBPyConnection) -> None:
    orgs = warehouse.execute("SELECT * FROM silver.dim_sales_org ORDER BY rowid").fetchall()
    assert [org[0] for org in orgs] == ["FR01", "ES01", "IT01", "BE01", "DE01"]
    assert orgs[0] == ("FR01", "France", "FR", "EUR")


def test_zcd4_customers_about_five_percent(warehouse: duckdb.DuckDBPyConnection) -> None:
    share = f"SELECT avg((customer_group = '{ZCD4_GROUP}')::INT) FROM silver.dim_customer"
    assert 0.04 <= _one(warehouse, share) <= 0.06
    groups = warehouse.execute("SELECT DISTINCT customer_group FROM silver.dim_customer")
    assert {g for (g,) in groups.fetchall()} > {f"Z{i:03d}" for i in range(1, 11)}
    zcd4_lines = f"""
        SELECT count(*) FROM silver.fact_sales_orders JOIN silver.dim_customer USING (customer_id)
        WHERE customer_group = '{ZCD4_GROUP}'"""
    assert _one(warehouse, zcd4_lines) > 0


def test_dates_cover_the_history(warehouse: duckdb.DuckDBPyConnection) -> None:
    first, last = warehouse.execute(
        "SELECT min(order_date), max(order_date) FROM silver.fact_sales_orders"
    ).fetchone() or (None, None)
    assert first == date(2023, 1, 2)
    assert date(2025, 8, 25) <= last <= date(2025, 8, 31)


def test_launched_and_delisted_series(warehouse: duckdb.DuckDBPyConnection) -> None:
    launched, max_weeks, delisted = warehouse.execute(f"""
        WITH series AS (
            SELECT sales_org, material_id, min(order_date) AS first, max(order_date) AS last,
                   count(DISTINCT date_trunc('week', order_date)) AS weeks
            FROM {GOOD_LINES} GROUP BY ALL)
        SELECT count(*) FILTER (first >= DATE '2025-06-01'),
               max(weeks) FILTER (first >= DATE '2025-06-01'),
               count(*) FILTER (last < DATE '2025-03-01')
        FROM series""").fetchone() or (0, 0, 0)
    assert launched >= 2
    assert max_weeks < 12
    assert delisted >= 2


def test_not_every_material_in_every_org(warehouse: duckdb.DuckDBPyConnection) -> None:
    per_org = f"SELECT sales_org, count(DISTINCT material_id) FROM {GOOD_LINES} GROUP BY 1"
    per_org = dict(warehouse.execute(per_org).fetchall())
    n_materials = _one(warehouse, "SELECT count(*) FROM silver.dim_material")
    assert set(per_org) == {"FR01", "ES01", "IT01", "BE01", "DE01"}
    assert max(per_org, key=per_org.__getitem__) == "FR01"
    assert all(count < n_materials for count in per_org.values())
    assert 250 <= sum(per_org.values()) <= 500


def test_order_lines_are_consistent(warehouse: duckdb.DuckDBPyConnection) -> None:
    not_positive = f"SELECT count(*) FROM {GOOD_LINES} WHERE NOT (quantity > 0 AND net_value > 0)"
    assert _one(warehouse, not_positive) == 0
    # order_line runs 1..n within an order, and an order has one customer, date and org
    inconsistent = f"""
        SELECT count(*) FROM (
            SELECT order_id FROM {GOOD_LINES} GROUP BY order_id
            HAVING max(order_line) <> count(*) OR count(DISTINCT order_line) <> count(*)
                OR count(DISTINCT (customer_id, order_date, sales_org)) <> 1)"""
    assert _one(warehouse, inconsistent) == 0


def _bad_rows_per_kind(con: duckdb.DuckDBPyConnection) -> int:
    """How many bad rows of each kind the generator adds to these good lines."""
    return max(MIN_BAD_ROWS, round(BAD_ROW_RATE * _one(con, f"SELECT count(*) FROM {GOOD_LINES}")))


def test_a_few_bad_rows_of_every_kind(warehouse: duckdb.DuckDBPyConnection) -> None:
    per_kind = _bad_rows_per_kind(warehouse)
    kinds = warehouse.execute("""
        SELECT count(*) FILTER (customer_id IS NULL),
               count(*) FILTER (customer_id NOT IN (SELECT customer_id FROM silver.dim_customer)),
               count(*) FILTER (material_id NOT IN (SELECT material_id FROM silver.dim_material)),
               count(*) FILTER (sales_org NOT IN (SELECT sales_org FROM silver.dim_sales_org)),
               count(*) FILTER (quantity < 0 AND net_value < 0),
               count(*) - count(DISTINCT (order_id, order_line)),
               count(*) - (SELECT count(*) FROM (SELECT DISTINCT * FROM silver.fact_sales_orders))
        FROM silver.fact_sales_orders""").fetchone()
    assert kinds == (per_kind,) * 7  # the last two: every repeated order line is an exact copy
    total = _one(warehouse, "SELECT count(*) FROM silver.fact_sales_orders")
    good = _one(warehouse, f"SELECT count(*) FROM {GOOD_LINES}")
    assert total == good + 6 * per_kind


def test_prep_rejects_exactly_the_bad_rows(tmp_path: Path) -> None:
    with open_warehouse(tmp_path / "w.duckdb") as con:
        generate(con, scale=SCALE, seed=SEED)
        summary = run_prep(con)
        assert summary.rejects == dict.fromkeys(REJECT_REASONS, _bad_rows_per_kind(con))
        # every source row is in the gold table, left out as intra-group, or rejected
        not_zcd4 = f"customer_group IS DISTINCT FROM '{ZCD4_GROUP}'"
        row = con.execute(f"""
            SELECT count(*) FILTER ({not_zcd4}), sum(quantity) FILTER ({not_zcd4}),
                   count(*) FILTER (NOT ({not_zcd4}))
            FROM {GOOD_LINES} JOIN silver.dim_customer USING (customer_id)""").fetchone()
        assert row is not None
        used, used_quantity, intra_group = row
        assert intra_group > 0
        rejected = sum(summary.rejects.values())
        assert summary.source_rows["fact_sales_orders"] == used + intra_group + rejected
        assert _one(con, "SELECT sum(quantity) FROM gold.sales_data_for_forecast") == used_quantity
        rejected_quantity = "SELECT sum((row_json->>'quantity')::DOUBLE) FROM gold.prep_rejects"
        assert _one(con, "SELECT sum(quantity) FROM silver.fact_sales_orders") == (
            _one(con, f"SELECT sum(quantity) FROM {GOOD_LINES}") + _one(con, rejected_quantity)
        )
        # the good rows alone give the same gold table (the ETORKI FR01 series included)
        gold = con.execute(GOLD_ROWS).fetchall()
        con.execute(f"CREATE OR REPLACE TABLE silver.fact_sales_orders AS FROM {GOOD_LINES}")
        assert run_prep(con).rejects == {}
        assert con.execute(GOLD_ROWS).fetchall() == gold
        assert any(product == FLAGSHIP and org == "FR01" for _, org, _, product, *_ in gold)


def test_progress_is_reported(tmp_path: Path) -> None:
    progress = Progress(console=Console(file=io.StringIO()))
    with open_warehouse(tmp_path / "w.duckdb") as con, progress:
        generate(con, scale=0.01, seed=SEED, progress=progress)
    (task,) = progress.tasks
    assert task.finished


@pytest.mark.parametrize("scale", [0, -1, float("nan"), 1000])
def test_bad_scale_is_a_clear_error(scale: float) -> None:
    with pytest.raises(SalesgenieError, match="scale"):
        build_sources(scale, SEED)
