"""The demo's `weekly_forecast` model-serving endpoint, in Databricks' shapes.

POST /serving-endpoints/weekly_forecast/invocations scores rows in MLflow's four JSON formats
(dataframe_split, dataframe_records, instances, inputs; parsed by MLflow's own scoring-server
parser) with `params` such as {"horizon": 3}, and answers {"predictions": [rows]} with a
`served-model-name` header, as Databricks model serving does. The model is the registered
model's `champion` version: loaded at the first call (mlflow is imported then, not at start-up),
and reloaded when the alias moves, which is checked at most every ALIAS_CHECK_S seconds so a
call costs no registry round trip. Bad input is a 400 {"error_code": "BAD_REQUEST", "message"}
naming the problem. Under /api/2.0/serving-endpoints the endpoint describes itself
(ServingEndpointDetailed, as `serving_endpoints.get` reads it) and its OpenAPI 3.0 document.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from salesgenie.errors import first_line
from salesgenie.server import serving_openapi
from salesgenie.server.auth import DOCUMENTED_BEARER
from salesgenie.server.errors import ApiError, not_found
from salesgenie.server.metrics import observe_invocation
from salesgenie.server.serving_openapi import FORMATS
from salesgenie.server.store import now_ms

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import PyFuncModel

log = logging.getLogger(__name__)

ENDPOINT = "weekly_forecast"
ENDPOINT_ID = uuid.uuid5(uuid.NAMESPACE_URL, f"salesgenie/serving-endpoints/{ENDPOINT}").hex
ALIAS_CHECK_S = 2.0  # how stale the champion may be: one registry read per this, not per call
SERVED_MODEL_HEADER = "served-model-name"
BAD_REQUEST = "BAD_REQUEST"
MAX_MESSAGE = 300
MAX_ROWS = 10_000  # series per call: more is a batch job (`salesgenie pipeline publish`)
# Raised by the registry when the model or its alias does not exist.
_NOT_REGISTERED = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
# MLflow's schema errors quote the whole input before the cause: keep the cause.
_ENFORCE = re.compile(r"with schema '[^\n]*?'\. Error: (.+)", re.DOTALL)
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "long": (int,),
    "integer": (int,),
    "double": (int, float),
    "float": (int, float),
    "string": (str,),
    "boolean": (bool,),
}


def _bad_request(message: str) -> ApiError:
    return ApiError(400, BAD_REQUEST, message[:MAX_MESSAGE])


def served_name(model_name: str, version: str) -> str:
    """Databricks' default served-entity name: the model's own name, a dash, its version."""
    return f"{model_name.rsplit('.', 1)[-1]}-{version}"


@dataclass(frozen=True)
class ServedVersion:
    """One loaded version of the champion and what the endpoint says about it."""

    model_name: str
    version: str
    model: PyFuncModel
    serving_example: dict[str, Any] | None  # the request MLflow saved with the model
    loaded_ms: int

    @property
    def name(self) -> str:
        return served_name(self.model_name, self.version)


class Champion:
    """The registered model's champion, loaded once and reloaded when the alias moves.

    The alias is read at most every `check_every_s` seconds. Concurrent first calls wait for one
    load (a lock); later, while one call reloads a moved alias, the others keep being answered by
    the version already loaded. The registry is reached through its own client, so the server
    never changes mlflow's process-wide tracking URI.
    """

    def __init__(self, tracking_uri: str, check_every_s: float = ALIAS_CHECK_S) -> None:
        self.tracking_uri = tracking_uri
        self.check_every_s = check_every_s
        self.created_ms = now_ms()
        self._lock = threading.Lock()
        self._client: MlflowClient | None = None
        self._model_name: str | None = None
        self._served: ServedVersion | None = None
        self._problem: ApiError | None = None  # why nothing is served
        self._failed: tuple[str, str] | None = None  # (version, why) the last load that failed
        self._checked_at = float("-inf")

    @property
    def model_name(self) -> str:
        """The training job's default registered model (imported late: it pulls in pandas)."""
        if self._model_name is None:
            from pipeline.train import TrainParams

            self._model_name = TrainParams.register_as
        return self._model_name

    def get(self, max_age_s: float | None = None) -> ServedVersion:
        """The version to serve, the alias read if the last read is older than max_age_s."""
        max_age = self.check_every_s if max_age_s is None else max_age_s
        if time.monotonic() - self._checked_at >= max_age:
            # Block only when there is nothing to serve meanwhile, or when asked for fresh news.
            wait = self._served is None or max_age == 0
            if self._lock.acquire(blocking=wait):
                try:
                    if time.monotonic() - self._checked_at >= max_age:
                        self._refresh()
                finally:
                    self._lock.release()
        served, problem = self._served, self._problem
        if served is None:
            assert problem is not None
            raise ApiError(problem.status, problem.error_code, problem.message)
        return served

    def _registry(self) -> MlflowClient:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(
                tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri
            )
        return self._client

    def _refresh(self) -> None:
        """Read the alias; load its version if it is not the one served. Holds the lock."""
        from mlflow.exceptions import MlflowException

        from pipeline.tracking import CHAMPION

        name = self.model_name
        try:
            version = str(self._registry().get_model_version_by_alias(name, CHAMPION).version)
        except MlflowException as exc:
            if exc.error_code not in _NOT_REGISTERED:
                self._registry_down(exc)
                return
            # The problem first: a call reading without the lock sees it once nothing is served.
            self._problem = ApiError(
                404,
                "RESOURCE_DOES_NOT_EXIST",
                f"no model registered as {name}@{CHAMPION} in {self.tracking_uri}: "
                "run `salesgenie pipeline train`",
            )
            self._served, self._failed = None, None
        except Exception as exc:  # e.g. a database the registry cannot open
            self._registry_down(exc)
            return
        else:
            if self._served is None or self._served.version != version:
                self._load(name, version)
        self._checked_at = time.monotonic()

    def _registry_down(self, exc: Exception) -> None:
        """Keep serving what is loaded; with nothing loaded, say the registry is unreachable."""
        log.warning("model registry %s unreachable: %s", self.tracking_uri, first_line(exc))
        self._problem = ApiError(
            503,
            "TEMPORARILY_UNAVAILABLE",
            f"the model registry {self.tracking_uri} is unreachable: {first_line(exc)}",
        )
        self._checked_at = time.monotonic()

    def _load(self, name: str, version: str) -> None:
        import mlflow

        started = time.perf_counter()
        try:
            uri = self._registry().get_model_version_download_uri(name, version)
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=uri, tracking_uri=self.tracking_uri
            )
            model = mlflow.pyfunc.load_model(path)
            example = model.metadata.get_serving_input(path)
        except Exception as exc:
            log.exception("could not load %s version %s", name, version)
            why = f"{name} version {version} could not be loaded: {first_line(exc)}"
            self._failed = (version, why)
            if self._served is None:
                self._problem = ApiError(500, "INTERNAL_ERROR", why[:MAX_MESSAGE])
            return
        self._served = ServedVersion(
            name, version, model, json.loads(example) if example else None, now_ms()
        )
        self._problem, self._failed = None, None
        log.info(
            "serving %s version %s (loaded in %.2f s)", name, version, time.perf_counter() - started
        )

    def invoke(self, body: bytes) -> tuple[ServedVersion, str]:
        """The version that answered and its answer (one trip to the thread pool per call)."""
        served = self.get()
        return served, score(served, body)

    def describe(self) -> dict[str, Any]:
        """ServingEndpointDetailed: the alias read now, its version loaded if it moved."""
        try:
            served: ServedVersion | None = self.get(0)
            problem = None
        except ApiError as exc:
            served, problem = None, exc
        failed = self._failed
        if served is not None:
            entities = [self._entity(served.name, served.version, "DEPLOYMENT_READY", "")]
        else:
            assert problem is not None
            short = self.model_name.rsplit(".", 1)[-1]
            entities = [self._entity(short, None, "DEPLOYMENT_FAILED", problem.message)]
        endpoint: dict[str, Any] = {
            "name": ENDPOINT,
            "id": ENDPOINT_ID,
            "creator": "salesgenie",
            "creation_timestamp": self.created_ms,
            "last_updated_timestamp": served.loaded_ms if served else self.created_ms,
            "description": f"Weekly sales forecasts from the champion of {self.model_name}",
            "route_optimized": False,
            "state": {
                "ready": "READY" if served else "NOT_READY",
                "config_update": "UPDATE_FAILED" if failed else "NOT_UPDATING",
            },
            "config": self._config(entities, served.version if served else None),
        }
        if failed and served:  # the endpoint stays on the old version, as Databricks' does
            version, why = failed
            pending = self._entity(
                served_name(self.model_name, version), version, "DEPLOYMENT_FAILED", why
            )
            endpoint["pending_config"] = self._config([pending], version)
        return endpoint

    def _entity(
        self, name: str, version: str | None, deployment: str, message: str
    ) -> dict[str, Any]:
        return {
            "name": name,
            "entity_name": self.model_name,
            "entity_version": version,
            "state": {"deployment": deployment, "deployment_state_message": message},
        }

    @staticmethod
    def _config(entities: list[dict[str, Any]], version: str | None) -> dict[str, Any]:
        """served_entities, and the deprecated served_models older clients read."""
        return {
            "config_version": int(version) if version and version.isdigit() else None,
            "served_entities": entities,
            "served_models": [
                {
                    "name": e["name"],
                    "model_name": e["entity_name"],
                    "model_version": e["entity_version"],
                    "state": e["state"],
                }
                for e in entities
            ],
            "traffic_config": {
                "routes": [
                    {"served_model_name": e["name"], "traffic_percentage": 100} for e in entities
                ]
            },
        }


