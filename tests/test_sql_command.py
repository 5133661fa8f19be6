"""`salesgenie sql`: the real console script against the demo warehouse, guard and limits on."""

import json
from pathlib import Path

import pytest
from console_script import CONTRACT_KEYS, run_salesgenie


def _sql(workdir: Path, query: str, *extra: str, env: dict | None = None):
    return run_salesgenie("sql", query, *extra, cwd=workdir, set_env=env)


def test_json_answer_has_the_contract_shape(demo_workdir):
    done = _sql(
        demo_workdir,
        "SELECT date, type, sum(sales) AS sales FROM sales_overall GROUP BY ALL "
        "ORDER BY date DESC LIMIT 4",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert set(payload) >= CONTRACT_KEYS
    assert payload["status"] == "ok" and payload["error"] is None
    assert payload["columns"] == ["date", "type", "sales"]
    assert payload["column_types"] == ["DATE", "VARCHAR", "DOUBLE"]
    assert [row[:2] for row in payload["rows"]][:1] == [["2025-09-15", "predict"]]  # ISO dates
    assert "prd_sales.gold.sales_overall" in payload["sql"] and "LIMIT 4" in payload["sql"]


def test_copy_is_rejected_naming_the_rule_and_writes_nothing(demo_workdir, tmp_path):
    target = tmp_path / "x.csv"
    done = _sql(demo_workdir, f"COPY (SELECT 1) TO '{target}'")
    assert done.returncode == 2
    assert "no_dml" in done.stderr and "Traceback" not in done.stderr
    assert not target.exists()


def test_unknown_column_is_rejected_by_name(demo_workdir):
    done = _sql(demo_workdir, "SELECT revenue FROM sales_overall", "--json")
    payload = json.loads(done.stdout)
    assert done.returncode == 2 and payload["status"] == "rejected"
    assert "revenue" in payload["error"]


@pytest.mark.parametrize(
    "query", ["SELECT * FROM prd_sales.silver.fact_sales_orders", "SELECT getenv('HOME')"]
)
def test_outside_the_semantic_layer_is_rejected(demo_workdir, query):
    done = _sql(demo_workdir, query, "--json")
    assert done.returncode == 2 and json.loads(done.stdout)["status"] == "rejected"


def test_slow_query_is_cancelled_at_the_time_limit(demo_workdir):
    slow = (
        "SELECT count(*) FROM sales_overall a, sales_overall b, sales_overall c, sales_overall d "
        "WHERE a.sales + b.sales > c.sales + d.sales"
    )
    done = _sql(demo_workdir, slow, "--json", env={"SALESGENIE_QUERY_TIMEOUT": "0.5"})
    payload = json.loads(done.stdout)
    assert done.returncode == 1 and payload["status"] == "error"
    assert "time limit" in payload["error"]


def test_people_get_the_sql_a_table_and_a_count(demo_workdir):
    done = _sql(demo_workdir, "SELECT DISTINCT brand FROM mapping_timeseries_id_product")
    assert done.returncode == 0
    assert "ETORKI" in done.stdout and "1 rows" in done.stdout
