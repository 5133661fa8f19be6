"""An OpenAI-compatible chat completions server on 127.0.0.1 that replays scripted answers in
the real wire format, so the real openai client and langchain parse them.

Shared by the LLM backend tests and the agent-through-the-LLM tests (the `server` fixture lives
in conftest.py).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

QUESTION = (
    "Please show a graphic with sales for product Etorki and the prediction from the model, "
    "on a line plot. Please differentiate colors for train (actual) and predict."
)
ETORKI_SQL = (
    "SELECT o.date, o.type, SUM(o.sales) AS sales FROM prd_sales.gold.sales_overall AS o "
    "JOIN prd_sales.gold.mapping_timeseries_id_product AS m ON o.timeseries_id = m.timeseries_id "
    "WHERE m.product = 'ETORKI PORT 250G FAMILIAL X8 FR' GROUP BY o.date, o.type "
    "ORDER BY o.date, o.type"
)
ETORKI_CHART = {
    "kind": "line",
    "x": "date",
    "y": "sales",
    "color": "type",
    "dashed": ["predict"],
    "title": "ETORKI PORT 250G FAMILIAL X8 FR: sales and forecast",
    "x_label": "Week",
    "y_label": "Units",
}
EMPTY = {"error": {"message": "no scripted reply left", "type": "server_error"}}
USAGE = {"prompt_tokens": 4321, "completion_tokens": 87, "total_tokens": 4408}


class FakeOpenAI:
    """POST /v1/chat/completions (or /chat/completions) answering each request with the next
    scripted reply: {"plan": {...}} as a tool call (or as JSON content when the request asks
    for response_format), {"content": "..."}, {"status": 500, "body": {...}} or
    {"sleep": seconds}. Every request is recorded with its headers."""

    def __init__(self) -> None:
        self.script: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()  # ends scripted sleeps at teardown
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path not in ("/v1/chat/completions", "/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        **body,
                    }
                )
                reply = fake.script.pop(0) if fake.script else {"status": 500, "body": EMPTY}
                if "sleep" in reply:
                    fake.release.wait(reply["sleep"])
                    reply = {"plan": {"status": "unanswerable", "message": "too late"}}
                if "status" in reply:
                    self._send(reply["status"], reply["body"])
                else:
                    self._send(200, _completion(body, reply))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/v1"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def _completion(request: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion as OpenAI sends it: the plan as a call of the requested tool, or as
    message content for json_schema / json_mode requests."""
    message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
    finish = "stop"
    if "content" in reply:
        message["content"] = reply["content"]
    elif request.get("tools"):
        name = request["tools"][0]["function"]["name"]
        arguments = json.dumps(reply["plan"])
        message["tool_calls"] = [
            {"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}
        ]
        finish = "tool_calls"
    else:
        message["content"] = json.dumps(reply["plan"])
    return {
        "id": f"chatcmpl-{len(request['messages'])}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": USAGE,
        "system_fingerprint": None,
    }


def sql_reply(sql: str, chart: dict[str, Any] | None = None) -> dict[str, Any]:
    """A scripted reply: a plan with status sql, its chart and a one-sentence message."""
    return {"plan": {"status": "sql", "sql": sql, "chart": chart, "message": "Weekly units."}}