def score(served: ServedVersion, body: bytes) -> str:
    """The JSON answer to an invocations body: {"predictions": [records]}, or an ApiError:
    400 for input the endpoint or the model rejects, 500 when the model itself fails."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad_request(f"malformed JSON body: {exc}") from None
    if not isinstance(payload, dict):
        raise _bad_request("the body must be a JSON object with one of " + ", ".join(FORMATS))
    unknown = sorted(set(payload) - {*FORMATS, "params"})
    given = [fmt for fmt in FORMATS if fmt in payload]
    if unknown:
        raise _bad_request(f"unknown field {unknown[0]!r}: send one of {', '.join(FORMATS)}")
    if len(given) != 1:
        found = " and ".join(given) if given else "none"
        raise _bad_request(f"send exactly one of {', '.join(FORMATS)} (got {found})")
    frame = _frame(served, given[0], payload[given[0]])
    params = _params(served, payload.get("params"))
    from mlflow.exceptions import MlflowException

    try:
        predictions = served.model.predict(frame, params=params)
    except MlflowException as exc:  # MLflow's schema checks and the model's own rejections
        raise _bad_request(_predict_message(exc)) from None
    except Exception as exc:  # the model crashed: a bug to fix, not the caller's fault
        log.exception("%s failed on a request", served.name)
        message = f"{served.name} failed on this input: {first_line(exc)}"
        raise ApiError(500, "INTERNAL_ERROR", message[:MAX_MESSAGE]) from None
    import pandas as pd

    records = pd.DataFrame(predictions).to_json(orient="records", date_format="iso", date_unit="s")
    return f'{{"predictions": {records}}}'


def _frame(served: ServedVersion, fmt: str, value: Any) -> pd.DataFrame:
    """The rows as a DataFrame, typed by the signature; a 400 naming a wrong shape or column."""
    import numpy as np
    import pandas as pd
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    schema = served.model.metadata.get_input_schema()
    names = schema.input_names()
    takes = f"the model takes {', '.join(names)}"
    try:
        data = infer_and_parse_data({fmt: value}, schema)
        if isinstance(data, dict) and all(np.ndim(v) == 0 for v in data.values()):
            data = [data]  # one row given as an object
        shaped = isinstance(data, (pd.DataFrame, dict, list))
        frame = pd.DataFrame(data) if shaped else None
    except Exception as exc:
        raise _bad_request(f"{fmt}: {first_line(exc).removeprefix('Invalid input. ')}") from None
    if frame is None or not all(isinstance(c, str) for c in frame.columns):
        raise _bad_request(f"{fmt}: rows must be objects keyed by column name ({takes})")
    unknown = [c for c in frame.columns if c not in names]
    if unknown:
        raise _bad_request(f"unknown column {unknown[0]!r}: {takes}")
    missing = [c for c in schema.required_input_names() if c not in frame.columns]
    if missing:
        raise _bad_request(f"missing column {missing[0]!r}: every row needs it")
    if frame.empty:
        raise _bad_request(f"{fmt}: no rows to forecast")
    if len(frame) > MAX_ROWS:
        raise _bad_request(f"{fmt}: {len(frame):,} rows, at most {MAX_ROWS:,} per call")
    return frame


def _params(served: ServedVersion, params: Any) -> dict[str, Any] | None:
    """Params checked against the signature first, for a message plainer than MLflow's."""
    if params is None:
        return None
    specs = served.model.metadata.get_params_schema()
    names = [spec.name for spec in specs.params] if specs else []
    if not isinstance(params, dict):
        raise _bad_request('params must be an object such as {"horizon": 3}')
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise _bad_request(f"unknown param {unknown[0]!r}: the model takes {', '.join(names)}")
    for spec in specs.params if specs else []:
        value = params.get(spec.name)
        allowed = _PYTHON_TYPES.get(spec.dtype.name)
        if value is None or allowed is None:
            continue
        if isinstance(value, bool) != (bool in allowed) or not isinstance(value, allowed):
            kind = "an integer" if int in allowed and float not in allowed else spec.dtype.name
            raise _bad_request(f"params.{spec.name} must be {kind}, got {value!r}")
    return params


