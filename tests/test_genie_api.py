"""The Genie-compatible API on a real uvicorn server (tests/live_server.py),
driven by the unmodified databricks-sdk client and by httpx.

The server reads the shared demo warehouse (read-only) and keeps its conversations in a store
file of the test's own, so the session's demo directory is never written to.
"""

import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from console_script import run_salesgenie
from databricks.sdk import WorkspaceClient
from databricks.sdk.service.dashboards import MessageStatus, TextAttachmentPurpose
from live_server import LiveServer, live_server

from agent.core import SEED_QUESTION
from agent.inputs import MAX_QUESTION_CHARS
from salesgenie.errors import SalesgenieError
from salesgenie.server.auth import check_bind
from salesgenie.server.store import ConversationStore

SPACE = "sales-forecast"
SPACES = "/api/2.0/genie/spaces"
CLARIFY = "forecast for etorki rape"  # several products match: the parser asks back
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def workspace(app_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> WorkspaceClient:
    """The SDK exactly as a Genie user builds it; no Databricks settings leak in."""
    for name in list(os.environ):
        if name.startswith(("DATABRICKS_", "ARM_", "AZURE_", "GOOGLE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", "/nonexistent")  # no ~/.databrickscfg
    return WorkspaceClient(host=app_server.url, token="t")


def _query(message: Any) -> Any:
    return next(a for a in message.attachments if a.query is not None)


def test_sdk_round_trip(workspace: WorkspaceClient) -> None:
    started = time.perf_counter()
    first = workspace.genie.start_conversation_and_wait(SPACE, SEED_QUESTION)
    first_s = time.perf_counter() - started
    assert first.status == MessageStatus.COMPLETED, first
    assert first_s < 1.0, f"the offline answer should be there at the first poll ({first_s:.2f}s)"
    query = _query(first)
    assert query.query.id == query.attachment_id
    assert "ETORKI" in query.query.query.upper() and query.query.description
    assert query.query.query_result_metadata.row_count > 10

    follow = workspace.genie.create_message_and_wait(SPACE, first.conversation_id, "and for FR01?")
    assert follow.status == MessageStatus.COMPLETED, follow
    assert follow.conversation_id == first.conversation_id
    follow_query = _query(follow)
    assert "FR01" in follow_query.query.query and "ETORKI" in follow_query.query.query.upper()

    result = workspace.genie.get_message_attachment_query_result(
        SPACE, first.conversation_id, follow.message_id, follow_query.attachment_id
    ).statement_response
    columns = result.manifest.schema.columns
    assert all(c.type_name is not None and c.type_text for c in columns)
    types = {c.name: c.type_name.value for c in columns}
    assert types["date"] == "DATE" and types["sales"] == "DOUBLE", types
    assert [c.position for c in columns] == list(range(len(columns)))
    rows = result.result.data_array
    assert (
        len(rows) == result.result.row_count == follow_query.query.query_result_metadata.row_count
    )
    assert all(v is None or isinstance(v, str) for row in rows for v in row)
    assert any(v is None for row in rows for v in row)  # model is NULL on train rows

    space = workspace.genie.get_space(SPACE)
    assert space.title and space.description and space.create_time is not None
    assert [s.space_id for s in workspace.genie.list_spaces().spaces] == [SPACE]


def test_sdk_visualization_execute_and_feedback(
    workspace: WorkspaceClient, app_server: LiveServer
) -> None:
    from databricks.sdk.service.dashboards import GenieFeedbackRating

    message = workspace.genie.start_conversation_and_wait(
        SPACE, SEED_QUESTION, enable_visualization=True
    )
    cid, mid = message.conversation_id, message.message_id
    viz = next(a for a in message.attachments if a.viz is not None)
    assert viz.viz.query_attachment_id == _query(message).attachment_id
    name = f"spaces/{SPACE}/conversations/{cid}/messages/{mid}/attachments/{viz.attachment_id}"
    png = workspace.genie.download_message_attachment_visualization(name).contents.read()
    assert png.startswith(PNG)

    query_id = _query(message).attachment_id
    again = workspace.genie.execute_message_attachment_query(SPACE, cid, mid, query_id)
    first = workspace.genie.get_message_attachment_query_result(SPACE, cid, mid, query_id)
    assert again.statement_response.result.data_array == first.statement_response.result.data_array
    assert again.statement_response.statement_id == first.statement_response.statement_id

    workspace.genie.send_message_feedback(
        SPACE, cid, mid, GenieFeedbackRating.NEGATIVE, comment="wrong colours"
    )
    stored = workspace.genie.get_message(SPACE, cid, mid).feedback
    assert stored.rating == GenieFeedbackRating.NEGATIVE and stored.comment == "wrong colours"
    assert app_server.app.state.genie.store.feedback(mid) == [("NEGATIVE", "wrong colours")]


def test_clarification_is_a_follow_up_question(workspace: WorkspaceClient) -> None:
    message = workspace.genie.start_conversation_and_wait(SPACE, CLARIFY)
    assert message.status == MessageStatus.COMPLETED
    [text] = [a.text for a in message.attachments if a.text is not None]
    assert text.purpose == TextAttachmentPurpose.FOLLOW_UP_QUESTION
    assert "which one?" in text.content and "\n- BRIDEL EMMENTAL RAPE 1KG X6 FR" in text.content


def test_space_list_and_get(client: httpx.Client) -> None:
    space = client.get(f"{SPACES}/{SPACE}").json()
    assert space["space_id"] == SPACE and space["warehouse_id"]
    assert space["create_time"].endswith("Z") and space["update_time"].endswith("Z")
    assert "prd_sales.gold.sales_overall" in [t["name"] for t in space["tables"]]
    assert space["suggested_questions"]
    assert client.get(SPACES).json() == {"spaces": [space]}
    assert client.get("/.well-known/databricks-config").status_code == 200


def test_message_lifecycle_over_http(client: httpx.Client) -> None:
    started = client.post(f"{SPACES}/{SPACE}/start-conversation", json={"content": "Etorki"})
    body = started.json()
    assert started.status_code == 200 and body["conversation"]["conversation_id"]
    assert body["message"]["status"] == "COMPLETED"
    message = client.get(
        f"{SPACES}/{SPACE}/conversations/{body['conversation_id']}/messages/{body['message_id']}"
    ).json()
    assert isinstance(message["created_timestamp"], int)
    assert message["last_updated_timestamp"] >= message["created_timestamp"]
    assert message == body["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/nope/start-conversation",
        f"/{SPACE}/conversations/nope/messages",
    ],
)
def test_unknown_space_or_conversation_is_404(client: httpx.Client, path: str) -> None:
    method = "GET" if path == "/nope" else "POST"
    response = client.request(method, SPACES + path, json={"content": "Etorki"})
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "nope" in response.json()["message"]


def test_unknown_message_and_attachment_are_404(client: httpx.Client) -> None:
    body = client.post(f"{SPACES}/{SPACE}/start-conversation", json={"content": "Etorki"}).json()
    conversation = f"{SPACES}/{SPACE}/conversations/{body['conversation_id']}"
    message = f"{conversation}/messages/{body['message_id']}"
    for path in (
        f"{conversation}/messages/nope",
        f"{message}/attachments/nope/query-result",
        f"{message}/attachments/nope/download-visualization",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", path
    response = client.get("/api/2.0/nothing-here")
    assert response.status_code == 404 and set(response.json()) == {"error_code", "message"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"content": "Etorki"', "malformed JSON"),
        (b"{}", "content"),
        (b'{"content": 42}', "content"),
        (b'{"content": "   "}', "empty"),
        (f'{{"content": "{"x" * (MAX_QUESTION_CHARS + 1)}"}}'.encode(), "too long"),
    ],
)
def test_bad_bodies_are_400(client: httpx.Client, content: bytes, expected: str) -> None:
    response = client.post(
        f"{SPACES}/{SPACE}/start-conversation",
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert expected in response.json()["message"]


def test_slow_answers_stay_executing_until_done(
    client: httpx.Client, app_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = app_server.app.state.genie
    release = threading.Event()
    ask = service.agent.ask

    def slow(*args: Any, **kwargs: Any) -> Any:
        release.wait(10)
        return ask(*args, **kwargs)

    monkeypatch.setattr(service, "answer_wait_s", 0.05)
    monkeypatch.setattr(service.agent, "ask", slow)
    body = client.post(f"{SPACES}/{SPACE}/start-conversation", json={"content": "Etorki"}).json()
    url = f"{SPACES}/{SPACE}/conversations/{body['conversation_id']}/messages/{body['message_id']}"
    assert body["message"]["status"] in ("SUBMITTED", "EXECUTING_QUERY")
    assert client.get(url).json()["status"] == "EXECUTING_QUERY"
    release.set()
    deadline = time.monotonic() + 10
    while (status := client.get(url).json()["status"]) != "COMPLETED":
        assert status == "EXECUTING_QUERY" and time.monotonic() < deadline
        time.sleep(0.02)


def test_failed_answers_are_failed_with_an_error(client: httpx.Client) -> None:
    body = client.post(
        f"{SPACES}/{SPACE}/start-conversation", json={"content": "sales of Etorki\x1b[2J"}
    ).json()
    assert body["message"]["status"] == "FAILED"
    assert "control character" in body["message"]["error"]["error"]
    assert body["message"]["error"]["type"] == "INVALID_COMPLETION_REQUEST_EXCEPTION"


def test_token_required_when_configured(demo_workdir: Path, tmp_path: Path) -> None:
    with live_server(demo_workdir, tmp_path / "c.sqlite", token="s3cret") as running:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            response = httpx.get(f"{running.url}{SPACES}", headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error_code"] == "UNAUTHENTICATED"
        good = httpx.get(f"{running.url}{SPACES}", headers={"Authorization": "Bearer s3cret"})
        assert good.status_code == 200
        assert httpx.get(f"{running.url}/.well-known/databricks-config").status_code == 200
        sdk = WorkspaceClient(host=running.url, token="s3cret")
        assert sdk.genie.get_space(SPACE).space_id == SPACE


def test_refuses_non_loopback_without_token(tmp_path: Path) -> None:
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "s3cret")
    with pytest.raises(SalesgenieError, match="SALESGENIE_TOKEN"):
        check_bind("0.0.0.0", None)
    done = run_salesgenie(
        "serve", "--host", "0.0.0.0", cwd=tmp_path, unset_env=["SALESGENIE_TOKEN"], timeout=60
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "refusing" in done.stderr


def test_conversations_survive_a_restart(demo_workdir: Path, tmp_path: Path) -> None:
    store = tmp_path / "conversations.sqlite"
    with live_server(demo_workdir, store) as first:
        body = httpx.post(
            f"{first.url}{SPACES}/{SPACE}/start-conversation", json={"content": SEED_QUESTION}
        ).json()
        conversation = f"{SPACES}/{SPACE}/conversations/{body['conversation_id']}"
        url = f"{conversation}/messages/{body['message_id']}"
        before = httpx.get(first.url + url).json()
        httpx.post(first.url + url + "/feedback", json={"rating": "POSITIVE"})
    with live_server(demo_workdir, store) as second:
        after = httpx.get(second.url + url).json()
        assert after["attachments"] == before["attachments"]
        assert after["feedback"] == {"rating": "POSITIVE"}
        follow = httpx.post(
            f"{second.url}{conversation}/messages", json={"content": "and for FR01?"}
        ).json()
        query = next(a["query"] for a in follow["attachments"] if "query" in a)
        assert "FR01" in query["query"] and "ETORKI" in query["query"].upper()


def test_unfinished_answers_fail_on_restart(tmp_path: Path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite")
    conversation = store.create_conversation(SPACE, "t")
    message = store.add_message(conversation.conversation_id, SPACE, "Etorki")
    store.close()
    reopened = ConversationStore(tmp_path / "c.sqlite")
    again = reopened.message(message.message_id)
    reopened.close()
    assert again is not None and again.status == "FAILED" and "restarted" in again.error["error"]


def test_a_store_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    garbage = tmp_path / "c.sqlite"
    garbage.write_bytes(b"not a database, just bytes " * 100)
    with pytest.raises(SalesgenieError, match=r"cannot open the conversation store .*c\.sqlite"):
        ConversationStore(garbage)
