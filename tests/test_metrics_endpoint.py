"""/metrics on a real server: requests by route template and status, latency histograms,
questions by backend and status, model-serving latency; and the Grafana dashboard's queries
name only what /metrics exposes.

The metrics live in the process-wide registry, shared with every app this test session
creates, so counts are compared before and after.
"""

import json
import re
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from live_server import live_server
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from salesgenie.server import metrics

SPACES = "/api/2.0/genie/spaces"
START = SPACES + "/{space_id}/start-conversation"
MESSAGE = SPACES + "/{space_id}/conversations/{conversation_id}/messages/{message_id}"
DASHBOARD = Path(metrics.__file__).with_name("grafana_dashboard.json")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client) -> tuple[str, Samples]:
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }
    return response.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_requests_and_questions_are_counted(client: httpx.Client) -> None:
    _, before = scrape(client)
    started = client.post(
        f"{SPACES}/sales-forecast/start-conversation",
        json={"content": "top 5 products by forecast"},
    )
    assert started.status_code == 200 and started.json()["message"]["status"] == "COMPLETED"
    conversation_id = started.json()["conversation_id"]
    missing = f"{SPACES}/sales-forecast/conversations/{conversation_id}0/messages/nope"
    assert client.get(missing).status_code == 404
    malformed = client.post(
        f"{SPACES}/sales-forecast/start-conversation",
        content=b'{"content": "Etorki"',
        headers={"Content-Type": "application/json"},
    )
    assert malformed.status_code == 400
    assert client.get("/no/such/page").status_code == 404
    text, after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "salesgenie_http_requests_total"
    assert delta(requests, method="POST", route=START, status="200") == 1
    assert delta(requests, method="POST", route=START, status="400") == 1
    assert delta(requests, method="GET", route=MESSAGE, status="404") == 1
    assert delta(requests, method="GET", route=metrics.UNMATCHED, status="404") == 1
    assert delta(requests, method="GET", route="/metrics", status="200") == 1  # the first scrape
    duration = "salesgenie_http_request_duration_seconds"
    assert delta(f"{duration}_count", method="POST", route=START) == 2
    assert delta(f"{duration}_count", method="GET", route=MESSAGE) == 1
    assert delta(f"{duration}_bucket", method="GET", route=MESSAGE, le="+Inf") == 1
    assert delta(f"{duration}_sum", method="POST", route=START) > 0
    assert delta("salesgenie_questions_total", backend="offline", status="ok") == 1
    assert delta("salesgenie_question_duration_seconds_count", backend="offline") == 1
    assert conversation_id not in text and "/no/such/page" not in text  # templates, not paths


def test_content_type_is_negotiated(client: httpx.Client) -> None:
    plain = client.get("/metrics")
    assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE salesgenie_http_requests_total counter" in plain.text
    openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_serving_invocations_are_timed(client: httpx.Client) -> None:
    name = "salesgenie_serving_latency_seconds_count"
    document = client.get("/api/2.0/serving-endpoints/weekly_forecast/openapi").json()
    invocations = "/serving-endpoints/weekly_forecast/invocations"
    body = document["paths"][invocations]["post"]["requestBody"]["content"]["application/json"]
    _, before = scrape(client)
    assert client.post(invocations, json=body["example"]).status_code == 200
    assert client.post(invocations, json={"dataframe_records": []}).status_code == 400
    _, after = scrape(client)
    for status in ("2xx", "4xx"):
        labels = {"endpoint": "weekly_forecast", "status": status}
        assert value(after, name, **labels) - value(before, name, **labels) == 1, status
    route = {"method": "POST", "route": "/serving-endpoints/{name}/invocations", "status": "200"}
    total = "salesgenie_http_requests_total"
    assert value(after, total, **route) - value(before, total, **route) == 1


def test_crashes_and_odd_methods_are_counted() -> None:
    """A route that raises is a 500 under its template; an unknown method is "other"."""
    app = FastAPI()

    @app.get("/boom/{n}")
    def boom(n: int) -> None:
        raise RuntimeError(f"boom {n}")

    metrics.install_metrics(app)
    name = "salesgenie_http_requests_total"
    crashed = {"method": "GET", "route": "/boom/{n}", "status": "500"}
    odd = {"method": "other", "route": metrics.UNMATCHED, "status": "404"}
    before = [REGISTRY.get_sample_value(name, labels) or 0.0 for labels in (crashed, odd)]
    with TestClient(app, raise_server_exceptions=False) as http:
        assert http.get("/boom/7").status_code == 500
        assert http.request("BREW", "/coffee").status_code == 404
    after = [REGISTRY.get_sample_value(name, labels) for labels in (crashed, odd)]
    assert after == [before[0] + 1, before[1] + 1]


def test_dashboard_queries_name_exposed_metrics(client: httpx.Client) -> None:
    """Every PromQL expression of the dashboard selects a metric /metrics exposes, by labels it
    has."""
    metrics.observe_invocation("weekly_forecast", 0.01, 200)  # a labelled series exists once used
    client.post(f"{SPACES}/sales-forecast/start-conversation", json={"content": "Etorki"})
    _, samples = scrape(client)
    labels_of: dict[str, set[str]] = {}
    for name, labels in samples:
        labels_of.setdefault(name, set()).update(label for label, _ in labels)
    expressions = [
        target["expr"]
        for panel in json.loads(DASHBOARD.read_text())["panels"]
        for target in panel["targets"]
    ]
    assert expressions
    for expr in expressions:
        selected = re.findall(r"([a-zA-Z_:][\w:]*)\s*[{\[]", expr)
        assert selected and all(name in labels_of for name in selected), expr
        used = set(re.findall(r"(\w+)\s*=~?", expr))
        for group in re.findall(r"by \(([^)]*)\)", expr):
            used |= {label.strip() for label in group.split(",")}
        assert used <= set().union(*(labels_of[name] for name in selected)), expr


def test_metrics_are_open_when_a_token_guards_the_api(demo_workdir: Path, tmp_path: Path) -> None:
    """Prometheus scrapes without the token; the 401s it refuses are counted, unrouted."""
    unauthorised = {"method": "GET", "route": metrics.UNMATCHED, "status": "401"}
    name = "salesgenie_http_requests_total"
    before = REGISTRY.get_sample_value(name, unauthorised) or 0.0
    with live_server(demo_workdir, tmp_path / "c.sqlite", token="s3cret") as running:
        assert httpx.get(f"{running.url}{SPACES}").status_code == 401
        assert httpx.get(f"{running.url}/metrics").status_code == 200
    assert REGISTRY.get_sample_value(name, unauthorised) == before + 1
