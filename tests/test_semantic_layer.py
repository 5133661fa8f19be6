"""The semantic layer: the YAML loads typed, tells the truth about the gold tables (checked on
conftest's demo warehouse), fails naming what broke, and renders the same facts for LLM, parser
and page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from pipeline.contract import GOLD_TABLES
from salesgenie.cli import app
from salesgenie.errors import SalesgenieError
from semantic_layer.guard import check_sql
from semantic_layer.model import (
    DEFAULT_PATH,
    Dimension,
    SemanticModel,
    TimeDimension,
    load_semantic_model,
    save_semantic_model,
    type_family,
)
from semantic_layer.render import Ref, llm_context, parser_vocabulary, space_summary
from semantic_layer.validate import connect_read_only, refresh, validate

ETORKI = "ETORKI PORT 250G FAMILIAL X8 FR"
SEED_QUESTION = (
    "Please show a graphic with sales for product Etorki and the prediction from the model, on "
    "a line plot. Please differentiate colors for train (actual) and predict."
)
OVERALL = "prd_sales.gold.sales_overall"
MAPPING = "prd_sales.gold.mapping_timeseries_id_product"
EVALUATION = "prd_sales.gold.sales_weekly_evaluation_output"


@pytest.fixture
def model() -> SemanticModel:
    return load_semantic_model()


def _broken_copy(warehouse: Path, tmp_path: Path, sql: str) -> Path:
    """A copy of the warehouse with one change applied, the original left intact."""
    copy = tmp_path / "prd_sales.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(sql)
    return copy


def _problems(model: SemanticModel, warehouse: Path) -> list[str]:
    with connect_read_only(warehouse) as con:
        return [str(p) for p in validate(model, con)]


# --- the YAML, typed ---------------------------------------------------------------------------


def test_packaged_model_loads_typed(model):
    assert [t.qualified_name for t in model.tables] == [OVERALL, MAPPING, EVALUATION]
    overall = model.table("sales_overall")
    assert isinstance(overall.column("type"), Dimension) and overall.column("type").is_enum
    assert isinstance(overall.column("date"), TimeDimension)
    assert overall.primary_key.columns == ["timeseries_id", "date"]
    assert {m.name for m in overall.metrics} >= {"actual_sales", "forecast_sales"}
    assert {f.name: f.expr for f in overall.filters} == {
        "actuals": "type = 'train'",
        "forecast": "type = 'predict'",
    }
    (relationship,) = [r for r in model.relationships if r.left_table == "sales_overall"]
    assert relationship.right_table == "mapping_timeseries_id_product"
    assert relationship.relationship_type == "many_to_one"
    assert len(model.verified_queries) >= 9
    assert model.verified_query("etorki_actual_and_forecast").question == SEED_QUESTION


def test_packaged_yaml_is_in_saved_form(model, tmp_path):
    """The file is what save writes, so a refresh changes sample values and nothing else."""
    save_semantic_model(model, tmp_path / "m.yaml")
    assert (tmp_path / "m.yaml").read_text() == DEFAULT_PATH.read_text()


def test_allowed_columns_are_the_guards_whitelist(model):
    allowed = model.allowed_columns()
    assert set(allowed) == {OVERALL, MAPPING, EVALUATION}
    assert allowed[OVERALL] == set(GOLD_TABLES["sales_overall"])
    assert allowed[MAPPING] == set(GOLD_TABLES["mapping_timeseries_id_product"])
    assert allowed[EVALUATION] == set(GOLD_TABLES["sales_weekly_evaluation_output"]) - {
        "model_pickle"
    }


def test_lookups_by_name_and_synonym(model):
    assert model.table("backtests").name == "sales_weekly_evaluation_output"
    assert model.table(MAPPING.upper()).name == "mapping_timeseries_id_product"
    assert model.table("silver.dim_material") is None
    assert [(t.name, c.name) for t, c in model.columns_for("Units")] == [("sales_overall", "sales")]
    assert len(model.columns_for("series id")) == 3
    assert model.metric("SMAPE")[1].name == "mean_smape"
    assert model.metric("forecast")[1].name == "forecast_sales"
    assert model.filter("history")[1].expr == "type = 'train'"


def _edited(tmp_path: Path, edit) -> Path:
    raw = yaml.safe_load(DEFAULT_PATH.read_text())
    edit(raw)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _drop_type(raw):
    del raw["tables"][0]["dimensions"][1]["data_type"]


def _misspell_key(raw):
    raw["tables"][1]["dimensions"][2]["synonym"] = ["marque"]


def _bad_type(raw):
    raw["tables"][0]["facts"][0]["data_type"] = "MONEY"


def _unknown_join(raw):
    raw["relationships"][0]["right_table"] = "dim_material"


def _hidden_column(raw):
    raw["tables"][2]["metrics"][0]["expr"] = "MAX(length(model_pickle))"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_drop_type, "tables[sales_overall].dimensions[type].data_type: Field required"),
        (_misspell_key, "tables[mapping_timeseries_id_product].dimensions[brand].synonym"),
        (_bad_type, "tables[sales_overall].facts[sales]: data_type 'MONEY'"),
        (_unknown_join, "unknown right_table 'dim_material'"),
        (_hidden_column, "mean_smape: expr uses model_pickle, which no dimension"),
    ],
)
def test_malformed_model_names_the_field(tmp_path, edit, expected):
    path = _edited(tmp_path, edit)
    with pytest.raises(SalesgenieError, match="semantic model") as raised:
        load_semantic_model(path)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


def test_unreadable_model_is_one_clear_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("tables: [unclosed\n")
    with pytest.raises(SalesgenieError, match="is not YAML"):
        load_semantic_model(tmp_path / "bad.yaml")
    with pytest.raises(SalesgenieError, match="cannot read semantic model"):
        load_semantic_model(tmp_path / "missing.yaml")


def test_type_families_are_loose_but_not_blind():
    assert type_family("DOUBLE") == type_family("decimal(18, 2)") == "number"
    assert type_family("DOUBLE[]") == type_family("ARRAY<FLOAT>") == "array<number>"
    assert type_family("TIMESTAMP WITH TIME ZONE") == "timestamp" != type_family("DATE")
    assert type_family("MONEY") is None


# --- against the warehouse ---------------------------------------------------------------------


def test_validate_passes_on_the_demo_warehouse(model, demo_warehouse):
    assert _problems(model, demo_warehouse) == []


def test_validate_names_a_renamed_column(model, demo_warehouse, tmp_path):
    broken = _broken_copy(
        demo_warehouse, tmp_path, "ALTER TABLE gold.sales_overall RENAME COLUMN sales TO units"
    )
    problems = _problems(model, broken)
    assert any(p.startswith(f"{OVERALL}.sales: expr 'sales' fails") for p in problems), problems
    assert any("metric actual_sales" in p for p in problems)
    assert any(p.startswith("verified query etorki_actual_and_forecast: fails") for p in problems)


def test_validate_names_a_missing_table(model, demo_warehouse, tmp_path):
    broken = _broken_copy(
        demo_warehouse, tmp_path, "DROP TABLE gold.sales_weekly_evaluation_output"
    )
    problems = _problems(model, broken)
    assert f"{EVALUATION}: table does not exist" in problems
    assert any(p.startswith("verified query smape_by_model: fails") for p in problems)
    assert not any(p.startswith(OVERALL) for p in problems)


def test_validate_names_a_wrong_type_and_an_incomplete_enum(model, demo_warehouse):
    overall = model.table("sales_overall")
    overall.column("sales").data_type = "VARCHAR"
    overall.column("type").sample_values = ["train"]
    problems = _problems(model, demo_warehouse)
    assert f"{OVERALL}.sales: declared VARCHAR but 'sales' is DOUBLE" in problems
    assert f"{OVERALL}.type: is_enum, but the data also holds 'predict'" in problems


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT model_pickle FROM prd_sales.gold.sales_weekly_evaluation_output", "column"),
        ("SELECT brand FROM prd_sales.silver.dim_material", "prd_sales.silver.dim_material"),
        ("COPY (SELECT 1) TO 'x.csv'", "is not a SELECT"),
    ],
)
def test_verified_query_must_stay_inside_the_model(
    model, demo_warehouse, sql, reason, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # where a COPY that slipped through would write
    model.verified_queries[0].sql = sql
    (problem,) = _problems(model, demo_warehouse)
    assert problem.startswith("verified query etorki_actual_and_forecast: ") and reason in problem
    assert not list(tmp_path.iterdir())


def test_the_validating_connection_reads_nothing_but_the_warehouse(demo_warehouse, tmp_path):
    copy = f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'"
    with connect_read_only(demo_warehouse) as con:
        for sql in (copy, "SET enable_external_access = true"):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
    assert not (tmp_path / "x.csv").exists()


def test_every_verified_query_runs_and_etorki_shows_train_then_predict(model, demo_warehouse):
    with connect_read_only(demo_warehouse) as con:
        results = {q.name: con.execute(q.sql).fetchall() for q in model.verified_queries}
    etorki = results["etorki_actual_and_forecast"]
    train = [row[0] for row in etorki if row[1] == "train"]
    predict = [row[0] for row in etorki if row[1] == "predict"]
    assert len(train) == 87 and max(train) < min(predict)
    assert [str(day) for day in predict] == [
        "2025-09-01",
        "2025-09-08",
        "2025-09-15",
    ]
    assert all(results.values()), [name for name, rows in results.items() if not rows]


@pytest.mark.parametrize("dialect", ["duckdb", "databricks"])
def test_every_verified_query_passes_the_guard(model, dialect):
    for query in model.verified_queries:
        check_sql(query.sql, model.allowed_columns(), dialect=dialect)


def test_refresh_fills_sample_values_from_the_data(model, demo_warehouse, tmp_path):
    for table in model.tables:
        for dimension in table.dimensions:
            dimension.sample_values = []
    path = tmp_path / "refreshed.yaml"
    with connect_read_only(demo_warehouse) as con:
        refreshed = refresh(model, con, path)
    assert load_semantic_model(path) == refreshed
    mapping = refreshed.table("mapping_timeseries_id_product")
    assert mapping.column("brand").sample_values == ["ETORKI"]
    assert ETORKI in mapping.column("product").sample_values
    assert mapping.column("sales_org").sample_values == sorted(
        mapping.column("sales_org").sample_values
    )
    assert refreshed.table("sales_overall").column("type").sample_values == ["predict", "train"]
    models = refreshed.table("sales_weekly_evaluation_output").column("model").sample_values
    assert "StatsForecastAutoArima" in models
    assert mapping.column("timeseries_id").sample_values == []  # identifiers are not sampled
    assert model.table("sales_overall").column("type").sample_values == []  # a copy was changed


# --- renderings --------------------------------------------------------------------------------


def test_llm_context_describes_everything(model):
    text = llm_context(model)
    for table in model.tables:
        assert table.qualified_name in text
        for item in (*table.columns, *table.metrics, *table.filters):
            assert f"- {item.name} " in text or f"- {item.name}:" in text, item.name
    assert "many to one" in text and "Sales are units, never money" in text
    assert model.verified_query("etorki_actual_and_forecast").sql.strip() in text
    assert "model_pickle" not in text


def test_llm_context_shows_data_only_through_sample_values(model, demo_warehouse):
    with connect_read_only(demo_warehouse) as con:
        refreshed = refresh(model, con)
        values = {
            str(v)
            for column, table in (("product", MAPPING), ("timeseries_id", MAPPING))
            for (v,) in con.execute(f"SELECT DISTINCT {column} FROM {table}").fetchall()
        }
        (run_id,) = con.execute(f"SELECT DISTINCT run_id FROM {EVALUATION}").fetchone()
    text = llm_context(refreshed)
    described = json.dumps(refreshed.model_dump())
    assert all(v in described for v in values if v in text)
    assert ETORKI in text and run_id not in text


def test_parser_vocabulary_maps_words_to_columns_values_metrics_filters(model):
    vocabulary = parser_vocabulary(model)
    assert vocabulary.columns["units"] == (Ref(OVERALL, "sales"),)
    assert vocabulary.columns["week"] == (Ref(OVERALL, "date"),)
    assert len(vocabulary.columns["timeseries id"]) == 3
    assert vocabulary.tables["backtest"] == (EVALUATION,)
    assert "ETORKI" in vocabulary.values[Ref(MAPPING, "brand")]
    assert Ref(OVERALL, "type") in vocabulary.enums
    assert vocabulary.metrics["forecast"] == (Ref(OVERALL, "forecast_sales"),)
    assert vocabulary.filters["actuals"] == (Ref(OVERALL, "actuals"),)


def test_space_summary_lists_tables_and_onboarding_questions(model):
    summary = space_summary(model)
    assert [t["name"] for t in summary["tables"]] == [OVERALL, MAPPING, EVALUATION]
    assert all(t["description"] for t in summary["tables"])
    assert summary["suggested_questions"][0] == SEED_QUESTION
    onboarding = [q for q in model.verified_queries if q.use_as_onboarding_question]
    assert len(summary["suggested_questions"]) == len(onboarding) < len(model.verified_queries)
    json.dumps(summary)


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_validate_ok_and_failing(demo_warehouse, tmp_path):
    runner = CliRunner()
    ok = runner.invoke(
        app, ["semantic", "validate"], env={"SALESGENIE_WAREHOUSE": str(demo_warehouse)}
    )
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("semantic model OK: 3 tables, 22 columns, 10 verified queries")
    broken = _broken_copy(
        demo_warehouse,
        tmp_path,
        "ALTER TABLE gold.mapping_timeseries_id_product RENAME COLUMN brand TO marque",
    )
    failed = runner.invoke(app, ["semantic", "validate"], env={"SALESGENIE_WAREHOUSE": str(broken)})
    assert failed.exit_code == 1
    assert f"{MAPPING}.brand: expr 'brand' fails" in failed.output
    assert "problem(s)" in str(failed.exception)


def test_cli_refresh_rewrites_the_given_file(demo_warehouse, tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(DEFAULT_PATH.read_text())
    result = CliRunner().invoke(
        app,
        ["semantic", "refresh", "--model", str(path)],
        env={"SALESGENIE_WAREHOUSE": str(demo_warehouse)},
    )
    assert result.exit_code == 0, result.output
    assert "mapping_timeseries_id_product.brand" in result.output
    brands = load_semantic_model(path).table("mapping_timeseries_id_product").column("brand")
    assert brands.sample_values == ["ETORKI"]


# --- docs --------------------------------------------------------------------------------------


def test_every_contract_column_of_a_modelled_table_is_described(model):
    """No undocumented gold column (model_pickle, binary, is deliberately left out), no column
    the contract does not have, and declared types agree with the contract's."""
    for table in model.tables:
        contract = GOLD_TABLES[table.base_table.table]
        described = {c.expr: c for c in table.columns if c.description.strip()}
        assert set(contract) - set(described) == {"model_pickle"} & set(contract), table.name
        assert set(described) <= set(contract), table.name
        for name, column in described.items():
            assert type_family(column.data_type) == type_family(contract[name]), name
