"""The Slack bot on a real uvicorn server (tests/live_server.py), driven the way Slack drives it.

Requests are signed here with the signing secret (v0, HMAC-SHA256); Slack's Web API is played by
a local server on 127.0.0.1 that records every call (chat.postMessage, the three calls of
files_upload_v2, response_url posts). Assertions are on what the user would see: the messages,
their blocks, the uploaded PNG, and where they went (channel, thread).
"""

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from console_script import SALESGENIE
from live_server import LiveServer, live_server

from agent.core import SEED_QUESTION
from salesgenie.server.slack import Recent, plain_text

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"
BOT = "UBOT"
PNG = b"\x89PNG\r\n\x1a\n"


class SlackApi:
    """Slack's Web API, locally: answers like Slack, records every call.

    AsyncWebClient sends form parameters in the query string and chat.postMessage as JSON;
    both end up in a call's `params`. `fail[method] = error` makes that method answer
    `{"ok": false, "error": error}`.
    """

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.uploads: dict[str, bytes] = {}
        self.responses: list[dict[str, Any]] = []  # posts to a command's response_url
        self.fail: dict[str, str] = {}
        self._lock = threading.Lock()
        self._serial = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                url = urlsplit(self.path)
                if url.path.startswith("/upload/"):
                    api.uploads[url.path.removeprefix("/upload/")] = body
                    self._send("text/plain", f"OK - {len(body)}".encode())
                elif url.path.startswith("/respond/"):
                    api.responses.append(json.loads(body))
                    self._send("text/plain", b"ok")
                else:
                    params: dict[str, Any] = dict(parse_qsl(url.query))
                    if "json" in self.headers.get("Content-Type", ""):
                        params.update(json.loads(body))
                    else:
                        params.update(parse_qsl(body.decode()))
                    method = url.path.removeprefix("/api/")
                    reply = api.reply(method, params, self.headers.get("Authorization"))
                    self._send("application/json", json.dumps(reply).encode())

            def _send(self, content_type: str, payload: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reply(self, method: str, params: dict[str, Any], auth: str | None) -> dict[str, Any]:
        with self._lock:
            self._serial += 1
            serial = self._serial
            reply = self._reply(method, params, serial)
            self.calls.append({"method": method, "params": params, "auth": auth, "reply": reply})
        return reply

    def _reply(self, method: str, params: dict[str, Any], serial: int) -> dict[str, Any]:
        if method in self.fail:
            return {"ok": False, "error": self.fail[method]}
        if method == "auth.test":
            return {"ok": True, "user_id": BOT, "bot_id": "BBOT", "team_id": "T1", "user": "sg"}
        if method == "chat.postMessage":
            return {"ok": True, "channel": params["channel"], "ts": f"1700000000.{serial:06d}"}
        if method == "files.getUploadURLExternal":
            file_id = f"F{serial}"
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.url}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            return {"ok": True, "files": json.loads(params["files"])}
        return {"ok": False, "error": "unknown_method"}

    def posts(self, channel: str, thread_ts: str | None = None) -> list[dict[str, Any]]:
        """Messages posted into the channel (and thread: None means top level), each with the
        `ts` Slack gave it; refused posts are not there, as the user never sees them."""
        return [
            {**c["params"], "ts": c["reply"]["ts"]}
            for c in self.calls
            if c["method"] == "chat.postMessage"
            and c["reply"]["ok"]
            and c["params"]["channel"] == channel
            and c["params"].get("thread_ts") == thread_ts
        ]

    def completed_uploads(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [
            c["params"]
            for c in self.calls
            if c["method"] == "files.completeUploadExternal"
            and c["params"]["channel_id"] == channel
            and c["params"]["thread_ts"] == thread_ts
        ]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def slack_api() -> Iterator[SlackApi]:
    api = SlackApi()
    yield api
    api.close()


@pytest.fixture(scope="module")
def bot_server(
    demo_workdir: Path, tmp_path_factory: pytest.TempPathFactory, slack_api: SlackApi
) -> Iterator[LiveServer]:
    store = tmp_path_factory.mktemp("slack") / "conversations.sqlite"
    with live_server(
        demo_workdir,
        store,
        slack_signing_secret=SECRET,
        slack_bot_token=TOKEN,
        slack_api_url=f"{slack_api.url}/api/",
    ) as running:
        yield running


@pytest.fixture
def slack(bot_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=bot_server.url, timeout=30) as http:
        yield http


@pytest.fixture(autouse=True)
def _no_failures(slack_api: SlackApi) -> Iterator[None]:
    yield
    slack_api.fail.clear()


def signed(body: bytes, stamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
    """Slack's headers: v0= HMAC-SHA256 of `v0:{timestamp}:{body}` under the signing secret."""
    stamp = int(time.time()) if stamp is None else stamp
    digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
    }


def event_body(event: dict[str, Any], event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "token": "unused",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
            "event_time": int(time.time()),
            "event": event,
        }
    ).encode()


