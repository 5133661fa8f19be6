"""The documents the server publishes: the `weekly_forecast` endpoint's OpenAPI 3.0 document
(validated, its schema agreeing with what the endpoint accepts, fuzzed with schemathesis) and
Swagger UI at /docs, served without the internet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_server import LiveServer, live_server
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from schemathesis import GenerationMode

from salesgenie.server.serving import ENDPOINT

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DOCUMENT = f"/api/2.0/serving-endpoints/{ENDPOINT}/openapi"
INVOCATIONS = f"/serving-endpoints/{ENDPOINT}/invocations"


@pytest.fixture(scope="module")
def server(demo_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """With a token, as a server reachable beyond loopback runs (the document declares it)."""
    store = tmp_path_factory.mktemp("openapi") / "conversations.sqlite"
    with live_server(demo_workdir, store, token=TOKEN) as running:
        yield running


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def document(http: httpx.Client) -> dict[str, Any]:
    response = http.get(DOCUMENT)
    assert response.status_code == 200, response.text
    return response.json()


def _validator(document: dict[str, Any], name: str) -> OAS30Validator:
    """A validator for one component schema, its $refs resolved inside the document."""
    return OAS30Validator({"$ref": f"#/components/schemas/{name}", **document})


def test_document_is_valid_openapi_3_0(document: dict[str, Any], server: LiveServer) -> None:
    validate(document)  # raises on any violation of the 3.0 specification
    assert document["openapi"] == "3.0.3"
    assert document["servers"] == [{"url": server.url}]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    operation = document["paths"][INVOCATIONS]["post"]
    assert {"200", "400"} <= set(operation["responses"])
    row = document["components"]["schemas"]["Row"]
    assert row["required"] == ["timeseries_id"]
    assert set(row["properties"]) == {"timeseries_id", "start_date", "end_date"}
    horizon = document["components"]["schemas"]["Params"]["properties"]["horizon"]
    assert horizon["type"] == "integer" and horizon["default"] >= 1


def test_schema_agrees_with_the_endpoint(document: dict[str, Any], http: httpx.Client) -> None:
    """Bodies the schema accepts are answered, with a response the schema describes; bodies it
    rejects the endpoint rejects too."""
    request, response = (
        _validator(document, "InvocationRequest"),
        _validator(document, "InvocationResponse"),
    )
    example = document["paths"][INVOCATIONS]["post"]["requestBody"]["content"]["application/json"][
        "example"
    ]
    ts_id = example["dataframe_split"]["data"][0][0]  # the request MLflow saved with the model
    row = {"timeseries_id": ts_id, "start_date": "2025-09-08"}
    accepted = [
        example,
        {"dataframe_split": {"columns": ["timeseries_id"], "data": [[ts_id]]}},
        {"dataframe_records": [row], "params": {"horizon": 4}},
        {"instances": [row]},
        {"inputs": [row]},
        {"inputs": {"timeseries_id": [ts_id], "end_date": ["2025-09-08"]}},
    ]
    for body in accepted:
        request.validate(body)
        answer = http.post(INVOCATIONS, json=body)
        assert answer.status_code == 200, (body, answer.text)
        response.validate(answer.json())
    rejected = [
        {"dataframe_records": [row], "instances": [row]},
        {"dataframe_records": [{**row, "start_dat": "2025-09-08"}]},
        {"dataframe_records": [{"start_date": "2025-09-08"}]},
        {"dataframe_records": []},
        {"dataframe_records": [row], "params": {"horizon": 0}},
        {"dataframe_records": [row], "params": {"horizn": 3}},
    ]
    for body in rejected:
        assert not request.is_valid(body), body
        answer = http.post(INVOCATIONS, json=body)
        assert answer.status_code == 400, (body, answer.text)
        _validator(document, "Error").validate(answer.json())


def test_schemathesis_finds_no_server_errors(server: LiveServer) -> None:
    """Schemathesis' checks on generated bodies, valid and invalid: never a 5xx, responses as
    documented, invalid bodies rejected, the token enforced. Not "valid bodies accepted": whether
    a series exists or dates are in order is data a schema cannot state. (Its pytest fixture
    loader needs an older pytest than ours, so the strategy runs under hypothesis directly.)"""
    config = schemathesis.Config.from_dict(
        {"checks": {"positive_data_acceptance": {"enabled": False}}}
    )
    schema = schemathesis.openapi.from_url(f"{server.url}{DOCUMENT}", config=config, headers=AUTH)
    strategy = st.one_of(
        schema.as_strategy(generation_mode=GenerationMode.POSITIVE),
        schema.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=strategy)
    def call(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=AUTH)

    call()


def test_swagger_ui_is_served_offline(http: httpx.Client) -> None:
    page = http.get("/docs")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert not re.search(r"https?://", page.text), "the page names another origin"
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) >= 3  # script, style sheet, icon
    for asset in assets:
        assert asset.startswith("/"), asset
        response = http.get(asset)
        assert response.status_code == 200 and len(response.content) > 1000, asset
    spec = http.get(re.search(r"url: '([^']+)'", page.text).group(1)).json()
    assert INVOCATIONS.replace(ENDPOINT, "{name}") in spec["paths"]
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
