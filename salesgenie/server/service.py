"""The Genie space behind the API: questions in, stored answers out, in Genie's terms.

A message is answered on a worker thread. The request that posted it awaits it up to
`answer_wait_s` for the answer, so an offline answer (tens of milliseconds) is COMPLETED before
the client's first poll, while an LLM answer leaves the message EXECUTING_QUERY until it is
done. Status mapping: ok, clarification and unanswerable are COMPLETED (the last two as a text
attachment); rejected and error are FAILED with Genie's `error {error, type}`.

Follow-ups: each answered turn (question and plan) is stored with its message, and a message
rebuilds its conversation from the store, so follow-ups work the same after a restart. A stored
turn that no longer parses (the plan format changed) is skipped: the question is then answered
as a fresh one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent.answer import Answer
from agent.core import MAX_TURNS, Agent, Conversation
from agent.plan import Turn
from agent.sql_runner import run_sql
from salesgenie.server.metrics import observe_answer, observe_question_exception
from salesgenie.server.store import (
    ConversationRecord,
    ConversationStore,
    MessageRecord,
    StoredResult,
    new_id,
    now_ms,
)
from salesgenie.warehouses import Warehouse
from semantic_layer.model import SemanticModel

log = logging.getLogger(__name__)

SPACE_ID = "sales-forecast"
LOCK_STRIPES = 64
UNEXPECTED = "UNEXPECTED_REPLY_PROCESS_EXCEPTION"
# DuckDB type → Databricks' ColumnInfo type_name (type_text is the Databricks spelling).
TYPE_NAMES = {
    "VARCHAR": "STRING",
    "DATE": "DATE",
    "DOUBLE": "DOUBLE",
    "FLOAT": "FLOAT",
    "REAL": "FLOAT",
    "BIGINT": "LONG",
    "INTEGER": "INT",
    "SMALLINT": "SHORT",
    "TINYINT": "BYTE",
    "BOOLEAN": "BOOLEAN",
    "BLOB": "BINARY",
    "NULL": "NULL",
    "INTERVAL": "INTERVAL",
}


def databricks_type(duckdb_type: str) -> tuple[str, str]:
    """(type_name, type_text) as Databricks SQL describes the column."""
    text = duckdb_type.upper().strip()
    if text.endswith("[]"):
        inner = databricks_type(text[:-2])[1]
        return "ARRAY", f"ARRAY<{inner}>"
    if text.startswith("TIMESTAMP"):
        return "TIMESTAMP", "TIMESTAMP"
    if text.startswith(("DECIMAL", "NUMERIC", "HUGEINT", "UBIGINT")):
        return "DECIMAL", text if text.startswith("DECIMAL") else "DECIMAL(38,0)"
    for prefix in ("STRUCT", "MAP"):
        if text.startswith(prefix):
            return prefix, text
    name = TYPE_NAMES.get(text, "STRING")
    return name, {"NULL": "VOID"}.get(name, name)


def cell(value: Any) -> str | None:
    """A value as Databricks' JSON_ARRAY format sends it: a string, or null for NULL."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float | int | Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=cell)
    return str(value)


@dataclass(frozen=True)
class SpaceInfo:
    """What GET space returns besides the semantic layer's own summary."""

    space_id: str
    warehouse_id: str
    create_time: str  # RFC 3339
    update_time: str


