"""Watch: a source change between polls triggers the callback once; no lock held between polls."""

from contextlib import contextmanager
from datetime import date

from pipeline.contract import SILVER, SOURCE_TABLES, create_table_sql
from pipeline.prep import run_prep
from pipeline.warehouse import open_warehouse
from pipeline.watch import watch

ROWS = {
    "dim_sales_org": [("FR01", "France", "FR", "EUR")],
    "dim_material": [("M1", "ETORKI PORT 250G FAMILIAL X8 FR", "ETORKI", "cheese")],
    "dim_customer": [("C1", "Carrefour", "Z001", "FR")],
    "fact_sales_orders": [("O1", 1, date(2024, 1, 1), "C1", "M1", "FR01", 10.0, 100.0)],
}
NEW_LINE = "INSERT INTO silver.fact_sales_orders VALUES ('O2', 1, DATE '2024-01-02', 'C1', 'M1', "
NEW_LINE += "'FR01', 3.0, 30.0)"


def write_sources(path):
    with open_warehouse(path) as con:
        for table, rows in ROWS.items():
            columns = SOURCE_TABLES[table]
            con.execute(create_table_sql(SILVER, table, columns))
            marks = ", ".join("?" for _ in columns)
            con.executemany(f"INSERT INTO {SILVER}.{table} VALUES ({marks})", rows)


def opener(path, before_poll):
    """open_warehouse, running `before_poll(n)` first: it opens the file while watch holds none."""
    polls = 0

    @contextmanager
    def open_connection():
        nonlocal polls
        polls += 1
        before_poll(polls)
        with open_warehouse(path) as con:
            yield con

    return open_connection


def prep(path):
    with open_warehouse(path) as con:
        return run_prep(con)


def test_change_between_polls_triggers_once(tmp_path):
    path = tmp_path / "w.duckdb"
    write_sources(path)
    prep(path)
    summaries = []

    def mutate(poll):
        if poll == 3:
            with open_warehouse(path) as con:
                con.execute(NEW_LINE)

    watch(
        lambda: summaries.append(prep(path)),
        interval=0.01,
        max_polls=5,
        open_connection=opener(path, mutate),
    )

    assert len(summaries) == 1
    assert summaries[0].changed_tables == ["fact_sales_orders"]
    assert summaries[0].output_rows == 2


def test_sources_never_prepped_trigger_at_first_poll(tmp_path):
    path = tmp_path / "w.duckdb"
    write_sources(path)
    calls = []
    watch(
        lambda: calls.append(prep(path)),
        interval=0.01,
        max_polls=3,
        open_connection=opener(path, lambda poll: None),
    )
    assert [summary.skipped for summary in calls] == [False]


def test_missing_sources_are_reported_then_picked_up(tmp_path):
    path = tmp_path / "w.duckdb"
    errors, calls = [], []

    def create_at_third_poll(poll):
        if poll == 3:
            write_sources(path)

    watch(
        lambda: calls.append(1),
        interval=0.01,
        max_polls=4,
        open_connection=opener(path, create_at_third_poll),
        on_error=errors.append,
    )
    assert [str(error) for error in errors] == [
        "missing table prd_sales.silver.dim_customer: "
        "run salesgenie pipeline generate or pipeline load"
    ] * 2
    assert len(calls) == 1


def test_failing_callback_is_reported_once_and_watching_goes_on(tmp_path):
    path = tmp_path / "w.duckdb"
    write_sources(path)
    with open_warehouse(path) as con:
        con.execute("DELETE FROM silver.fact_sales_orders")
    errors = []
    watch(
        lambda: prep(path),
        interval=0.01,
        max_polls=3,
        open_connection=opener(path, lambda poll: None),
        on_error=errors.append,
    )
    assert [str(error) for error in errors] == [
        "prd_sales.silver.fact_sales_orders is empty: nothing to prep "
        "(run salesgenie pipeline generate or pipeline load)"
    ]
