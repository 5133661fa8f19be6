"""Prep at 10 M fact rows: our run (reject classification + aggregation) vs a hand-written query.

Builds a star schema in a temporary DuckDB file: 5 sales orgs x 80 materials over 970 days,
20 000 customers (5 % ZCD4), and a fact table with about 0.1 % bad rows of each kind prep rejects
(null keys, unknown ids, negative quantities, duplicate order lines). `--generate SCALE` uses the
demo generator instead (scale 16 ≈ 10 M lines; slower to build). Then times, best of `--repeat`:

- fingerprints: `source_fingerprints`, what every run and every watch poll pays;
- no-op run: `run_prep` when nothing changed;
- ours: `run_prep(force=True)` minus the fingerprints (classify, aggregate, write both tables);
- hand-written: the same joins, ZCD4 filter and aggregation in plain DuckDB SQL, no rejects,
  written to a table too.

    .venv/bin/python benchmarks/prep_10m.py [--rows 10000000] [--repeat 3] [--generate SCALE]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from rich.console import Console
from rich.table import Table

from pipeline.contract import SILVER, SOURCE_TABLES, create_table_sql
from pipeline.prep import run_prep, source_fingerprints
from pipeline.warehouse import open_warehouse

HAND_WRITTEN = """
CREATE OR REPLACE TABLE gold.hand_written AS
SELECT f.order_date AS date, f.sales_org, f.material_id, m.material_description AS product,
       m.brand, sum(f.quantity) AS quantity, sum(f.net_value) AS net_value
FROM silver.fact_sales_orders AS f
JOIN silver.dim_customer AS c ON f.customer_id = c.customer_id
JOIN silver.dim_material AS m ON f.material_id = m.material_id
JOIN silver.dim_sales_org AS o ON f.sales_org = o.sales_org
WHERE c.customer_group <> 'ZCD4'
GROUP BY ALL
"""

# Synthetic sources, vectorised in DuckDB. Every 1 000th fact row is spoiled, cycling through
# the reject reasons; a duplicate is a copy of the previous row's order line.
DIMENSIONS = {
    "dim_sales_org": "SELECT 'ORG' || i, 'org ' || i, 'FR', 'EUR' FROM range(5) t(i)",
    "dim_material": "SELECT 'M' || i, 'PRODUCT ' || i || ' 250G X8', 'BRAND' || (i % 12), "
    "'cheese' FROM range(80) t(i)",
    "dim_customer": "SELECT 'C' || i, 'customer ' || i, "
    "CASE WHEN i % 20 = 0 THEN 'ZCD4' ELSE 'Z001' END, 'FR' FROM range(20000) t(i)",
}
FACT = """
SELECT
  CASE WHEN bad = 1 THEN NULL ELSE 'O' || (line_no // 4) END,
  CASE WHEN bad = 6 THEN (line_no - 1) % 4 ELSE line_no % 4 END,
  DATE '2023-01-02' + (hash(line_no) % 970)::INTEGER,
  CASE WHEN bad = 2 THEN 'C-unknown' ELSE 'C' || (hash(line_no, 1) % 20000) END,
  CASE WHEN bad = 3 THEN 'M-unknown' ELSE 'M' || (hash(line_no, 2) % 80) END,
  CASE WHEN bad = 4 THEN 'ORG-unknown' ELSE 'ORG' || (hash(line_no, 3) % 5) END,
  CASE WHEN bad = 5 THEN -1 ELSE 1 + hash(line_no, 4) % 24 END,
  (hash(line_no, 5) % 50000) / 100
FROM (
  SELECT i AS line_no, CASE WHEN i % 1000 = 999 THEN 1 + (i // 1000) % 6 ELSE 0 END AS bad
  FROM range(?) t(i)
)
"""


def build_synthetic(con: duckdb.DuckDBPyConnection, rows: int) -> None:
    for table, query in DIMENSIONS.items():
        con.execute(create_table_sql(SILVER, table, SOURCE_TABLES[table]))
        con.execute(f"INSERT INTO {SILVER}.{table} {query}")
    con.execute(create_table_sql(SILVER, "fact_sales_orders", SOURCE_TABLES["fact_sales_orders"]))
    con.execute(f"INSERT INTO {SILVER}.fact_sales_orders {FACT}", [rows])
    con.execute("CHECKPOINT")


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="synthetic fact rows")
    parser.add_argument("--repeat", type=int, default=3, help="timings keep the best of n")
    parser.add_argument("--generate", type=float, metavar="SCALE", help="use the demo generator")
    args = parser.parse_args()
    console = Console()

    with tempfile.TemporaryDirectory() as tmp, open_warehouse(Path(tmp) / "w.duckdb") as con:
        started = time.perf_counter()
        if args.generate:
            from pipeline.generate import generate

            generate(con, scale=args.generate, seed=42)
        else:
            build_synthetic(con, args.rows)
        console.print(f"sources built in {time.perf_counter() - started:.1f}s")

        fingerprints = best_of(args.repeat, lambda: source_fingerprints(con))
        ours_total = best_of(args.repeat, lambda: run_prep(con, force=True))
        no_op = best_of(args.repeat, lambda: run_prep(con))
        hand = best_of(args.repeat, lambda: con.execute(HAND_WRITTEN))
        summary = run_prep(con)
        (hand_rows,) = con.execute("SELECT count(*) FROM gold.hand_written").fetchone()

    ours = ours_total - fingerprints
    fact_rows = summary.source_rows["fact_sales_orders"]
    table = Table(title=f"prep on {fact_rows:,} fact rows (best of {args.repeat})")
    for column in ("step", "wall time s", "output rows", "vs hand-written"):
        table.add_column(column, justify="right")
    table.add_row("fingerprints (4 tables)", f"{fingerprints:.2f}", "", "")
    table.add_row("run_prep, nothing changed", f"{no_op:.2f}", "", "")
    table.add_row(
        "run_prep(force=True)",
        f"{ours_total:.2f}",
        f"{summary.output_rows:,}",
        f"{ours_total / hand:.2f}×",
    )
    table.add_row("  ours without fingerprints", f"{ours:.2f}", "", f"{ours / hand:.2f}×")
    table.add_row("hand-written, no rejects", f"{hand:.2f}", f"{hand_rows:,}", "1.00×")
    console.print(table)
    rejects = ", ".join(f"{reason} {count:,}" for reason, count in summary.rejects.items())
    console.print(f"rejects: {rejects or 'none'}")


if __name__ == "__main__":
    main()
