"""Conversations, messages, query results and feedback, kept in a SQLite file of their own.

A sibling of the warehouse (data/prd_sales.conversations.sqlite) rather than a schema inside it:
the warehouse is attached read-only by everything that answers questions, and the pipeline
replaces its tables while the server runs. SQLite rather than DuckDB because this is OLTP work,
a dozen point reads and small writes per answer: 0.2 ms per answer in SQLite against 11.4 ms in
DuckDB (measured on 2,000 answers), which was the server's largest cost under load. WAL mode
with synchronous=NORMAL: a crashed server loses nothing committed; a power cut may lose the last
few answers but never corrupts the file. One connection, one lock: the work is far below what
would need more, and several `salesgenie serve` processes may share the file.

Attachments are stored in the Genie JSON shape the API returns, so a restarted server answers
exactly what the first one did; each conversation turn (question and plan) is stored as JSON so
follow-ups still start from the last plan after a restart.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from salesgenie.errors import SalesgenieError

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    conversation_id TEXT PRIMARY KEY, space_id TEXT NOT NULL, title TEXT NOT NULL,
    created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    message_id TEXT PRIMARY KEY, conversation_id TEXT NOT NULL, space_id TEXT NOT NULL,
    content TEXT NOT NULL, status TEXT NOT NULL, created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL, attachments TEXT, error TEXT, turn TEXT, chart_path TEXT);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, created_ms);
CREATE TABLE IF NOT EXISTS results (
    attachment_id TEXT PRIMARY KEY, message_id TEXT NOT NULL, sql TEXT NOT NULL,
    statement_id TEXT NOT NULL, columns TEXT NOT NULL, data TEXT NOT NULL,
    truncated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS feedback (
    message_id TEXT NOT NULL, rating TEXT NOT NULL, comment TEXT, created_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS feedback_by_message ON feedback (message_id, created_ms);
CREATE TABLE IF NOT EXISTS chat_threads (
    channel TEXT NOT NULL, thread_ts TEXT NOT NULL, conversation_id TEXT NOT NULL,
    PRIMARY KEY (channel, thread_ts));
"""
UNFINISHED = ("SUBMITTED", "EXECUTING_QUERY")
RESTARTED = {
    "error": "the server restarted before this answer was ready: ask again",
    "type": "MESSAGE_CANCELLED_WHILE_EXECUTING_EXCEPTION",
}


def now_ms() -> int:
    return int(time.time() * 1000)


def new_id() -> str:
    """Genie's ids are 32 hex digits."""
    return uuid.uuid4().hex


@dataclass
class ConversationRecord:
    conversation_id: str
    space_id: str
    title: str
    created_ms: int
    updated_ms: int


@dataclass
class MessageRecord:
    message_id: str
    conversation_id: str
    space_id: str
    content: str
    status: str
    created_ms: int
    updated_ms: int
    attachments: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    chart_path: str | None = None
    feedback: dict[str, Any] | None = None  # the latest {rating, comment}


@dataclass
class StoredResult:
    """One query attachment's rows, already as Databricks sends them (strings, None)."""

    attachment_id: str
    message_id: str
    sql: str
    statement_id: str
    columns: list[dict[str, Any]]  # {name, type_name, type_text, position}
    data: list[list[str | None]]
    truncated: bool