def new_ts() -> str:
    return f"{time.time():.6f}"


def mention(text: str, channel: str = "C1", thread_ts: str | None = None) -> dict[str, Any]:
    event = {"type": "app_mention", "user": "U1", "text": f"<@{BOT}> {text}", "channel": channel}
    event["ts"] = new_ts()
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def send_event(slack: httpx.Client, body: bytes, **headers: str) -> httpx.Response:
    extra = {name.replace("_", "-"): value for name, value in headers.items()}
    return slack.post(
        "/slack/events",
        content=body,
        headers={"Content-Type": "application/json", **signed(body), **extra},
    )


def send_command(
    slack: httpx.Client, slack_api: SlackApi, text: str, channel: str
) -> httpx.Response:
    body = urlencode(
        {
            "token": "unused",
            "team_id": "T1",
            "channel_id": channel,
            "channel_name": "sales",
            "user_id": "U2",
            "command": "/forecast",
            "text": text,
            "response_url": f"{slack_api.url}/respond/{uuid.uuid4().hex}",
            "trigger_id": uuid.uuid4().hex,
            "api_app_id": "A1",
        }
    ).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signed(body)}
    return slack.post("/slack/commands", content=body, headers=headers)


def wait_idle(server: LiveServer, timeout_s: float = 30) -> None:
    """Until the bot has no answer in flight (listeners start them before Slack is acked)."""
    deadline = time.monotonic() + timeout_s
    while server.app.state.slack.tasks:
        assert time.monotonic() < deadline, "the bot did not finish answering"
        time.sleep(0.02)


def texts(post: dict[str, Any]) -> list[str]:
    """What the user reads: each block's text."""
    return [block["text"]["text"] for block in post.get("blocks") or []] or [post["text"]]


@pytest.fixture
def ask(slack: httpx.Client, bot_server: LiveServer, slack_api: SlackApi) -> Any:
    """Mention the bot in channel C1 (a thread when given); the replies in the thread."""

    def run(question: str, thread_ts: str | None = None) -> tuple[str, list[dict[str, Any]]]:
        event = mention(question, thread_ts=thread_ts)
        started = time.perf_counter()
        response = send_event(slack, event_body(event))
        assert response.status_code == 200, response.text
        assert time.perf_counter() - started < 3, "Slack must be acked within 3 seconds"
        wait_idle(bot_server)
        thread = thread_ts or event["ts"]
        return thread, slack_api.posts("C1", thread)

    return run


def test_url_verification_echoes_the_challenge(slack: httpx.Client) -> None:
    body = json.dumps({"type": "url_verification", "token": "x", "challenge": "c-123"}).encode()
    response = send_event(slack, body)
    assert response.status_code == 200
    assert response.json() == {"challenge": "c-123"}


def test_forged_unsigned_and_stale_requests_get_401(slack: httpx.Client) -> None:
    body = event_body(mention("top 5 products by forecast"))
    forged = signed(body, secret="not-the-secret")
    stale = signed(body, stamp=int(time.time()) - 6 * 60)
    for headers in (forged, stale, {}):
        response = slack.post(
            "/slack/events", content=body, headers={"Content-Type": "application/json", **headers}
        )
        assert response.status_code == 401, headers


def test_replayed_request_gets_401_and_no_second_answer(
    ask: Any, slack: httpx.Client, slack_api: SlackApi, bot_server: LiveServer
) -> None:
    event = mention("top 5 products by forecast")
    body = event_body(event)
    headers = {"Content-Type": "application/json", **signed(body)}
    assert slack.post("/slack/events", content=body, headers=headers).status_code == 200
    wait_idle(bot_server)
    replay = slack.post("/slack/events", content=body, headers=headers)
    assert replay.status_code == 401
    wait_idle(bot_server)
    assert len(slack_api.posts("C1", event["ts"])) == 1


def test_mention_answers_in_the_thread_with_sql_table_and_chart(
    ask: Any, slack_api: SlackApi
) -> None:
    thread, posts = ask(SEED_QUESTION)
    assert len(posts) == 1, posts
    sentence, sql, table = texts(posts[0])
    assert "etorki" in sentence.lower() and not sentence.startswith("Sorry"), sentence
    assert posts[0]["text"] == sentence  # the notification says the same
    assert sql.startswith("```") and sql.endswith("```") and "sales_overall" in sql
    header, rule, *rows = table.split("```")[1].splitlines()
    assert "week" in header.lower() or "date" in header.lower(), header
    assert set(rule) <= {"-", " "} and len(rows) == 10
    assert table.split("```")[2].strip().startswith("… ") and "more rows" in table

    [upload] = slack_api.completed_uploads("C1", thread)
    [file] = json.loads(upload["files"])
    assert slack_api.uploads[file["id"]].startswith(PNG)
    assert "etorki" in file["title"].lower()


