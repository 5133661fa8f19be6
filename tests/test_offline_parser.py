"""The offline backend: question → QuerySpec → SQL → rows, table-driven.

Two warehouses: the session's demo warehouse (only ETORKI PORT 250G FAMILIAL X8 FR published:
the seed question) and, for everything else, a copy of it with the whole catalogue trained with
two fast baselines (~10 s). Every SQL the parser writes must pass the guard in both dialects
and run on DuckDB.

The renderer's SQL for one spec of each kind is a golden file per dialect under
tests/snapshots/agent/. After an intended change, regenerate and review the diff:

    SALESGENIE_UPDATE_SNAPSHOTS=1 .venv/bin/pytest tests/test_offline_parser.py -k snapshot
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.offline import OfflineBackend, describe
from agent.plan import Clarification, SqlPlan, Turn, Unanswerable
from agent.spec import Filter, Order, QuerySpec, TimeRange
from agent.sql_render import render_sql
from salesgenie.warehouses import DuckDBWarehouse
from semantic_layer.guard import check_sql
from semantic_layer.model import SemanticModel, load_semantic_model

SNAPSHOTS = Path(__file__).parent / "snapshots" / "agent"
SEED = (
    "Please show a graphic with sales for product Etorki and the prediction from the model, on a "
    "line plot. Please differentiate colors for train (actual) and predict."
)
ETORKI = "ETORKI PORT 250G FAMILIAL X8 FR"


@pytest.fixture(scope="module")
def model() -> SemanticModel:
    return load_semantic_model()


@pytest.fixture(scope="module")
def demo(demo_warehouse: Path, model: SemanticModel) -> Any:
    with DuckDBWarehouse(demo_warehouse) as warehouse:
        yield OfflineBackend(model, warehouse), warehouse


@pytest.fixture(scope="module")
def catalogue(
    demo_workdir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    model: SemanticModel,
    run_pipeline: Any,
) -> Any:
    """The demo sources with every series trained (two baselines, two backtest windows)."""
    path = tmp_path_factory.mktemp("catalogue")
    shutil.copytree(demo_workdir / "data", path / "data")
    models = "StatsForecastBaselineNaive,StatsForecastBaselineWindowAverage"
    run_pipeline(
        path,
        [
            ["pipeline", "train", "--models", models, "--backtest-windows", "2"],
            ["pipeline", "publish"],
        ],
    )
    with DuckDBWarehouse(path / "data" / "prd_sales.duckdb") as warehouse:
        yield OfflineBackend(model, warehouse), warehouse


def run(plan: SqlPlan, warehouse: DuckDBWarehouse, model: SemanticModel) -> Any:
    """Guard in both dialects (the plan's SQL is DuckDB), then execute on DuckDB."""
    allowed = model.allowed_columns()
    check_sql(plan.sql, allowed, dialect="databricks")
    return warehouse.execute(check_sql(plan.sql, allowed).sql)


# -- the seed question ---------------------------------------------------------------------------


def test_seed_question_verbatim(demo: Any, model: SemanticModel) -> None:
    backend, warehouse = demo
    plan = backend.plan(SEED, [])
    assert isinstance(plan, SqlPlan)
    assert "JOIN prd_sales.gold.mapping_timeseries_id_product" in plan.sql
    assert "FROM prd_sales.gold.sales_overall" in plan.sql
    assert plan.spec.filters == [Filter(field="product", values=[ETORKI])]
    assert plan.confidence == 1.0
    assert any(a == "latest actual week: 2025-08-25" for a in plan.assumptions)
    assert any("only published ETORKI product" in a for a in plan.assumptions)
    result = run(plan, warehouse, model)
    assert result.columns == ["date", "type", "sales", "sales_lower", "sales_upper"]
    types = [row[1] for row in result.rows]
    assert {"train", "predict"} == set(types)
    assert types.index("predict") == types.count("train")  # ordered by date: train, then predict
    chart = plan.chart
    assert (chart.kind, chart.x, chart.y, chart.color) == ("line", "date", "sales", "type")
    assert chart.dashed == ["predict"] and chart.band == ("sales_lower", "sales_upper")
    sentence = backend.describe(plan, result.columns, result.rows)
    assert sentence.startswith(f"{ETORKI} (product), all sales orgs: 87 actual weeks 2024-01-01")
    assert "then a forecast of" in sentence and "2025-09-01 … 2025-09-15" in sentence


def test_seed_question_on_the_catalogue_is_the_brand(catalogue: Any, model: SemanticModel) -> None:
    """Several ETORKI products published: 'product Etorki' is the brand, and it says so."""
    backend, warehouse = catalogue
    plan = backend.plan(SEED, [])
    assert isinstance(plan, SqlPlan)
    assert plan.spec.filters == [Filter(field="brand", values=["ETORKI"])]
    assert any("read as the brand ETORKI" in a for a in plan.assumptions)
    assert {row[1] for row in run(plan, warehouse, model).rows} == {"train", "predict"}


# -- the question families, table-driven ----------------------------------------------------------

# question → expected status, spec fields (subset), SQL fragments; "rows": False allows none.
CASES: list[dict[str, Any]] = [
    # series and forecast
    dict(
        q="sales of etorki port 1kg", kind="series", filters={"product": ["ETORKI PORT 1KG X4 FR"]}
    ),
    dict(
        q="Sales of Étorki Port 250g familial in France",
        kind="series",
        filters={"product": [ETORKI], "sales_org": ["FR01"]},
    ),
    dict(
        q="show me SALES for lactel in germany",
        kind="series",
        filters={"brand": ["LACTEL"], "sales_org": ["DE01"]},
    ),
    dict(q="plot everything", kind="series", filters={}),
    dict(
        q="What is the forecast for the next 3 weeks by product?",
        kind="forecast",
        dimensions=["product"],
        sql=["o.type = 'predict'", "m.product"],
    ),
    dict(
        q="forecast for etorky next 2 weeks",
        kind="forecast",
        filters={"brand": ["ETORKI"]},
        assumption="read 'etorky' as 'etorki'",
    ),
    # totals and averages
    dict(
        q="total sales of President in Q1 2025",
        kind="total",
        measures=["actual_sales"],
        filters={"brand": ["PRESIDENT"]},
        time=(date(2025, 1, 1), date(2025, 4, 1)),
    ),
    dict(
        q="average weekly sales of Lactel in the last 8 weeks",
        kind="total",
        measures=["avg_weekly_actual_sales"],
        time=(date(2025, 7, 7), date(2025, 9, 1)),
    ),
    dict(q="how many units did we sell in 2024?", kind="total", measures=["actual_sales"]),
    # top / bottom N
    dict(
        q="Which 10 products sold the most units in 2025?",
        kind="top",
        dimensions=["product"],
        limit=10,
        sql=["ORDER BY", "DESC", "LIMIT 10"],
    ),
    dict(
        q="top 3 brands by forecast",
        kind="top",
        dimensions=["brand"],
        limit=3,
        measures=["forecast_sales"],
    ),
    dict(
        q="the worst selling countries last 3 months",
        kind="top",
        dimensions=["sales_org_name"],
        sql=["ASC"],
    ),
    # breakdowns
    dict(
        q="sales by brand in March 2025",
        kind="breakdown",
        dimensions=["brand"],
        time=(date(2025, 3, 1), date(2025, 4, 1)),
    ),
    dict(
        q="What were the actual sales of each sales organisation per month?",
        kind="breakdown",
        dimensions=["sales_org", "month"],
        sql=["DATE_TRUNC('MONTH'"],
    ),
    dict(q="yearly sales of bridel", kind="breakdown", dimensions=["year"]),
    # period comparison
    dict(
        q="compare 2024 vs 2025 sales for Bridel",
        kind="compare",
        filters={"brand": ["BRIDEL"]},
        sql=["AS period"],
    ),
    # counts and lists
    dict(q="how many products does Etorki have?", kind="count", measures=["product_count"]),
    dict(q="how many series are there", kind="count", measures=["series_count"]),
    dict(q="list the brands", kind="list", dimensions=["brand"]),
    dict(
        q="which products does chavroux have",
        kind="list",
        dimensions=["product"],
        filters={"brand": ["CHAVROUX"]},
    ),
    dict(q="what models are there?", kind="list"),
    dict(q="which countries do we sell in", kind="list"),
    dict(q="which model forecasts the most series", kind="model_lookup", sql=["LIMIT 1"]),
    # which model forecasts a series
    dict(
        q=f"which model forecasts {ETORKI} in FR01?",
        kind="model_lookup",
        filters={"product": [ETORKI], "sales_org": ["FR01"]},
        sql=["o.model"],
    ),
    dict(q="How many series did each model win?", kind="model_lookup", dimensions=["model"]),
    dict(
        q="which series does naive forecast",
        kind="model_lookup",
        filters={"model": ["StatsForecastBaselineNaive"]},
    ),
    # accuracy
    dict(
        q="What is the mean backtest SMAPE of each model?",
        kind="accuracy",
        sql=["sales_weekly_evaluation_output", "AVG(CASE WHEN e.metric_name = 'smape'"],
    ),
    dict(q="which is the most accurate model?", kind="best_model", limit=1),
    dict(
        q="Which 10 series have the worst backtest SMAPE for their selected model?",
        kind="worst_series",
        limit=10,
        sql=["WITH selected AS"],
    ),
    dict(
        q="smape of auto arima for etorki",
        kind="accuracy",
        filters={"model": ["StatsForecastAutoArima"], "brand": ["ETORKI"]},
        rows=False,
    ),
    # found by the eval suite (evals/questions.yaml)
    dict(q="etorki sales + forecast", kind="series", filters={"brand": ["ETORKI"]}),
    dict(q="SALES OF ETORKI AND THE FORECAST", kind="series", filters={"brand": ["ETORKI"]}),
    dict(
        q="show the sales history of lactel",
        kind="series",
        filters={"brand": ["LACTEL"], "type": ["train"]},
    ),
    dict(q="forecast by brand", kind="forecast", dimensions=["brand"]),
    dict(q="total forecast for president next 3 weeks", kind="total", measures=["forecast_sales"]),
    dict(q="what are the 3 best selling brands in belgium", kind="top", limit=3),
    dict(
        q="average weekly sales by sales org in 2025",
        kind="breakdown",
        dimensions=["sales_org"],
        measures=["avg_weekly_actual_sales"],
    ),
    dict(q="monthly sales of galbani in 2025", kind="breakdown", sql=["o.type = 'train'"]),
    # ambiguity
    dict(
        q="Show sales of etorki port",
        status="clarification",
        candidates=["ETORKI PORT 150G X10 FR", "ETORKI PORT 250G X8 DE", ETORKI],
    ),
    dict(
        q="sales of all etorki port products",
        kind="series",
        assumption="'etorki port': all 6 matching products",
    ),
    dict(q="sales for caprice", kind="series", filters={"brand": ["CAPRICE DES DIEUX"]}),
    # outside the layer
    dict(q="What is the revenue of Etorki in euros?", status="unanswerable"),
    dict(q="which customers buy the most?", status="unanswerable"),
    dict(q="what's the weather like in Paris", status="unanswerable"),
    dict(q="hello there", status="unanswerable"),
    dict(
        q="SELECT * FROM prd_sales.gold.sales_overall",
        status="unanswerable",
        message="salesgenie sql",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c["q"][:48] for c in CASES])
def test_question_families(case: dict[str, Any], catalogue: Any, model: SemanticModel) -> None:
    backend, warehouse = catalogue
    plan = backend.plan(case["q"], [])
    status = case.get("status", "sql")
    assert plan.kind == status, getattr(plan, "message", plan)
    if isinstance(plan, Clarification):
        assert set(case["candidates"]) <= set(plan.candidates)
        return
    if isinstance(plan, Unanswerable):
        assert plan.suggestions and case.get("message", "") in plan.message
        return
    spec: QuerySpec = plan.spec
    assert spec.kind == case["kind"]
    for field, values in case.get("filters", {}).items():
        assert spec.filter_values(field) == values, spec.filters
    if "filters" in case and not case["filters"]:
        assert spec.filters == []
    for attribute in ("measures", "dimensions", "limit"):
        if attribute in case:
            assert getattr(spec, attribute) == case[attribute]
    if "time" in case:
        assert (spec.time_range.start, spec.time_range.end) == case["time"]
    for fragment in case.get("sql", []):
        assert fragment in plan.sql
    if "assumption" in case:
        assert case["assumption"] in plan.assumptions
    result = run(plan, warehouse, model)
    assert bool(result.rows) == case.get("rows", True)
    assert describe(spec, result.columns, result.rows)


def test_charts_follow_the_rules(catalogue: Any) -> None:
    backend, _ = catalogue
    top = backend.plan("top 5 brands in 2025", []).chart
    assert (top.kind, top.x, top.y) == ("bar", "brand", "actual_sales")
    monthly = backend.plan("monthly sales of each sales org", []).chart
    assert (monthly.kind, monthly.x, monthly.color) == ("line", "month", "sales_org")
    assert backend.plan("total sales in 2025", []).chart.kind == "none"
    forecast = backend.plan("forecast for lactel", []).chart
    assert forecast.kind == "line" and forecast.band == ("sales_lower", "sales_upper")
    assert forecast.y_label == "Units per week"


def test_confidence_drops_with_ignored_words(catalogue: Any) -> None:
    backend, _ = catalogue
    sure = backend.plan("sales of lactel in 2025", [])
    unsure = backend.plan("sales of lactel frobnicated zorblax quuxes", [])
    assert sure.confidence == 1.0
    assert unsure.confidence < 0.6
    assert any(a.startswith("ignored: ") for a in unsure.assumptions)


# -- time, pinned to the data's latest actual week -------------------------------------------------


def test_relative_time_uses_the_latest_actual_week(catalogue: Any) -> None:
    backend, warehouse = catalogue
    latest = warehouse.execute(
        "SELECT max(date) FROM prd_sales.gold.sales_overall WHERE type = 'train'"
    ).rows[0][0]
    assert backend.latest == latest
    after = latest + timedelta(days=7)
    expected = {
        "sales of lactel last 4 weeks": (latest - timedelta(days=21), after),
        "sales of lactel year to date": (date(latest.year, 1, 1), after),
        "sales of lactel since 2025-02-03": (date(2025, 2, 3), after),
        "sales of lactel between 2024-03-01 and 2024-05-31": (date(2024, 3, 1), date(2024, 6, 1)),
        "sales of lactel in 2025-03": (date(2025, 3, 1), date(2025, 4, 1)),
        "sales of lactel this year": (date(latest.year, 1, 1), date(latest.year + 1, 1, 1)),
        "sales of lactel last 2 months": (date(latest.year, latest.month - 1, 1), after),
        "forecast for lactel next 2 weeks": (after, after + timedelta(days=14)),
    }
    for question, (start, end) in expected.items():
        plan = backend.plan(question, [])
        assert (plan.spec.time_range.start, plan.spec.time_range.end) == (start, end), question
        assert f"latest actual week: {latest}" in plan.assumptions


# -- follow-ups ---------------------------------------------------------------------------------


def test_follow_ups_reuse_the_last_spec(catalogue: Any, model: SemanticModel) -> None:
    backend, warehouse = catalogue
    history: list[Turn] = []

    def ask(question: str) -> SqlPlan:
        plan = backend.plan(question, history)
        assert isinstance(plan, SqlPlan), plan
        run(plan, warehouse, model)
        history.append(Turn(question=question, plan=plan))
        return plan

    first = ask(SEED)
    assert first.spec.filter_values("brand") == ["ETORKI"]
    fr01 = ask("and for FR01?")
    assert fr01.spec.filter_values("brand") == ["ETORKI"]
    assert fr01.spec.filter_values("sales_org") == ["FR01"]
    assert "FR01 France" in fr01.spec.entity_label
    only = ask("only the forecast")
    assert only.spec.filter_values("type") == ["predict"]
    assert only.chart.color is None
    year = ask("same for 2024")
    assert year.spec.time_range.label == "2024" and year.spec.kind == "series"
    table = ask("as a table")
    assert table.spec.chart == "table" and table.chart.kind == "none"
    totals = backend.plan("total sales of bridel in 2025", [])
    by_month = backend.plan("by month", [Turn(question="total", plan=totals)])
    assert by_month.spec.kind == "breakdown" and by_month.spec.dimensions == ["month"]
    lactel = backend.plan("what about lactel?", [Turn(question="total", plan=totals)])
    assert lactel.spec.filter_values("brand") == ["LACTEL"]
    assert lactel.spec.time_range == totals.spec.time_range


# -- rendering ------------------------------------------------------------------------------------

Y2025 = TimeRange(start=date(2025, 1, 1), end=date(2026, 1, 1), label="2025")
ETORKI_BRAND = [Filter(field="brand", values=["ETORKI"])]
SNAPSHOT_SPECS: dict[str, QuerySpec] = {
    "series": QuerySpec(kind="series", filters=[Filter(field="product", values=[ETORKI])]),
    "forecast": QuerySpec(kind="forecast", dimensions=["product"], filters=ETORKI_BRAND),
    "total": QuerySpec(
        kind="total", measures=["actual_sales", "avg_weekly_actual_sales"], time_range=Y2025
    ),
    "top": QuerySpec(
        kind="top",
        measures=["actual_sales"],
        dimensions=["product"],
        order=[Order(by="actual_sales", desc=True)],
        limit=10,
        time_range=Y2025,
    ),
    "breakdown": QuerySpec(
        kind="breakdown", measures=["actual_sales"], dimensions=["sales_org", "month"]
    ),
    "compare": QuerySpec(
        kind="compare",
        measures=["actual_sales"],
        periods=[TimeRange(start=date(2024, 1, 1), end=date(2025, 1, 1), label="2024"), Y2025],
    ),
    "count": QuerySpec(kind="count", measures=["product_count"], filters=ETORKI_BRAND),
    "list": QuerySpec(kind="list", dimensions=["product"], filters=ETORKI_BRAND),
    "model_lookup": QuerySpec(
        kind="model_lookup", dimensions=["product", "sales_org", "model"], filters=ETORKI_BRAND
    ),
    "accuracy": QuerySpec(kind="accuracy", measures=["mean_smape"]),
    "best_model": QuerySpec(
        kind="best_model", measures=["mean_smape"], order=[Order(by="mean_smape")], limit=1
    ),
    "worst_series": QuerySpec(
        kind="worst_series",
        measures=["mean_smape"],
        order=[Order(by="mean_smape", desc=True)],
        limit=10,
    ),
}


@pytest.mark.parametrize("dialect", ["duckdb", "databricks"])
@pytest.mark.parametrize("kind", sorted(SNAPSHOT_SPECS))
def test_render_snapshot(kind: str, dialect: str, model: SemanticModel) -> None:
    sql = render_sql(SNAPSHOT_SPECS[kind], dialect)
    check_sql(sql, model.allowed_columns(), dialect=dialect, read_dialect=dialect)
    assert " AS _col_" not in check_sql(sql, model.allowed_columns(), read_dialect=dialect).sql
    golden = SNAPSHOTS / f"{kind}.{dialect}.sql"
    if os.environ.get("SALESGENIE_UPDATE_SNAPSHOTS"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(sql + "\n", encoding="utf-8")
    assert golden.exists(), f"{golden} missing: run with SALESGENIE_UPDATE_SNAPSHOTS=1"
    assert sql + "\n" == golden.read_text(encoding="utf-8")


def test_plan_is_fast(catalogue: Any) -> None:
    """Indexes are built once; a plan is a few look-ups and regexes."""
    backend, _ = catalogue
    timings = []
    for case in CASES:
        started = time.perf_counter()
        backend.plan(case["q"], [])
        timings.append((time.perf_counter() - started) * 1000)
    assert statistics.median(timings) < 25, timings
    started = time.perf_counter()
    plan = backend.plan("sales of etorki " * 700, [])  # the core caps length; stay fast anyway
    assert (time.perf_counter() - started) < 0.5 and plan.confidence < 1.0