def _predict_message(exc: MlflowException) -> str:
    """One line naming the problem: the model's own message, or the cause MLflow wrapped."""
    enforced = _ENFORCE.search(exc.message)
    return first_line(ValueError(enforced.group(1))) if enforced else first_line(exc)


def install_serving(app: FastAPI, tracking_uri: str) -> None:
    """Mount the invocations and endpoint-description routes over the champion model."""
    champion = Champion(tracking_uri)
    app.state.serving = champion
    router = APIRouter(tags=["model serving"], dependencies=DOCUMENTED_BEARER)

    def endpoint(name: str) -> None:
        if name != ENDPOINT:
            raise not_found("serving endpoint", name)

    @router.post(
        "/serving-endpoints/{name}/invocations",
        summary="Forecast series with the champion model",
        openapi_extra={"requestBody": serving_openapi.generic_request_body()},
    )
    async def invocations(name: str, request: Request) -> Response:
        """Rows in one of MLflow's formats, `params.horizon` in weeks; the exact schema of the
        served version is at /api/2.0/serving-endpoints/weekly_forecast/openapi."""
        endpoint(name)
        started = time.perf_counter()
        status = 500
        try:
            body = await request.body()
            served, content = await run_in_threadpool(champion.invoke, body)
            status = 200
        except ApiError as exc:
            status = exc.status
            raise
        finally:
            observe_invocation(ENDPOINT, time.perf_counter() - started, status)
        return Response(
            content, media_type="application/json", headers={SERVED_MODEL_HEADER: served.name}
        )

    @router.get("/api/2.0/serving-endpoints", summary="List serving endpoints")
    def list_endpoints() -> dict[str, Any]:
        return {"endpoints": [champion.describe()]}

    @router.get("/api/2.0/serving-endpoints/{name}", summary="Get a serving endpoint")
    def get_endpoint(name: str) -> dict[str, Any]:
        endpoint(name)
        return champion.describe()

    @router.get(
        "/api/2.0/serving-endpoints/{name}/openapi",
        summary="The endpoint's request and response as an OpenAPI 3.0 document",
    )
    def openapi(name: str, request: Request) -> dict[str, Any]:
        endpoint(name)
        from pipeline.forecast_model import MAX_HORIZON

        served = champion.get()
        return serving_openapi.endpoint_document(
            server_url=str(request.base_url).rstrip("/"),
            endpoint=ENDPOINT,
            model_name=served.model_name,
            version=served.version,
            served_name=served.name,
            signature=served.model.metadata.signature,
            example=served.serving_example,
            max_horizon=MAX_HORIZON,
        )

    app.include_router(router)
