"""Record a training job in MLflow: one run, its charts and tables, and the registered champion.

mlflow is imported inside the functions: it costs over a second and most CLI commands never log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING

import pandas as pd

from salesgenie import settings
from salesgenie.errors import SalesgenieError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.pyfunc import PyFuncModel

    from pipeline.train import TrainResult

CHAMPION = "champion"
MODEL_NAME_IN_RUN = "model"
REFERENCE_SERIES = "FR01_100001"  # ETORKI PORT 250G FAMILIAL X8 FR in FR01, in the demo data


@dataclass(frozen=True)
class TrackingInfo:
    """Where a training job's run, model and artifacts ended up."""

    run_id: str
    experiment_id: str
    model_name: str  # registered model name
    model_version: str
    model_uri: str  # models:/<name>/<version>
    artifact_uri: str  # the run's artifact root
    artifacts: list[str] = field(default_factory=list)  # paths relative to artifact_uri
    charts: dict[str, Path] = field(default_factory=dict)  # local copies under charts_dir()


def log_training_run(
    result: TrainResult,
    progress: Callable[[str], None] | None = None,
    plot_series: str | None = None,
    plot_label: str | None = None,
) -> TrackingInfo:
    """Log params, metrics, charts, tables and the pyfunc model; register it; move `champion`.

    plot_series picks the series of the forecast chart (plot_label, e.g. its product, titles it);
    when absent from the history, the highest-volume series is plotted instead.
    """
    import mlflow

    from pipeline import charts
    from pipeline.forecast_model import StatsForecastModelWrapper, signature

    say = progress or (lambda _message: None)
    params = result.params
    if not result.fitted_models:
        raise SalesgenieError("nothing to log: the training job fitted no series")
    uri = settings.mlflow_tracking_uri()
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    experiment_id = _experiment_id(client, params.experiment)

    chart_dir = settings.charts_dir() / "training"
    series = _plot_series(result, plot_series)
    label = plot_label if series == plot_series else None
    say(f"mlflow: logging run in experiment {params.experiment!r} ({uri})")
    with mlflow.start_run(experiment_id=experiment_id, run_name=_run_name(result)) as run:
        mlflow.log_params(_params(result))
        mlflow.log_metrics(_metrics(result))
        mlflow.set_tags(_tags(result, series))
        chart_paths = {
            "wow_variation_histogram": charts.wow_variation_histogram(
                result.history, chart_dir / "wow_variation_histogram.png"
            ),
            "forecast": charts.forecast_plot(
                result.history,
                result.scoring,
                result.evaluation,
                series,
                chart_dir / f"forecast_{series}.png",
                product=label,
            ),
        }
        for path in chart_paths.values():
            mlflow.log_artifact(str(path), artifact_path="charts")
        with TemporaryDirectory() as tmp:
            tables = {"evaluation": _evaluation_csv(result.evaluation), "scoring": result.scoring}
            for name, table in tables.items():
                table.to_csv(Path(tmp) / f"{name}.csv", index=False)
                mlflow.log_artifact(str(Path(tmp) / f"{name}.csv"), artifact_path="tables")
        say(f"mlflow: logging the model of {len(result.fitted_models)} series")
        model_info = mlflow.pyfunc.log_model(
            name=MODEL_NAME_IN_RUN,
            python_model=StatsForecastModelWrapper.from_result(result),
            signature=signature(params.horizon),
            input_example=pd.DataFrame({"timeseries_id": [series]}),
            pip_requirements=_requirements(),
        )
        version = _register(client, model_info.model_uri, params.register_as, run.info.run_id)
    say(f"mlflow: registered {params.register_as} version {version} as @{CHAMPION}")
    return TrackingInfo(
        run_id=run.info.run_id,
        experiment_id=experiment_id,
        model_name=params.register_as,
        model_version=version,
        model_uri=f"models:/{params.register_as}/{version}",
        artifact_uri=run.info.artifact_uri,
        artifacts=[
            *(f"charts/{path.name}" for path in chart_paths.values()),
            "tables/evaluation.csv",
            "tables/scoring.csv",
        ],
        charts=chart_paths,
    )