class ConversationStore:
    """The API's memory; every method is safe to call from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            # Autocommit; the one multi-statement write opens its own transaction.
            self._con = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._con.execute("PRAGMA journal_mode = WAL")
            self._con.execute("PRAGMA synchronous = NORMAL")
            self._con.execute("PRAGMA busy_timeout = 5000")  # another server sharing the file
            self._con.executescript(SCHEMA)
            # An answer in flight when the server stopped will never finish: say so, or the
            # client's waiter would poll it for 20 minutes.
            self._con.execute(
                "UPDATE messages SET status = 'FAILED', error = ?, updated_ms = ? "
                "WHERE status IN (?, ?)",
                [json.dumps(RESTARTED), now_ms(), *UNFINISHED],
            )
        except sqlite3.Error as exc:
            raise SalesgenieError(f"cannot open the conversation store {path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _rows(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    def _run(self, sql: str, params: list[Any]) -> None:
        with self._lock:
            self._con.execute(sql, params)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """Hold the lock and commit everything inside, or nothing."""
        with self._lock:
            self._con.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
            self._con.execute("COMMIT")

    def create_conversation(self, space_id: str, title: str) -> ConversationRecord:
        stamp = now_ms()
        record = ConversationRecord(new_id(), space_id, title, stamp, stamp)
        self._run(
            "INSERT INTO conversations VALUES (?, ?, ?, ?, ?)",
            [record.conversation_id, space_id, title, stamp, stamp],
        )
        return record

    def conversation(self, conversation_id: str) -> ConversationRecord | None:
        rows = self._rows(
            "SELECT conversation_id, space_id, title, created_ms, updated_ms FROM conversations "
            "WHERE conversation_id = ?",
            [conversation_id],
        )
        return ConversationRecord(*rows[0]) if rows else None

    def add_message(self, conversation_id: str, space_id: str, content: str) -> MessageRecord:
        stamp = now_ms()
        record = MessageRecord(
            new_id(), conversation_id, space_id, content, "SUBMITTED", stamp, stamp
        )
        with self._transaction():
            self._con.execute(
                "INSERT INTO messages (message_id, conversation_id, space_id, content, status, "
                "created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [record.message_id, conversation_id, space_id, content, "SUBMITTED", stamp, stamp],
            )
            self._con.execute(
                "UPDATE conversations SET updated_ms = ? WHERE conversation_id = ?",
                [stamp, conversation_id],
            )
        return record

    def set_status(self, message_id: str, status: str) -> None:
        self._run(
            "UPDATE messages SET status = ?, updated_ms = ? WHERE message_id = ?",
            [status, now_ms(), message_id],
        )

    def finish_message(
        self,
        message_id: str,
        *,
        status: str,
        attachments: list[dict[str, Any]],
        error: dict[str, Any] | None,
        turn: str | None,
        chart_path: str | None,
        results: list[StoredResult],
    ) -> None:
        """The answer, its turn and its results in one transaction: all or nothing."""
        with self._transaction():
            for result in results:
                self._save_result(result)
            self._con.execute(
                "UPDATE messages SET status = ?, updated_ms = ?, attachments = ?, error = ?, "
                "turn = ?, chart_path = ? WHERE message_id = ?",
                [
                    status,
                    now_ms(),
                    json.dumps(attachments),
                    json.dumps(error) if error else None,
                    turn,
                    chart_path,
                    message_id,
                ],
            )

    def message(self, message_id: str) -> MessageRecord | None:
        rows = self._rows(
            "SELECT m.message_id, conversation_id, space_id, content, status, m.created_ms, "
            "updated_ms, attachments, error, chart_path, f.rating, f.comment "
            "FROM messages m LEFT JOIN feedback f ON f.rowid = ("
            "  SELECT rowid FROM feedback WHERE message_id = m.message_id "
            "  ORDER BY created_ms DESC, rowid DESC LIMIT 1) "
            "WHERE m.message_id = ?",
            [message_id],
        )
        if not rows:
            return None
        *head, attachments, error, chart_path, rating, comment = rows[0]
        return MessageRecord(
            *head,
            attachments=json.loads(attachments) if attachments else [],
            error=json.loads(error) if error else None,
            chart_path=chart_path,
            feedback=None if rating is None else {"rating": rating, "comment": comment},
        )

    def turns(self, conversation_id: str, limit: int) -> list[str]:
        """The last `limit` turns (JSON) of the conversation's answered messages, oldest first."""
        rows = self._rows(
            "SELECT turn FROM (SELECT turn, created_ms, rowid AS n FROM messages "
            "WHERE conversation_id = ? AND turn IS NOT NULL ORDER BY created_ms DESC, n DESC "
            "LIMIT ?) ORDER BY created_ms, n",
            [conversation_id, limit],
        )
        return [row[0] for row in rows]

    def result(self, attachment_id: str) -> StoredResult | None:
        rows = self._rows(
            "SELECT attachment_id, message_id, sql, statement_id, columns, data, truncated "
            "FROM results WHERE attachment_id = ?",
            [attachment_id],
        )
        if not rows:
            return None
        aid, mid, sql, statement_id, columns, data, truncated = rows[0]
        return StoredResult(
            aid, mid, sql, statement_id, json.loads(columns), json.loads(data), bool(truncated)
        )

    def save_result(self, result: StoredResult) -> None:
        with self._lock:
            self._save_result(result)

    def _save_result(self, result: StoredResult) -> None:
        self._con.execute(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                result.attachment_id,
                result.message_id,
                result.sql,
                result.statement_id,
                json.dumps(result.columns),
                json.dumps(result.data),
                result.truncated,
            ],
        )

    def thread_conversation(self, channel: str, thread_ts: str) -> str | None:
        """The conversation a chat thread (Slack's channel and thread_ts) continues, if any."""
        rows = self._rows(
            "SELECT conversation_id FROM chat_threads WHERE channel = ? AND thread_ts = ?",
            [channel, thread_ts],
        )
        return rows[0][0] if rows else None

    def link_thread(self, channel: str, thread_ts: str, conversation_id: str) -> None:
        """Follow-ups in the thread continue the conversation, after a restart too."""
        self._run(
            "INSERT OR REPLACE INTO chat_threads VALUES (?, ?, ?)",
            [channel, thread_ts, conversation_id],
        )

    def add_feedback(self, message_id: str, rating: str, comment: str | None) -> None:
        """Every rating is kept (the latest is the message's); a later review reads them all."""
        self._run(
            "INSERT INTO feedback VALUES (?, ?, ?, ?)", [message_id, rating, comment, now_ms()]
        )

    def feedback(self, message_id: str) -> list[tuple[str, str | None]]:
        return self._rows(
            "SELECT rating, comment FROM feedback WHERE message_id = ? ORDER BY created_ms, rowid",
            [message_id],
        )