def test_follow_up_in_the_thread_continues_the_conversation(ask: Any) -> None:
    thread, _ = ask(SEED_QUESTION)
    _, posts = ask("and for FR01?", thread_ts=thread)
    assert len(posts) == 2, posts
    sql = texts(posts[1])[1]
    assert "FR01" in sql and "ETORKI" in sql.upper(), sql


def test_slack_retry_of_a_taken_event_is_acked_and_not_answered_again(
    ask: Any, slack: httpx.Client, slack_api: SlackApi, bot_server: LiveServer
) -> None:
    event = mention("top 5 products by forecast")
    event_id = f"Ev{uuid.uuid4().hex[:10]}"
    assert send_event(slack, event_body(event, event_id)).status_code == 200
    wait_idle(bot_server)
    time.sleep(1.01)  # Slack signs a retry afresh: a later timestamp, so a new signature
    retry = send_event(
        slack,
        event_body(event, event_id),
        X_Slack_Retry_Num="1",
        X_Slack_Retry_Reason="http_timeout",
    )
    assert retry.status_code == 200
    wait_idle(bot_server)
    assert len(slack_api.posts("C1", event["ts"])) == 1


def test_direct_message_is_answered_and_bot_messages_are_not(
    slack: httpx.Client, slack_api: SlackApi, bot_server: LiveServer
) -> None:
    question = {"type": "message", "channel_type": "im", "channel": "D1", "user": "U1"}
    question |= {"text": "top 5 products by forecast", "ts": new_ts()}
    from_bot = {**question, "ts": new_ts(), "bot_id": "BOTHER", "subtype": "bot_message"}
    in_channel = {**question, "ts": new_ts(), "channel_type": "channel", "channel": "C9"}
    for event in (question, from_bot, in_channel):
        assert send_event(slack, event_body(event)).status_code == 200
    wait_idle(bot_server)
    [answer] = slack_api.posts("D1", question["ts"])
    assert "```" in texts(answer)[1] and "LIMIT 5" in texts(answer)[1]
    assert slack_api.posts("D1", from_bot["ts"]) == [] and slack_api.posts("C9", None) == []
    assert slack_api.posts("C9", in_channel["ts"]) == []


def test_forecast_command_answers_in_the_channel_and_its_thread_takes_follow_ups(
    ask: Any, slack: httpx.Client, slack_api: SlackApi, bot_server: LiveServer
) -> None:
    response = send_command(slack, slack_api, "top 5 products by forecast", channel="C2")
    assert response.status_code == 200
    assert response.text.startswith("Working on it")  # shown to the asker only
    wait_idle(bot_server)
    [answer] = slack_api.posts("C2", None)
    intro, sentence, sql, table = texts(answer)
    assert intro == "<@U2> asked: _top 5 products by forecast_"
    assert "LIMIT 5" in sql and "more row" not in table

    follow = mention("and for FR01?", channel="C2", thread_ts=answer["ts"])
    assert send_event(slack, event_body(follow)).status_code == 200
    wait_idle(bot_server)
    [reply] = slack_api.posts("C2", answer["ts"])
    assert "FR01" in texts(reply)[1] and "LIMIT 5" in texts(reply)[1]


def test_forecast_command_without_a_question_shows_usage(
    ask: Any, slack: httpx.Client, slack_api: SlackApi
) -> None:
    before = len(slack_api.calls)
    response = send_command(slack, slack_api, "   ", channel="C3")
    assert response.status_code == 200
    assert "/forecast weekly sales of Etorki" in response.text
    assert len(slack_api.calls) == before


def test_question_outside_the_data_gets_a_friendly_reply(ask: Any) -> None:
    _, posts = ask("what is the weather in Paris")
    [reply] = posts
    first, *rest = texts(reply)
    assert first and not first.startswith("Sorry")
    assert rest and rest[-1].startswith("You could ask:\n• ")


def test_failed_answer_is_told_not_silenced(ask: Any) -> None:
    _, posts = ask("weekly sales of Etorki\x07")  # the agent refuses control characters
    [reply] = posts
    assert reply["text"].startswith("Sorry, I couldn't answer that: question contains a control")


def test_empty_mention_gets_usage(ask: Any) -> None:
    _, posts = ask("")
    [reply] = posts
    assert reply["text"].startswith("Ask me about sales and forecasts")


def test_chart_upload_failure_still_answers_and_says_so(ask: Any, slack_api: SlackApi) -> None:
    slack_api.fail["files.getUploadURLExternal"] = "ratelimited"
    thread, posts = ask(SEED_QUESTION)
    answer, notice = posts
    assert "sales_overall" in texts(answer)[1]
    assert notice["text"] == "I couldn't attach the chart (ratelimited)."
    assert slack_api.completed_uploads("C1", thread) == []