def load_champion(name: str) -> PyFuncModel:
    """The model registered as `name` with alias champion, from the configured tracking store."""
    import mlflow
    from mlflow.exceptions import MlflowException

    uri = settings.mlflow_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
    except MlflowException:
        raise SalesgenieError(
            f"no model {name!r} with alias {CHAMPION} in {uri}: run `salesgenie pipeline train`"
        ) from None


def _experiment_id(client: MlflowClient, name: str) -> str:
    """The experiment's id, creating it with its artifacts next to the tracking store."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return client.create_experiment(name, artifact_location=settings.mlflow_artifact_root())
    if experiment.lifecycle_stage == "deleted":
        raise SalesgenieError(
            f"MLflow experiment {name!r} is deleted: restore it or train with another experiment"
        )
    return experiment.experiment_id


def _register(client: MlflowClient, model_uri: str, name: str, run_id: str) -> str:
    """Register the run's model (dots are fine: names like Unity Catalog's catalog.schema.model)."""
    import mlflow

    version = mlflow.register_model(model_uri, name).version
    client.update_model_version(name, version, description=f"Trained by run {run_id}.")
    client.set_registered_model_alias(name, CHAMPION, version)
    return str(version)


def _plot_series(result: TrainResult, wanted: str | None) -> str:
    """The wanted series when it was forecast, else the one that sold the most."""
    forecast = set(result.scoring["timeseries_id"])
    if wanted in forecast:
        return wanted
    volume = result.history[result.history["unique_id"].isin(forecast)]
    if volume.empty:
        raise SalesgenieError("nothing to plot: the training job forecast no series")
    return str(volume.groupby("unique_id")["y"].sum().idxmax())


def _run_name(result: TrainResult) -> str:
    scope = result.params.product or "all products"
    return f"train {scope} {date.today().isoformat()}"


def _params(result: TrainResult) -> dict[str, str]:
    """Every TrainParams field as text: tuples joined by commas, dates in ISO form."""
    out = {}
    for key, value in asdict(result.params).items():
        if isinstance(value, (tuple, list)):
            value = ",".join(value)
        elif isinstance(value, date):
            value = value.isoformat()
        out[key] = "" if value is None else str(value)
    return out


def _metrics(result: TrainResult) -> dict[str, float]:
    selected = pd.Series(result.best_models, dtype=str).value_counts()
    return {
        "best_smape": float(result.best_smape),
        **{f"mean_smape_{model}": float(v) for model, v in result.model_mean_smape.items()},
        "n_series": float(result.history["unique_id"].nunique()),
        "n_series_forecast": float(len(result.best_models)),
        "n_weeks": float(result.history["ds"].nunique()),
        **{f"n_series_selected_{model}": float(n) for model, n in selected.items()},
    }


def _tags(result: TrainResult, plot_series: str) -> dict[str, str]:
    summary = f"Many-model training: best mean SMAPE {result.best_smape:.4f}."
    notes = "\n".join(f"- {note}" for note in result.notes)
    return {
        "salesgenie.job": "train",
        "salesgenie.product": result.params.product or "all",
        "salesgenie.registered_model": result.params.register_as,
        "salesgenie.plot_series": plot_series,
        "mlflow.note.content": f"{summary}\n\n{notes}".strip(),
    }


def _evaluation_csv(evaluation: pd.DataFrame) -> pd.DataFrame:
    """The evaluation table without its pickles, arrays as JSON lists so the CSV reads back."""
    table = evaluation.drop(columns=["model_pickle"], errors="ignore").copy()
    for column in ("forecast", "actual"):
        if column in table:
            table[column] = [json.dumps([float(x) for x in values]) for values in table[column]]
    return table


def _requirements() -> list[str]:
    """Pinned explicitly: inferring them would load the model in a subprocess (seconds)."""
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("mlflow", "statsforecast", "pandas", "numpy")]

