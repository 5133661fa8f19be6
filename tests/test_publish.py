"""Publish: contract tables from the latest run, swapped atomically even when killed mid-way."""

import os
import signal
import subprocess
import sys
import textwrap
from datetime import date, datetime

import pandas as pd
import pytest

from pipeline.contract import GOLD, GOLD_TABLES, SILVER, SOURCE_TABLES
from pipeline.jobs import publish_job
from pipeline.warehouse import open_warehouse, replace_tables

WEEKS = pd.date_range("2024-01-01", "2025-08-25", freq="W-MON")


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    """A warehouse holding prep output and one training run for two series."""
    path = tmp_path / "prd_sales.duckdb"
    monkeypatch.setenv("SALESGENIE_WAREHOUSE", str(path))
    days = pd.date_range("2024-01-01", "2025-08-31", freq="D")
    daily = pd.concat(
        [
            pd.DataFrame(
                {
                    "date": days,
                    "sales_org": "FR01",
                    "material_id": "100001",
                    "product": "ETORKI PORT 250G FAMILIAL X8 FR",
                    "brand": "ETORKI",
                    "quantity": 1.0,
                    "net_value": 3.0,
                }
            ),
            pd.DataFrame(
                {
                    "date": days[days >= "2025-05-05"],
                    "sales_org": "ES01",
                    "material_id": "100002",
                    "product": "PRESIDENT BRIE 200G ES",
                    "brand": "PRESIDENT",
                    "quantity": 2.0,
                    "net_value": 5.0,
                }
            ),
        ]
    )
    orgs = pd.DataFrame(
        {
            "sales_org": ["FR01", "ES01"],
            "sales_org_name": ["France", "Spain"],
            "country": ["FR", "ES"],
            "currency": ["EUR", "EUR"],
        }
    )
    with open_warehouse(path) as con:
        replace_tables(con, SILVER, {"dim_sales_org": orgs}, SOURCE_TABLES)
        replace_tables(
            con,
            GOLD,
            {
                "sales_data_for_forecast": daily,
                "sales_weekly_scoring_output": _scoring(7.0, "run-1"),
                "sales_weekly_training_runs": _run("run-1"),
            },
            GOLD_TABLES,
        )
    return path


def _scoring(value: float, run_id: str) -> pd.DataFrame:
    dates = pd.date_range("2025-09-01", periods=3, freq="W-MON")
    return pd.DataFrame(
        {
            "timeseries_id": ["FR01_100001"] * 3 + ["ES01_100002"] * 3,
            "model": "StatsForecastBaselineNaive",
            "date": list(dates) * 2,
            "forecast": value,
            "forecast_lower": value - 1,
            "forecast_upper": value + 1,
            "run_id": run_id,
        }
    )


def _run(run_id: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "run_id": run_id,
                "run_date": datetime(2025, 9, 2),
                "product": None,
                "start_date": date(2024, 1, 1),
                "end_date": date(2025, 9, 1),
                "horizon": 3,
                "backtest_windows": 10,
                "models": "x",
                "series": 2,
                "best_smape": 0.1,
                "notes": "",
            }
        ]
    )


def _read(path, table):
    with open_warehouse(path) as con:
        return con.execute(f"SELECT * FROM prd_sales.gold.{table} ORDER BY ALL").df()


def test_publish_writes_history_then_forecast(warehouse):
    counts = publish_job()
    overall = _read(warehouse, "sales_overall")
    etorki = overall[overall.timeseries_id == "FR01_100001"].sort_values("date")
    train = etorki[etorki.type == "train"]
    assert len(train) == 87 and train.date.min() == pd.Timestamp("2024-01-01")
    assert train.date.max() == pd.Timestamp("2025-08-25")
    assert train.sales.eq(7.0).all()  # 7 days × 1 unit per Monday week
    assert train.model.isna().all() and train.sales_lower.isna().all()
    predict = etorki[etorki.type == "predict"]
    assert predict.date.dt.strftime("%Y-%m-%d").tolist() == [
        "2025-09-01",
        "2025-09-08",
        "2025-09-15",
    ]
    assert predict.model.eq("StatsForecastBaselineNaive").all()
    assert (predict.sales_lower < predict.sales).all() and (
        predict.sales < predict.sales_upper
    ).all()
    launch = overall[(overall.timeseries_id == "ES01_100002") & (overall.type == "train")]
    assert launch.date.min() == pd.Timestamp("2025-05-05")  # a series starts at its first sale
    mapping = _read(warehouse, "mapping_timeseries_id_product")
    assert mapping.to_dict("records") == [
        {
            "timeseries_id": "ES01_100002",
            "product": "PRESIDENT BRIE 200G ES",
            "brand": "PRESIDENT",
            "material_id": "100002",
            "sales_org": "ES01",
            "sales_org_name": "Spain",
        },
        {
            "timeseries_id": "FR01_100001",
            "product": "ETORKI PORT 250G FAMILIAL X8 FR",
            "brand": "ETORKI",
            "material_id": "100001",
            "sales_org": "FR01",
            "sales_org_name": "France",
        },
    ]
    assert counts == {"sales_overall": len(overall), "mapping_timeseries_id_product": 2}


def test_publish_killed_mid_swap_leaves_previous_tables(warehouse):
    publish_job()
    before = {t: _read(warehouse, t) for t in ("sales_overall", "mapping_timeseries_id_product")}
    with open_warehouse(warehouse) as con:  # a new run whose publish will be killed
        replace_tables(
            con,
            GOLD,
            {
                "sales_weekly_scoring_output": _scoring(99.0, "run-2"),
                "sales_weekly_training_runs": pd.concat(
                    [_run("run-1"), _run("run-2").assign(run_date=datetime(2025, 9, 3))]
                ),
            },
            GOLD_TABLES,
        )
    script = textwrap.dedent(
        """
        import contextlib, sys, time
        import pipeline.jobs as jobs
        from pipeline.warehouse import open_warehouse

        class PausingConnection:
            # Pauses inside the swap transaction, after the old tables were dropped.
            def __init__(self, con):
                self._con = con
            def __getattr__(self, name):
                return getattr(self._con, name)
            def execute(self, sql, *args):
                if sql.startswith("ALTER TABLE"):
                    print("SWAPPING", flush=True)
                    time.sleep(60)
                return self._con.execute(sql, *args)

        @contextlib.contextmanager
        def pausing_warehouse(path=None):
            with open_warehouse(path) as con:
                yield PausingConnection(con)

        jobs.open_warehouse = pausing_warehouse
        jobs.publish_job()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "SALESGENIE_WAREHOUSE": str(warehouse)},
    )
    assert proc.stdout.readline().strip() == "SWAPPING"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    for table, frame in before.items():
        pd.testing.assert_frame_equal(_read(warehouse, table), frame)
    publish_job()  # the next publish completes and replaces both tables
    after = _read(warehouse, "sales_overall")
    assert after.loc[after.type == "predict", "sales"].eq(99.0).all()


def test_publish_before_training_is_a_clear_error(tmp_path, monkeypatch):
    from salesgenie.errors import SalesgenieError

    monkeypatch.setenv("SALESGENIE_WAREHOUSE", str(tmp_path / "empty.duckdb"))
    with pytest.raises(SalesgenieError, match="sales_weekly_scoring_output.*pipeline train"):
        publish_job()