def test_failing_post_reaches_the_user_through_response_url(
    ask: Any, slack: httpx.Client, slack_api: SlackApi, bot_server: LiveServer
) -> None:
    slack_api.fail["chat.postMessage"] = "not_in_channel"
    responses = len(slack_api.responses)
    response = send_command(slack, slack_api, "top 5 products by forecast", channel="C4")
    assert response.status_code == 200
    wait_idle(bot_server)
    [told] = slack_api.responses[responses:]
    assert told["text"].startswith("Sorry, I couldn't answer that")
    assert told["response_type"] == "ephemeral"


def test_routes_are_off_without_the_secrets(demo_workdir: Path, tmp_path: Path) -> None:
    with live_server(demo_workdir, tmp_path / "c.sqlite", slack_bot_token=TOKEN) as running:
        with httpx.Client(base_url=running.url) as http:
            for path in ("/slack/events", "/slack/commands"):
                assert http.post(path, content=b"{}").status_code == 404
        notice = "Slack bot off (/slack/events, /slack/commands): set SLACK_SIGNING_SECRET"
        assert notice in running.app.state.notices


def test_routes_are_off_when_the_environment_selects_oauth(
    demo_workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_CLIENT_ID", "1.2")
    monkeypatch.setenv("SLACK_CLIENT_SECRET", "s")
    secrets = {"slack_signing_secret": SECRET, "slack_bot_token": TOKEN}
    with live_server(demo_workdir, tmp_path / "c.sqlite", **secrets) as running:
        with httpx.Client(base_url=running.url) as http:
            assert http.post("/slack/events", content=b"{}").status_code == 404
        [notice] = running.app.state.notices
        assert "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET" in notice and "unset them" in notice


def test_shutdown_waits_for_answers_in_flight_and_threads_outlive_a_restart(
    demo_workdir: Path, tmp_path: Path, slack_api: SlackApi
) -> None:
    event = mention(SEED_QUESTION, channel="C5")
    options = {
        "slack_signing_secret": SECRET,
        "slack_bot_token": TOKEN,
        "slack_api_url": f"{slack_api.url}/api/",
    }
    store = tmp_path / "c.sqlite"
    with (
        live_server(demo_workdir, store, **options) as running,
        httpx.Client(base_url=running.url) as http,
    ):
        assert send_event(http, event_body(event)).status_code == 200
    # stopped at once: the answer was still posted, its chart uploaded, before the store closed
    [answer] = slack_api.posts("C5", event["ts"])
    assert "sales_overall" in texts(answer)[1]
    assert len(slack_api.completed_uploads("C5", event["ts"])) == 1

    follow_up = mention("and for FR01?", channel="C5", thread_ts=event["ts"])
    with (
        live_server(demo_workdir, store, **options) as restarted,
        httpx.Client(base_url=restarted.url) as http,
    ):
        assert send_event(http, event_body(follow_up)).status_code == 200
        wait_idle(restarted)
    sql = texts(slack_api.posts("C5", event["ts"])[1])[1]
    assert "FR01" in sql and "ETORKI" in sql.upper(), sql


def test_slack_markup_is_read_as_plain_text() -> None:
    text = "<@UBOT>  sales &gt; 100 &amp; more in <#C1|paris>, see <https://x.example|the page>"
    assert plain_text(text) == "sales > 100 & more in #paris, see the page"
    assert plain_text("<!here> <@U1> top 5 <mailto:a@b.c>") == "top 5 mailto:a@b.c"


def test_recent_forgets_after_its_ttl() -> None:
    now = [0.0]
    recent = Recent(ttl_s=10, clock=lambda: now[0])
    assert recent.add("a") and not recent.add("a")
    now[0] = 9.9
    assert not recent.add("a") and recent.add("b")
    now[0] = 10.0
    assert recent.add("a") and not recent.add("b")


def test_serve_says_at_start_that_the_bot_is_off(demo_workdir: Path, tmp_path: Path) -> None:
    """The console script, as a user starts it without Slack's secrets: one line says why.
    On a copy of the warehouse: the server creates its conversation store beside it."""
    (tmp_path / "data").mkdir()
    shutil.copy(demo_workdir / "data" / "prd_sales.duckdb", tmp_path / "data")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SALESGENIE_"))}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [str(SALESGENIE), "serve", "--port", str(port), "--backend", "offline"]
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        first_line = process.stderr.readline()
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert "Slack bot off" in first_line, first_line
    assert "SLACK_SIGNING_SECRET" in first_line and "SLACK_BOT_TOKEN" in first_line, first_line
