"""The `weekly_forecast` model-serving endpoint on a real uvicorn server (tests/live_server.py),
driven by the unmodified databricks-sdk client and by httpx.

The server serves the demo's registered champion; its answers are compared with the forecasts
the pipeline published in gold.sales_overall. Tests that move the alias work on a copy of the
demo directory.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.serving import EndpointStateConfigUpdate, EndpointStateReady
from live_server import LiveServer, live_server

from pipeline.forecast_model import MAX_HORIZON
from pipeline.tracking import CHAMPION
from pipeline.train import TrainParams
from salesgenie.server.serving import ALIAS_CHECK_S, ENDPOINT, MAX_ROWS, served_name

MODEL = TrainParams.register_as
INVOCATIONS = f"/serving-endpoints/{ENDPOINT}/invocations"
DESCRIPTION = f"/api/2.0/serving-endpoints/{ENDPOINT}"


def _registry(workdir: Path) -> Any:
    from mlflow import MlflowClient

    uri = f"sqlite:///{workdir / 'data' / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@pytest.fixture(scope="module")
def published(demo_workdir: Path) -> dict[str, list[dict[str, Any]]]:
    """The forecast rows the pipeline published, per series, read before any server opens the
    warehouse."""
    path = demo_workdir / "data" / "prd_sales.duckdb"
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            "SELECT timeseries_id, strftime(date, '%Y-%m-%dT%H:%M:%S') AS date, model, "
            "sales, sales_lower, sales_upper FROM prd_sales.gold.sales_overall "
            "WHERE type = 'predict' AND timeseries_id IN "
            "(SELECT timeseries_id FROM prd_sales.gold.mapping_timeseries_id_product) "
            "ORDER BY timeseries_id, date"
        ).df()
    assert len(rows), "the demo published no forecast"
    return {ts: group.to_dict("records") for ts, group in rows.groupby("timeseries_id")}


@pytest.fixture(scope="module")
def app_server(published: dict[str, Any], app_server: LiveServer) -> LiveServer:
    """conftest's server, opened after `published` read the warehouse (one process cannot hold
    the file open read-only twice with different settings)."""
    return app_server


def _sdk(url: str, token: str, monkeypatch: pytest.MonkeyPatch) -> WorkspaceClient:
    """The SDK exactly as a user builds it; no Databricks settings leak in."""
    for name in list(os.environ):
        if name.startswith(("DATABRICKS_", "ARM_", "AZURE_", "GOOGLE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", "/nonexistent")  # no ~/.databrickscfg
    return WorkspaceClient(host=url, token=token)


def test_sdk_describes_and_queries_the_endpoint(
    app_server: LiveServer,
    published: dict[str, list[dict[str, Any]]],
    demo_workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = _sdk(app_server.url, "t", monkeypatch)
    champion = _registry(demo_workdir).get_model_version_by_alias(MODEL, CHAMPION).version

    assert [e.name for e in w.serving_endpoints.list()] == [ENDPOINT]
    endpoint = w.serving_endpoints.get(ENDPOINT)
    assert endpoint.state.ready == EndpointStateReady.READY
    assert endpoint.state.config_update == EndpointStateConfigUpdate.NOT_UPDATING
    (entity,) = endpoint.config.served_entities
    assert (entity.entity_name, entity.entity_version) == (MODEL, str(champion))
    assert entity.name == served_name(MODEL, str(champion))
    assert endpoint.config.served_models[0].model_version == str(champion)

    for ts_id, rows in published.items():
        answer = w.serving_endpoints.query(
            name=ENDPOINT, dataframe_records=[{"timeseries_id": ts_id}]
        )
        assert answer.served_model_name == entity.name
        assert [(p["date"], p["model"]) for p in answer.predictions] == [
            (r["date"], r["model"]) for r in rows
        ]
        for got, want in zip(answer.predictions, rows, strict=True):
            assert got["timeseries_id"] == ts_id
            assert got["forecast"] == pytest.approx(want["sales"])
            assert got["forecast_lower_95"] == pytest.approx(want["sales_lower"])
            assert got["forecast_upper_95"] == pytest.approx(want["sales_upper"])

    # The SDK's query() has no params: they go through its API client.
    ids = sorted(published)
    body = {"dataframe_records": [{"timeseries_id": i} for i in ids], "params": {"horizon": 5}}
    five = w.api_client.do("POST", INVOCATIONS, body=body)["predictions"]
    assert [p["timeseries_id"] for p in five] == [i for i in ids for _ in range(5)]

    document = json.loads(w.serving_endpoints.get_open_api(ENDPOINT).contents.read())
    assert document["openapi"] == "3.0.3" and document["info"]["version"] == str(champion)


def test_every_series_answers_short_horizons(
    client: httpx.Client, published: dict[str, list[dict[str, Any]]]
) -> None:
    rows = [{"timeseries_id": ts_id} for ts_id in published]
    for horizon in (1, 2):
        response = client.post(
            INVOCATIONS, json={"dataframe_records": rows, "params": {"horizon": horizon}}
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == horizon * len(rows)


# Each body asks for the same two series (the second from its third week) in another format.
FORMAT_BODIES = {
    "dataframe_split": lambda a, b, start: {
        "dataframe_split": {
            "columns": ["timeseries_id", "start_date"],
            "data": [[a, None], [b, start]],
        }
    },
    "dataframe_split with index": lambda a, b, start: {
        "dataframe_split": {
            "index": [7, 8],
            "columns": ["timeseries_id", "start_date"],
            "data": [[a, None], [b, start]],
        }
    },
    "dataframe_records": lambda a, b, start: {
        "dataframe_records": [{"timeseries_id": a}, {"timeseries_id": b, "start_date": start}]
    },
    "instances": lambda a, b, start: {
        "instances": [
            {"timeseries_id": a, "start_date": None},
            {"timeseries_id": b, "start_date": start},
        ]
    },
    "inputs as records": lambda a, b, start: {
        "inputs": [
            {"timeseries_id": a, "start_date": None},
            {"timeseries_id": b, "start_date": start},
        ]
    },
    "inputs as columns": lambda a, b, start: {
        "inputs": {"timeseries_id": [a, b], "start_date": [None, start]}
    },
}


def test_every_input_format_gives_the_same_predictions(
    client: httpx.Client, published: dict[str, list[dict[str, Any]]]
) -> None:
    a, b = sorted(published)[:2]
    start = published[b][2]["date"][:10]
    answers = {}
    for fmt, make in FORMAT_BODIES.items():
        response = client.post(INVOCATIONS, json={**make(a, b, start), "params": {"horizon": 4}})
        assert response.status_code == 200, (fmt, response.text)
        assert response.headers["content-type"] == "application/json"
        answers[fmt] = response.json()["predictions"]
    expected = answers["dataframe_records"]
    assert [p["timeseries_id"] for p in expected] == [a] * 4 + [b] * 2
    assert expected[4]["date"][:10] == start
    assert {fmt: rows for fmt, rows in answers.items()} == dict.fromkeys(answers, expected)


ONE = {"timeseries_id": "FR01_100001"}
BAD_INPUTS: list[tuple[str, Any, str]] = [
    # (case, body as JSON text or object, what the message must name)
    ("malformed JSON", '{"dataframe_records": [', "malformed JSON body"),
    ("not an object", "[1, 2]", "must be a JSON object"),
    ("no format", {"params": {"horizon": 2}}, "send exactly one of dataframe_split"),
    ("two formats", {"dataframe_records": [ONE], "instances": [ONE]}, "got dataframe_records and"),
    ("unknown field", {"dataframe_records": [ONE], "param": {}}, "unknown field 'param'"),
    (
        "unknown series",
        {"dataframe_records": [{"timeseries_id": "XX99_1"}]},
        "unknown timeseries_id: XX99_1",
    ),
    (
        "missing column",
        {"dataframe_records": [{"start_date": "2025-09-01"}]},
        "missing column 'timeseries_id'",
    ),
    (
        "unknown column",
        {"dataframe_records": [{**ONE, "start_dat": "2025-09-01"}]},
        "unknown column 'start_dat'",
    ),
    (
        "empty series id",
        {"dataframe_records": [{"timeseries_id": None}]},
        "timeseries_id must not be empty",
    ),
    ("no rows", {"dataframe_split": {"columns": ["timeseries_id"], "data": []}}, "no rows"),
    ("too many rows", {"dataframe_records": [ONE] * (MAX_ROWS + 1)}, f"at most {MAX_ROWS:,}"),
    ("records not a list", {"dataframe_records": ONE}, "must be a list of records"),
    ("split without data", {"dataframe_split": {"columns": ["timeseries_id"]}}, "must have 'data'"),
    (
        "split widths differ",
        {"dataframe_split": {"columns": ["timeseries_id"], "data": [["a", "b"]]}},
        "1 columns passed",
    ),
    ("rows not objects", {"instances": ["FR01_100001"]}, "rows must be objects"),
    ("bad date", {"dataframe_records": [{**ONE, "start_date": "someday"}]}, "start_date"),
    (
        "dates reversed",
        {"dataframe_records": [{**ONE, "start_date": "2025-09-15", "end_date": "2025-09-01"}]},
        "start_date is after end_date",
    ),
    (
        "horizon text",
        {"dataframe_records": [ONE], "params": {"horizon": "two"}},
        "params.horizon must be an integer",
    ),
    (
        "horizon fraction",
        {"dataframe_records": [ONE], "params": {"horizon": 2.5}},
        "params.horizon must be an integer",
    ),
    (
        "horizon zero",
        {"dataframe_records": [ONE], "params": {"horizon": 0}},
        "horizon must be between 1",
    ),
    (
        "horizon too far",
        {"dataframe_records": [ONE], "params": {"horizon": MAX_HORIZON + 1}},
        f"between 1 and {MAX_HORIZON}",
    ),
    (
        "unknown param",
        {"dataframe_records": [ONE], "params": {"horizn": 2}},
        "unknown param 'horizn'",
    ),
    (
        "params not an object",
        {"dataframe_records": [ONE], "params": [2]},
        "params must be an object",
    ),
]


@pytest.mark.parametrize(("case", "body", "names"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_a_400_naming_the_problem(
    client: httpx.Client, case: str, body: Any, names: str
) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    response = client.post(
        INVOCATIONS, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error_code"] == "BAD_REQUEST"
    assert names in error["message"] and "\n" not in error["message"]


def test_unknown_endpoint_is_a_404(client: httpx.Client) -> None:
    for method, path in (
        ("POST", "/serving-endpoints/nope/invocations"),
        ("GET", "/api/2.0/serving-endpoints/nope"),
        ("GET", "/api/2.0/serving-endpoints/nope/openapi"),
    ):
        response = client.request(method, path, json={"dataframe_records": [ONE]})
        assert response.status_code == 404, path
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


@pytest.fixture
def copied_workdir(demo_workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the demo directory whose registry a test may change. MLflow's registry looks
    logged models up through the process-wide tracking URI, so that points at the copy too."""
    workdir = tmp_path / "demo"
    shutil.copytree(demo_workdir, workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{workdir / 'data' / 'mlflow.db'}")
    return workdir


def _served_by(client: httpx.Client, ts_id: str) -> str:
    response = client.post(INVOCATIONS, json={"dataframe_records": [{"timeseries_id": ts_id}]})
    assert response.status_code == 200, response.text
    return response.headers["served-model-name"]


def test_a_moved_alias_is_served_without_a_restart(
    copied_workdir: Path, published: dict[str, Any], tmp_path: Path
) -> None:
    registry = _registry(copied_workdir)
    first = registry.get_model_version_by_alias(MODEL, CHAMPION)
    ts_id = next(iter(published))
    first_version = str(first.version)
    with (
        live_server(copied_workdir, tmp_path / "c.sqlite") as running,
        httpx.Client(base_url=running.url, timeout=60) as client,
    ):
        assert _served_by(client, ts_id) == served_name(MODEL, first_version)
        second = registry.create_model_version(MODEL, source=first.source, run_id=first.run_id)
        second_version = str(second.version)
        registry.set_registered_model_alias(MODEL, CHAMPION, second_version)

        # The description reads the alias at once; the next call is then served by the new one.
        entity = client.get(DESCRIPTION).json()["config"]["served_entities"][0]
        assert entity["entity_version"] == second_version
        assert _served_by(client, ts_id) == served_name(MODEL, second_version)

        # Invocations alone notice a move within ALIAS_CHECK_S.
        registry.set_registered_model_alias(MODEL, CHAMPION, first_version)
        deadline = time.monotonic() + ALIAS_CHECK_S + 10
        while _served_by(client, ts_id) != served_name(MODEL, first_version):
            assert time.monotonic() < deadline, "the alias move was not noticed"
            time.sleep(0.2)

        # No champion: not ready, and calls say how to get one.
        registry.delete_registered_model_alias(MODEL, CHAMPION)
        endpoint = client.get(DESCRIPTION).json()
        assert endpoint["state"]["ready"] == "NOT_READY"
        message = endpoint["config"]["served_entities"][0]["state"]["deployment_state_message"]
        assert "salesgenie pipeline train" in message
        response = client.post(INVOCATIONS, json={"dataframe_records": [{"timeseries_id": ts_id}]})
        assert response.status_code == 404
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
        assert f"{MODEL}@{CHAMPION}" in response.json()["message"]


def test_concurrent_first_calls_load_the_champion_once(
    demo_workdir: Path, published: dict[str, Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    body = {"dataframe_records": [{"timeseries_id": next(iter(published))}]}
    caplog.set_level(logging.INFO, logger="salesgenie.server.serving")
    with (
        live_server(demo_workdir, tmp_path / "c.sqlite") as running,
        ThreadPoolExecutor(8) as pool,
    ):
        url = f"{running.url}{INVOCATIONS}"
        responses = list(pool.map(lambda _: httpx.post(url, json=body, timeout=60), range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    loads = [r for r in caplog.records if r.getMessage().startswith("serving ")]
    assert len(loads) == 1, [r.getMessage() for r in loads]


def test_bearer_token_guards_the_endpoint(
    demo_workdir: Path,
    published: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = {"dataframe_records": [{"timeseries_id": next(iter(published))}]}
    with live_server(demo_workdir, tmp_path / "c.sqlite", token="s3cret") as running:
        for path in (INVOCATIONS, DESCRIPTION, f"{DESCRIPTION}/openapi"):
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                response = httpx.post(f"{running.url}{path}", json=body, headers=headers)
                assert response.status_code == 401, (path, headers)
                assert response.json()["error_code"] == "UNAUTHENTICATED"
        w = _sdk(running.url, "s3cret", monkeypatch)
        assert w.serving_endpoints.query(
            name=ENDPOINT, dataframe_records=body["dataframe_records"]
        ).predictions
        assert w.serving_endpoints.get(ENDPOINT).state.ready == EndpointStateReady.READY
