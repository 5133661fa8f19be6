"""Training on hand-built series: window placement, selection, short series, Monday weeks."""

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipeline.train import TrainParams, train, weekly_history

WEEKS = pd.date_range("2024-01-01", "2025-08-25", freq="W-MON")  # the demo's 87 weeks
FAST = (
    "StatsForecastBaselineNaive",
    "StatsForecastBaselineSeasonalNaive",
    "StatsForecastBaselineWindowAverage",
)


def _series(uid: str, values) -> pd.DataFrame:
    values = np.asarray(values, dtype=float)
    return pd.DataFrame({"unique_id": uid, "ds": WEEKS[-len(values) :], "y": values})


@pytest.fixture(scope="module")
def trained():
    seasonal = np.tile([1.0, 10.0, 1.0, 10.0], 22)[:87]  # SeasonalNaive is exact
    history = pd.concat(
        [
            _series("FR01_SEASONAL", seasonal),
            _series("FR01_ZERO", np.zeros(87)),
            _series("FR01_NOISY", 50 + np.random.default_rng(3).normal(0, 5, 87)),
            _series("FR01_LAUNCH", [3.0, 4.0, 5.0, 6.0, 5.0]),
            _series("FR01_MEDIUM", np.arange(1, 15, dtype=float)),  # 14 weeks
        ],
        ignore_index=True,
    )
    return train(history, TrainParams(models=FAST, n_jobs=1))


def test_weekly_history_uses_mondays_and_fills_gaps():
    daily = pd.DataFrame(
        {
            "timeseries_id": ["A", "A", "A"],
            "date": pd.to_datetime(["2024-01-03", "2024-01-07", "2024-01-24"]),
            "quantity": [2.0, 3.0, 4.0],
        }
    )
    weekly = weekly_history(daily, TrainParams(end_date=date(2024, 2, 5)))
    assert weekly["ds"].dt.dayofweek.eq(0).all()
    assert weekly["ds"].dt.strftime("%Y-%m-%d").tolist() == [
        "2024-01-01",
        "2024-01-08",
        "2024-01-15",
        "2024-01-22",
        "2024-01-29",
    ]
    assert weekly["y"].tolist() == [5.0, 0.0, 0.0, 4.0, 0.0]


def test_backtest_windows_are_the_last_ten_three_week_windows(trained):
    rows = trained.evaluation[
        (trained.evaluation.timeseries_id == "FR01_NOISY")
        & (trained.evaluation.model == "StatsForecastBaselineNaive")
    ].sort_values("backtest_window_start_date")
    starts = pd.to_datetime(rows["backtest_window_start_date"]).dt.strftime("%Y-%m-%d").tolist()
    assert starts == [
        d.strftime("%Y-%m-%d") for d in pd.date_range("2025-06-09", periods=10, freq="W-MON")
    ]
    history = trained.history.set_index(["unique_id", "ds"])["y"]
    for start, actual in zip(rows["backtest_window_start_date"], rows["actual"], strict=True):
        weeks = pd.date_range(start, periods=3, freq="W-MON")
        assert list(actual) == pytest.approx([history[("FR01_NOISY", w)] for w in weeks])
    # Naive's forecast in every window is the last actual before the window.
    for start, forecast in zip(rows["backtest_window_start_date"], rows["forecast"], strict=True):
        last = history[("FR01_NOISY", pd.Timestamp(start) - pd.Timedelta(weeks=1))]
        assert list(forecast) == pytest.approx([last] * 3)


def test_best_model_is_lowest_mean_smape(trained):
    assert trained.best_models["FR01_SEASONAL"] == "StatsForecastBaselineSeasonalNaive"
    means = trained.evaluation.groupby(["timeseries_id", "model"])["metric_value"].mean()
    for uid in ("FR01_SEASONAL", "FR01_NOISY"):
        assert means[uid].idxmin() == trained.best_models[uid]


def test_all_zero_series_scores_zero_not_nan(trained):
    rows = trained.evaluation[trained.evaluation.timeseries_id == "FR01_ZERO"]
    assert len(rows) == 10 * len(FAST)
    assert rows["metric_value"].eq(0).all()
    assert trained.best_models["FR01_ZERO"] == FAST[0]  # ties go to the first model listed