def rfc3339(timestamp: float) -> str:
    return (
        datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


class GenieService:
    """One space over one agent; conversations and answers live in the store."""

    def __init__(
        self,
        agent: Agent,
        warehouse: Warehouse,
        store: ConversationStore,
        *,
        charts_dir: Path,
        answer_wait_s: float,
        workers: int,
    ) -> None:
        self.agent = agent
        self.model: SemanticModel = agent.model
        self.warehouse = warehouse
        self.store = store
        self.charts_dir = charts_dir
        self.answer_wait_s = answer_wait_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="genie-answer")
        # Messages of one conversation are answered in order: a follow-up needs its predecessor.
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.agent.close()
        self.warehouse.close()
        self.store.close()

    def open_conversation(self, question: str) -> ConversationRecord:
        return self.store.create_conversation(SPACE_ID, question[:200])

    async def ask(
        self, conversation: ConversationRecord, question: str, visualize: bool
    ) -> MessageRecord:
        """Store the message, answer it on a worker, wait a little for the answer: the wait
        holds no thread, so many waiting requests do not queue the others."""
        message = self.store.add_message(conversation.conversation_id, SPACE_ID, question)
        answering = self._pool.submit(self._answer, message, visualize)
        await asyncio.wait([asyncio.wrap_future(answering)], timeout=self.answer_wait_s)
        return self.store.message(message.message_id) or message

    def _answer(self, message: MessageRecord, visualize: bool) -> None:
        stripe = zlib.crc32(message.conversation_id.encode()) % LOCK_STRIPES
        with self._locks[stripe]:
            try:
                self.store.set_status(message.message_id, "EXECUTING_QUERY")
                self._answer_now(message, visualize)
            except Exception as exc:  # the waiter must see FAILED, not spin for 20 minutes
                log.exception("answering message %s failed", message.message_id)
                observe_question_exception()
                self.store.finish_message(
                    message.message_id,
                    status="FAILED",
                    attachments=[],
                    error={"error": f"internal error: {exc}", "type": UNEXPECTED},
                    turn=None,
                    chart_path=None,
                    results=[],
                )

    def _answer_now(self, message: MessageRecord, visualize: bool) -> None:
        conversation = Conversation(turns=self._turns(message.conversation_id))
        last = conversation.turns[-1] if conversation.turns else None
        chart_path = self.charts_dir / f"{message.message_id}.png" if visualize else None
        answer = self.agent.ask(message.content, conversation, chart_path, chart=visualize)
        observe_answer(answer)
        new_turn = conversation.turns[-1] if conversation.turns else None
        turn = new_turn.model_dump_json() if new_turn is not None and new_turn is not last else None
        attachments, results = self._attachments(message, answer)
        failed = answer.status in ("rejected", "error")
        self.store.finish_message(
            message.message_id,
            status="FAILED" if failed else "COMPLETED",
            attachments=attachments,
            error={"error": answer.error or answer.status, "type": _error_type(answer)}
            if failed
            else None,
            turn=turn,
            chart_path=answer.chart,
            results=results,
        )

    def _turns(self, conversation_id: str) -> list[Turn]:
        turns = []
        for stored in self.store.turns(conversation_id, MAX_TURNS):
            try:
                turns.append(Turn.model_validate_json(stored))
            except ValidationError:
                log.warning("a stored turn of conversation %s no longer parses", conversation_id)
        return turns

    def _attachments(
        self, message: MessageRecord, answer: Answer
    ) -> tuple[list[dict[str, Any]], list[StoredResult]]:
        stamp = now_ms()
        if answer.status == "ok" and answer.sql is not None:
            query_id = new_id()
            result = self.result_of(query_id, message.message_id, answer)
            description = answer.answer or ""
            if answer.assumptions:
                description += " Assumed: " + "; ".join(answer.assumptions) + "."
            attachments = [
                {
                    "attachment_id": query_id,
                    "query": {
                        "id": query_id,  # older clients read the attachment's id here
                        "title": _title(message.content),
                        "description": description,
                        "query": answer.sql,
                        "statement_id": result.statement_id,
                        "query_result_metadata": {
                            "row_count": len(result.data),
                            "is_truncated": result.truncated,
                        },
                        "last_updated_timestamp": stamp,
                    },
                }
            ]
            if answer.chart:
                attachments.append(
                    {
                        "attachment_id": new_id(),
                        "viz": {"query_attachment_id": query_id, "title": _title(message.content)},
                    }
                )
            return attachments, [result]
        if answer.status == "clarification":
            options = "".join(f"\n- {option}" for option in answer.candidates)
            text = {"content": (answer.answer or "") + options, "purpose": "FOLLOW_UP_QUESTION"}
            return [_text_attachment(text)], []
        if answer.status == "unanswerable":
            text = {"content": answer.answer or "", "purpose": "TEXT_ATTACHMENT_PURPOSE_ANSWER"}
            attachments = [_text_attachment(text)]
            if answer.suggestions:
                attachments.append(
                    {
                        "attachment_id": new_id(),
                        "suggested_questions": {"questions": answer.suggestions},
                    }
                )
            return attachments, []
        return [], []

    def result_of(self, attachment_id: str, message_id: str, answer: Answer) -> StoredResult:
        """An ok answer's rows as a stored statement result, typed as Databricks types them."""
        sql = answer.sql or ""
        columns = []
        for position, (name, duck) in enumerate(
            zip(answer.columns, answer.column_types, strict=True)
        ):
            type_name, type_text = databricks_type(duck)
            columns.append(
                {"name": name, "type_name": type_name, "type_text": type_text, "position": position}
            )
        return StoredResult(
            attachment_id=attachment_id,
            message_id=message_id,
            sql=sql,
            statement_id=new_id(),
            columns=columns,
            data=[[cell(value) for value in row] for row in answer.rows],
            truncated=answer.truncated,
        )

    def execute(self, stored: StoredResult) -> StoredResult | Answer:
        """Run an attachment's SQL again (guard and warehouse as the first time): the fresh
        result replaces the stored one, or the failed Answer says why."""
        answer = run_sql(stored.sql, self.warehouse, self.model)
        if answer.status != "ok":
            return answer
        fresh = self.result_of(stored.attachment_id, stored.message_id, answer)
        self.store.save_result(fresh)
        return fresh


def _text_attachment(text: dict[str, Any]) -> dict[str, Any]:
    attachment_id = new_id()
    return {"attachment_id": attachment_id, "text": {"id": attachment_id, **text}}


def _title(question: str) -> str:
    """A short title: the question's first 80 characters, cut at a word."""
    words = " ".join(question.split())
    return words if len(words) <= 80 else re.sub(r"\s+\S*$", "", words[:80]) + "…"


def _error_type(answer: Answer) -> str:
    """Genie's MessageErrorType closest to why the answer failed."""
    if answer.sql is not None:  # the guard refused the SQL or the warehouse failed on it
        return "SQL_EXECUTION_EXCEPTION"
    if answer.backend is not None:  # the planner (offline parser or LLM) failed
        return "GENERIC_CHAT_COMPLETION_EXCEPTION"
    return "INVALID_COMPLETION_REQUEST_EXCEPTION"  # the question itself (control characters…)
