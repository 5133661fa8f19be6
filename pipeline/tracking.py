"""Record a training job in MLflow: one run, its charts and tables, and the registered champion.

mlflow is imported inside the functions: it costs over a second and most CLI commands never log.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Any

import pandas as pd

from salesgenie import settings
from salesgenie.errors import SalesgenieError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.pyfunc import PyFuncModel

    from pipeline.train import TrainResult

CHAMPION = "champion"
MODEL_NAME_IN_RUN = "model"


@dataclass(frozen=True)
class TrackingInfo:
    """Where a training job's run, model and artifacts ended up."""

    run_id: str
    experiment_id: str
    model_name: str | None  # registered name; None when no fitted models came back (Spark)
    model_version: str | None
    model_uri: str | None  # models:/<name>/<version>
    artifact_uri: str  # the run's artifact root
    artifacts: dict[str, Path] = field(default_factory=dict)  # chart name -> local PNG
    run_artifacts: list[str] = field(default_factory=list)  # logged, relative to artifact_uri


def log_training_run(
    result: TrainResult,
    progress: Any = None,
    plot_series: str | None = None,
    plot_label: str | None = None,
) -> TrackingInfo:
    """Log params, metrics, charts, tables and the pyfunc model; register it; move `champion`.

    progress is a rich Progress (or None). plot_series picks the series of the forecast chart
    (plot_label, e.g. its product, titles it); when it was not forecast, the highest-volume
    series is plotted instead. Without fitted models (Spark runs) nothing is registered.
    """
    from mlflow.exceptions import MlflowException

    uri = settings.mlflow_tracking_uri()
    try:
        return _log_training_run(result, uri, progress, plot_series, plot_label)
    except MlflowException as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SalesgenieError(f"MLflow logging failed ({uri}): {message}") from exc


def _log_training_run(
    result: TrainResult,
    uri: str,
    progress: Any,
    plot_series: str | None,
    plot_label: str | None,
) -> TrackingInfo:
    import mlflow

    from pipeline import charts

    params = result.params
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    experiment_id = _experiment_id(client, params.experiment)
    task = progress.add_task("logging to MLflow", total=4) if progress is not None else None

    def step() -> None:
        if progress is not None:
            progress.advance(task)

    chart_dir = settings.charts_dir() / "training"
    series = _plot_series(result, plot_series)
    label = plot_label if series == plot_series else None
    with mlflow.start_run(experiment_id=experiment_id, run_name=_run_name(result)) as run:
        mlflow.log_params(_params(result))
        mlflow.log_metrics(_metrics(result))
        mlflow.set_tags(_tags(result, series))
        step()
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
        step()
        with TemporaryDirectory() as tmp:
            tables = {"evaluation": _evaluation_csv(result.evaluation), "scoring": result.scoring}
            for name, table in tables.items():
                table.to_csv(Path(tmp) / f"{name}.csv", index=False)
                mlflow.log_artifact(str(Path(tmp) / f"{name}.csv"), artifact_path="tables")
        step()
        version = _log_model(client, result, series, run.info.run_id)
        step()
    name = params.register_as if version else None
    return TrackingInfo(
        run_id=run.info.run_id,
        experiment_id=experiment_id,
        model_name=name,
        model_version=version,
        model_uri=f"models:/{name}/{version}" if version else None,
        artifact_uri=run.info.artifact_uri,
        artifacts=chart_paths,
        run_artifacts=[
            *(f"charts/{path.name}" for path in chart_paths.values()),
            "tables/evaluation.csv",
            "tables/scoring.csv",
        ],
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


def _log_model(client: MlflowClient, result: TrainResult, example: str, run_id: str) -> str | None:
    """Log the pyfunc model in the active run, register it and move `champion` to it.

    Dots in the name are fine for the local registry, and the name is already the
    catalog.schema.model form Unity Catalog expects. None when there is nothing to serve.
    """
    import mlflow

    from pipeline.forecast_model import StatsForecastModelWrapper, signature

    if not result.fitted_models:
        mlflow.set_tag("salesgenie.model", "not logged: no fitted models (distributed run)")
        return None
    name = result.params.register_as
    info = mlflow.pyfunc.log_model(
        name=MODEL_NAME_IN_RUN,
        python_model=StatsForecastModelWrapper.from_result(result),
        signature=signature(result.params.horizon),
        input_example=pd.DataFrame({"timeseries_id": [_example_series(result, example)]}),
        pip_requirements=_requirements(),
    )
    version = str(mlflow.register_model(info.model_uri, name).version)
    client.update_model_version(name, version, description=f"Trained by run {run_id}.")
    client.set_registered_model_alias(name, CHAMPION, version)
    return version


def _example_series(result: TrainResult, preferred: str) -> str:
    return preferred if preferred in result.fitted_models else next(iter(result.fitted_models))


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
            table[column] = [
                None if values is None else json.dumps([float(x) for x in values])
                for values in table[column]
            ]
    return table


def _requirements() -> list[str]:
    """Pinned explicitly: inferring them would load the model in a subprocess (seconds)."""
    from importlib.metadata import version

    return [f"{pkg}=={version(pkg)}" for pkg in ("mlflow", "statsforecast", "pandas", "numpy")]
