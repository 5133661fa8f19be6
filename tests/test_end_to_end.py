"""The whole pipeline through the CLI on generated data: the demo's Etorki series end to end."""

import duckdb
import pandas as pd
from typer.testing import CliRunner

from salesgenie.cli import app

ETORKI = "ETORKI PORT 250G FAMILIAL X8 FR"
MODEL_NAME = "prd_sales.gold.sales_weekly_forecast_model_final"


def _query(demo_workdir, sql):
    with duckdb.connect(str(demo_workdir / "data" / "prd_sales.duckdb"), read_only=True) as con:
        return con.execute(sql).df()


def test_etorki_fr01_has_87_train_weeks_then_3_predict_weeks(demo_workdir):
    rows = _query(
        demo_workdir,
        "SELECT o.* FROM prd_sales.gold.sales_overall o "
        "JOIN prd_sales.gold.mapping_timeseries_id_product m USING (timeseries_id) "
        f"WHERE m.product = '{ETORKI}' AND m.sales_org = 'FR01' ORDER BY date",
    )
    train, predict = rows[rows.type == "train"], rows[rows.type == "predict"]
    assert len(train) == 87
    assert str(train.date.min())[:10] == "2024-01-01" and str(train.date.max())[:10] == "2025-08-25"
    assert train.sales.gt(0).all()
    assert [str(d)[:10] for d in predict.date] == ["2025-09-01", "2025-09-08", "2025-09-15"]
    assert predict.model.notna().all() and (predict.sales_lower <= predict.sales_upper).all()


def test_every_contract_table_is_filled(demo_workdir):
    from pipeline.contract import GOLD_TABLES, SOURCE_TABLES

    for schema, tables in (("silver", SOURCE_TABLES), ("gold", GOLD_TABLES)):
        for table, columns in tables.items():
            described = _query(demo_workdir, f"DESCRIBE prd_sales.{schema}.{table}")
            assert dict(zip(described.column_name, described.column_type, strict=True)) == columns
            count = _query(demo_workdir, f"SELECT count(*) AS n FROM prd_sales.{schema}.{table}")
            assert count.n[0] > 0, table


def test_evaluation_has_one_row_per_series_model_window(demo_workdir):
    counts = _query(
        demo_workdir,
        "SELECT timeseries_id, model, count(*) AS windows, count(DISTINCT run_id) AS runs "
        "FROM prd_sales.gold.sales_weekly_evaluation_output GROUP BY ALL",
    )
    assert counts.windows.eq(10).all() and counts.runs.eq(1).all()
    assert set(counts.model) >= {"StatsForecastAutoArima", "StatsForecastBaselineNaive"}


def test_champion_model_predicts_what_was_published(demo_workdir, monkeypatch):
    import mlflow

    monkeypatch.chdir(demo_workdir)
    mlflow.set_tracking_uri(f"sqlite:///{demo_workdir / 'data' / 'mlflow.db'}")
    scoring = _query(demo_workdir, "SELECT * FROM prd_sales.gold.sales_weekly_scoring_output")
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@champion")
    ids = sorted(scoring.timeseries_id.unique())
    predicted = model.predict(pd.DataFrame({"timeseries_id": ids}), params={"horizon": 3})
    merged = scoring.merge(predicted, on=["timeseries_id", "date"], suffixes=("", "_pyfunc"))
    assert len(merged) == len(scoring)
    pd.testing.assert_series_equal(
        merged.forecast, merged.forecast_pyfunc, check_names=False, rtol=1e-9
    )


def test_prep_again_is_a_no_op(demo_workdir, monkeypatch):
    monkeypatch.chdir(demo_workdir)
    result = CliRunner().invoke(app, ["pipeline", "prep"])
    assert result.exit_code == 0 and "skipped" in result.output