def test_short_series_are_handled_and_reported(trained):
    assert "FR01_LAUNCH" not in set(trained.evaluation.timeseries_id)
    assert trained.best_models["FR01_LAUNCH"] == "StatsForecastBaselineNaive"
    launch = trained.scoring[trained.scoring.timeseries_id == "FR01_LAUNCH"]
    assert launch["forecast"].tolist() == [5.0, 5.0, 5.0]
    medium_models = set(
        trained.evaluation.loc[trained.evaluation.timeseries_id == "FR01_MEDIUM", "model"]
    )
    assert medium_models == {"StatsForecastBaselineNaive"}  # 14 weeks: too short for the others
    assert any("too short to backtest" in note for note in trained.notes)
    assert any("SeasonalNaive: skipped for 2 series" in note for note in trained.notes)


def test_scoring_has_three_monday_weeks_with_ordered_intervals(trained):
    scoring = trained.scoring
    assert scoring.groupby("timeseries_id").size().eq(3).all()
    assert set(pd.to_datetime(scoring["date"]).dt.strftime("%Y-%m-%d")) == {
        "2025-09-01",
        "2025-09-08",
        "2025-09-15",
    }
    noisy = scoring[scoring.timeseries_id == "FR01_NOISY"]
    assert (noisy.forecast_lower <= noisy.forecast_lower_80).all()
    assert (noisy.forecast_lower_80 <= noisy.forecast).all()
    assert (noisy.forecast <= noisy.forecast_upper_80).all()
    assert (noisy.forecast_upper_80 <= noisy.forecast_upper).all()
    for uid, model in trained.best_models.items():
        assert set(scoring.loc[scoring.timeseries_id == uid, "model"]) == {model}


def test_selected_models_come_back_fitted_and_pickled(trained):
    import zlib

    import cloudpickle

    assert set(trained.fitted_models) == set(trained.best_models)
    rows = trained.evaluation[trained.evaluation.timeseries_id == "FR01_SEASONAL"]
    models = {
        name: cloudpickle.loads(zlib.decompress(blob))
        for name, blob in zip(rows["model"], rows["model_pickle"], strict=True)
    }
    selected = models.pop("StatsForecastBaselineSeasonalNaive")  # fitted on the whole history
    assert selected.predict(h=4)["mean"].tolist() == [10.0, 1.0, 10.0, 1.0]  # week 88 on
    y = np.tile([1.0, 10.0, 1.0, 10.0], 5)
    for model in models.values():  # the others as configured: they forecast from any history
        assert model.forecast(y=y, h=3)["mean"].shape == (3,)


@pytest.fixture(scope="module")
def combined():
    rng = np.random.default_rng(11)
    history = pd.concat(
        [_series(f"FR01_N{i}", 50 + rng.normal(0, 8, 87).cumsum() / 4) for i in range(6)],
        ignore_index=True,
    )
    params = TrainParams(models=FAST, n_jobs=1, strategy="combination", max_combined=3)
    return train(history, params)


def test_combination_is_chosen_by_its_own_backtest(combined):
    from pipeline.models import combination_name

    chosen = {m for m in combined.best_models.values() if m.startswith("Combination(")}
    assert chosen  # averaging noisy forecasts helps on some of these series
    means = combined.evaluation.groupby(["timeseries_id", "model"])["metric_value"].mean()
    for uid, model in combined.best_models.items():
        singles = means[uid].drop([m for m in means[uid].index if m not in FAST])
        assert means[(uid, model)] <= singles.min() + 1e-12
        if model in chosen:
            members = tuple(model.removeprefix("Combination(").removesuffix(")").split("+"))
            assert combination_name(members) == model
            assert list(singles.sort_values().index[: len(members)]) == list(members)


def test_combination_forecast_is_the_mean_of_its_members(combined):
    uid, model = next((u, m) for u, m in combined.best_models.items() if m.startswith("Comb"))
    fitted = combined.fitted_models[uid]
    assert fitted.alias == model and len(fitted.members) >= 2
    member_means = np.mean([m.predict(h=3)["mean"] for m in fitted.members], axis=0)
    published = combined.scoring[combined.scoring.timeseries_id == uid]
    assert published["model"].eq(model).all()
    assert published["forecast"].tolist() == pytest.approx(np.clip(member_means, 0, None))


def test_max_history_weeks_limits_what_models_see():
    history = _series("FR01_LONG", 50 + np.random.default_rng(5).normal(0, 5, 87))
    result = train(history, TrainParams(models=FAST, n_jobs=1, max_history_weeks=30))
    assert len(result.history) == 30
    assert str(result.history.ds.min())[:10] == "2025-02-03"  # 30 Mondays up to 2025-08-25
    assert result.evaluation.groupby("model").size().eq(10).all()


def test_unknown_strategy_is_refused():
    from salesgenie.errors import SalesgenieError

    with pytest.raises(SalesgenieError, match="unknown strategy 'magic'"):
        train(_series("A", np.ones(20)), TrainParams(strategy="magic"))
