"""/metrics in Prometheus' format: requests, questions and model-serving invocations.

The metrics live at module level in prometheus_client's default REGISTRY, defined once at
import. One `salesgenie serve` process runs one app, so one registry is the process's truth:
the service and the serving endpoint count through plain functions (`observe_answer`,
`observe_invocation`) without an app or registry handed to them, and the process collectors
(CPU, memory, open files, GC) come along. Several apps in one test process share the counters;
tests read them as deltas.

Requests are counted by a pure ASGI middleware, the outermost after Starlette's error handler,
so 401s from the bearer check and 500s from crashes are counted too. It labels by the matched
route's template, never by the raw path (ids would make the series unbounded); a request no
route matched (404, 401 before routing, a slash redirect) is labelled `<unmatched>`.
"""

from __future__ import annotations

from time import perf_counter

from fastapi import FastAPI, Request
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.exposition import choose_encoder
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.answer import Answer

UNMATCHED = "<unmatched>"
# Other methods collapse into one label value: a client must not mint series at will.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# From a cached page (ms) through an offline answer (tens of ms) to an LLM answer (tens of s).
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)

HTTP_REQUESTS = Counter(
    "salesgenie_http_requests",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "salesgenie_http_request_duration_seconds",
    "Time from a request's arrival to its last response byte handed to the server.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
QUESTIONS = Counter(
    "salesgenie_questions",
    "Questions the Genie space answered, by the agent's backend and the answer's status.",
    ["backend", "status"],
)
QUESTION_DURATION = Histogram(
    "salesgenie_question_duration_seconds",
    "The agent's time to answer one question (plan, SQL, chart, sentence).",
    ["backend"],
    buckets=LATENCY_BUCKETS,
)
QUESTION_EXCEPTIONS = Counter(
    "salesgenie_question_exceptions",
    "Messages whose answering raised in the server (stored as FAILED, "
    "UNEXPECTED_REPLY_PROCESS_EXCEPTION); the agent's own failures are status=error answers.",
)
SERVING_LATENCY = Histogram(
    "salesgenie_serving_latency_seconds",
    "Model-serving invocations by endpoint and status class (2xx, 4xx, 5xx).",
    ["endpoint", "status"],
    buckets=LATENCY_BUCKETS,
)


def observe_answer(answer: Answer) -> None:
    """Count one agent answer and its latency (the service calls this as each one is made)."""
    backend = answer.backend or "none"  # refused before any backend planned (e.g. bad input)
    QUESTIONS.labels(backend, answer.status).inc()
    QUESTION_DURATION.labels(backend).observe(answer.elapsed_ms / 1000)


def observe_question_exception() -> None:
    """Count a message the server failed to answer: a bug or a broken store, not the agent.

    Separate from `salesgenie_questions_total` so a question whose answer was counted and
    then failed to be stored is not counted twice."""
    QUESTION_EXCEPTIONS.inc()


def observe_invocation(endpoint: str, seconds: float, status: int) -> None:
    """Time one model-serving invocation. `endpoint` must be a served endpoint's name, never an
    unchecked path segment: each distinct value is a new series."""
    SERVING_LATENCY.labels(endpoint, f"{status // 100}xx").observe(seconds)


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled by route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        status = 500  # what Starlette's error handler sends if the app raises before replying
        recorded = False

        def record() -> None:
            nonlocal recorded
            recorded = True
            method = scope["method"] if scope["method"] in METHODS else "other"
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(perf_counter() - start)

        async def send_recording(message: Message) -> None:
            # Recorded before the last body part leaves, so a client that has read the response
            # always finds it counted in its next scrape.
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
            elif kind == "http.response.body" and not message.get("more_body"):
                record()
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            if not recorded:  # the app raised, or the client left before the last body part
                record()


async def metrics_endpoint(request: Request) -> Response:
    """The registry in the format the scraper asks for (OpenMetrics or Prometheus text)."""
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(REGISTRY), media_type=content_type)


def install_metrics(app: FastAPI) -> None:
    """Count and time every request; expose the registry at /metrics (outside the API docs,
    open without the bearer token: it holds counts, no data)."""
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False)
    app.add_middleware(MetricsMiddleware)
