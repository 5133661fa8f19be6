"""The agent core: a question in, a checked Answer out (status, sentence, SQL, rows, chart).

    question ─▶ check_question ─▶ backend.plan ─▶ run_sql (guard + warehouse) ─▶ chart + sentence

Backends (the Backend protocol of agent.plan) only plan; this module runs everything else, so
the guard, the row limit, the chart rules and the answer shape are the same whoever planned.

Backend selection (`open_agent(backend=…)`):
- "offline": the deterministic parser only (agent.offline);
- "llm": the LLM only (agent.llm; needs OPENAI_BASE_URL or OPENAI_API_KEY);
- "auto" (default): the offline parser first; the LLM when the offline plan is Unanswerable or
  its confidence is below CONFIDENCE_THRESHOLD, and an LLM is configured. A clarification is
  never sent on: only the user can say which of the candidates they meant. If the LLM fails,
  the offline plan stands and an assumption says why.

Optional backend methods, looked up with getattr (the protocol stays one method):
- `repair(question, history, failed_sql, error) -> Plan | None`: called when the guard rejects
  the plan's SQL or the warehouse fails on it, with the SQL the backend wrote and the one-line
  error; at most MAX_REPAIRS times per question. Return a new Plan (a SqlPlan is guarded and
  run again; a Clarification or Unanswerable ends the question), or None to give up. Usage
  dicts of every call are summed into Answer.usage, with "repairs" set to the rounds made.
- `describe(plan, columns, rows) -> str | None`: the answer sentence (numbers, units, period);
  when absent or None, a generic sentence with the row count, the first numbers and the period.

Exceptions a backend raises become `error` answers naming the backend: one line, no traceback.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal, Self

from agent.answer import Answer
from agent.charts import render_chart
from agent.inputs import check_question, normalise_question
from agent.plan import Backend, Clarification, Plan, SqlPlan, Turn, Unanswerable
from agent.sql_runner import run_sql
from salesgenie import settings
from salesgenie.errors import SalesgenieError
from salesgenie.warehouses import Warehouse
from semantic_layer.model import SemanticModel

# The question the project was seeded with: it must answer offline, verbatim.
SEED_QUESTION = (
    "Please show a graphic with sales for product Etorki and the prediction from the model, on a "
    "line plot. Please differentiate colors for train (actual) and predict."
)
BackendChoice = Literal["auto", "offline", "llm"]
BACKENDS: tuple[str, ...] = ("auto", "offline", "llm")
CONFIDENCE_THRESHOLD = 0.6  # offline plans below this go to the LLM in auto mode
MAX_REPAIRS = 2
MAX_TURNS = 20  # history kept per conversation: follow-ups need the last few, prompts stay small
LLM_SETTINGS = "set OPENAI_BASE_URL (and OPENAI_API_KEY, SALESGENIE_LLM_MODEL)"


@dataclass
class Conversation:
    """The turns so far, so that "and for FR01?" starts from the last plan."""

    turns: list[Turn] = field(default_factory=list)

    def add(self, question: str, plan: Plan) -> None:
        self.turns.append(Turn(question=question, plan=plan))
        del self.turns[:-MAX_TURNS]


class Agent:
    """Plans with its backends, runs through the guard and warehouse, draws and phrases."""

    def __init__(
        self,
        model: SemanticModel,
        warehouse: Warehouse,
        *,
        offline: Backend | None = None,
        llm: Backend | None = None,
        mode: BackendChoice = "auto",
        charts_dir: Path | None = None,
        owns_warehouse: bool = False,
    ) -> None:
        if mode not in BACKENDS:
            raise SalesgenieError(f"backend {mode!r} must be one of {', '.join(BACKENDS)}")
        if mode == "llm" and llm is None:
            raise SalesgenieError(f"the llm backend needs an LLM server: {LLM_SETTINGS}")
        if mode != "llm" and offline is None:
            raise SalesgenieError(f"the {mode} backend needs the offline parser")
        self.model = model
        self.warehouse = warehouse
        self.offline = offline
        self.llm = llm
        self.mode = mode
        self.charts_dir = charts_dir or settings.charts_dir() / "answers"
        self._owns_warehouse = owns_warehouse
        self._tables = tuple(table.name for table in model.tables)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_warehouse:
            self.warehouse.close()

    def ask(
        self,
        question: str,
        conversation: Conversation | None = None,
        chart_path: Path | None = None,
        *,
        chart: bool = True,
    ) -> Answer:
        """Answer one question; never raises for bad input, bad SQL or a failing backend."""
        started = time.perf_counter()
        answer = self._answer(question, conversation or Conversation(), chart_path, chart)
        answer.question = question
        answer.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        return answer

    def _answer(
        self, question: str, conversation: Conversation, chart_path: Path | None, chart: bool
    ) -> Answer:
        problem = check_question(question, self._tables)
        if problem is not None:
            failed = problem.status == "error"
            return Answer(
                status=problem.status,
                answer=None if failed else problem.message,
                error=problem.message if failed else None,
                suggestions=list(problem.suggestions),
            )
        text = normalise_question(question)
        history = list(conversation.turns)
        try:
            backend, plan, notes = self._plan(text, history)
        except Exception as exc:  # a backend's failure is an answer, not a crash
            return Answer(status="error", backend=self._first().name, error=_one_line(exc))
        usage = dict(plan.usage) if isinstance(plan, SqlPlan) else {}
        result = None
        repairs = 0
        while isinstance(plan, SqlPlan):
            result = run_sql(plan.sql, self.warehouse, self.model, backend=backend.name)
            repair = getattr(backend, "repair", None)
            if result.status == "ok" or repair is None or repairs == MAX_REPAIRS:
                break
            repairs += 1
            try:
                fixed = repair(text, history, plan.sql, result.error or result.status)
            except Exception as exc:
                notes.append(f"repair failed: {_one_line(exc)}")
                break
            if fixed is None:
                break
            plan = fixed
            if isinstance(plan, SqlPlan):
                usage = _add_usage(usage, plan.usage)
        if repairs:
            usage["repairs"] = repairs
        if not isinstance(plan, SqlPlan):
            conversation.add(text, plan)
            return _reply(plan, backend.name, notes, usage)
        assert result is not None  # the loop ran at least once
        result.assumptions = [*plan.assumptions, *notes]
        result.usage = usage
        if result.status != "ok":
            return result
        conversation.add(text, plan)
        if result.truncated:
            result.assumptions.append(f"only the first {len(result.rows):,} rows are shown")
        result.answer = self._sentence(backend, plan, result)
        if chart:
            path = chart_path or self.charts_dir / _chart_name(text, result.sql or "")
            try:
                drawn = render_chart(plan.chart, result.columns, result.rows, path)
            except Exception as exc:  # the numbers stand without their picture
                result.assumptions.append(f"chart not drawn: {_one_line(exc)}")
            else:
                result.chart = str(drawn.resolve()) if drawn else None
        return result

    def _sentence(self, backend: Backend, plan: SqlPlan, result: Answer) -> str:
        describe = getattr(backend, "describe", None)
        try:
            sentence = describe(plan, result.columns, result.rows) if describe else None
        except Exception as exc:  # a phrasing bug must not hide the rows
            result.assumptions.append(f"sentence fell back to the generic one: {_one_line(exc)}")
            sentence = None
        return sentence or generic_sentence(plan, result.columns, result.rows)

    def _first(self) -> Backend:
        return self.llm if self.mode == "llm" else self.offline  # type: ignore[return-value]

    def _plan(self, question: str, history: list[Turn]) -> tuple[Backend, Plan, list[str]]:
        """Which backend planned, its plan, and notes on how it was chosen."""
        first = self._first()
        plan = first.plan(question, history)
        if self.mode != "auto" or self.llm is None:
            return first, plan, []
        if isinstance(plan, SqlPlan) and plan.confidence >= CONFIDENCE_THRESHOLD:
            return first, plan, []
        if isinstance(plan, Clarification):
            return first, plan, []
        why = (
            "the offline parser could not answer"
            if isinstance(plan, Unanswerable)
            else f"the offline parser was unsure (confidence {plan.confidence:.2f})"
        )
        try:
            return self.llm, self.llm.plan(question, history), [f"{why}: the LLM answered"]
        except Exception as exc:
            return first, plan, [f"{why}, and the LLM failed: {_one_line(exc)}"]


def open_agent(
    backend: BackendChoice = "auto",
    *,
    warehouse: Warehouse | None = None,
    model: SemanticModel | None = None,
) -> Agent:
    """An Agent on the configured warehouse and semantic layer; close it (or use `with`).

    The LLM module is imported only when an LLM is wanted and configured: offline answers never
    pay for langchain.
    """
    from agent.llm import LLMBackend, llm_configured
    from salesgenie.warehouses import open_query_warehouse
    from semantic_layer.model import load_semantic_model

    if backend not in BACKENDS:
        raise SalesgenieError(f"--backend {backend!r} must be one of {', '.join(BACKENDS)}")
    if backend == "llm" and not llm_configured():
        raise SalesgenieError(f"--backend llm needs an LLM server: {LLM_SETTINGS}")
    model = model or load_semantic_model()
    owns = warehouse is None
    warehouse = warehouse or open_query_warehouse()
    try:
        offline = None
        if backend != "llm":
            from agent.offline import OfflineBackend

            offline = OfflineBackend(model, warehouse)
        llm = LLMBackend(model) if backend != "offline" and llm_configured() else None
        return Agent(model, warehouse, offline=offline, llm=llm, mode=backend, owns_warehouse=owns)
    except BaseException:
        if owns:
            warehouse.close()
        raise


def _reply(
    plan: Clarification | Unanswerable, backend: str, notes: list[str], usage: dict
) -> Answer:
    if isinstance(plan, Clarification):
        return Answer(
            status="clarification",
            answer=plan.message,
            candidates=plan.candidates,
            backend=backend,
            assumptions=notes,
            usage=usage,
        )
    return Answer(
        status="unanswerable",
        answer=plan.message,
        suggestions=plan.suggestions,
        backend=backend,
        assumptions=notes,
        usage=usage,
    )


def generic_sentence(plan: SqlPlan, columns: list[str], rows: list[list[Any]]) -> str:
    """Row count, the first row's numbers and the period the dates span."""
    # An LLM's hint is a sentence ("Weekly units sold."): its full stop would end ours early.
    what = (plan.summary_hint or "").strip().rstrip(".") or "the question"
    if not rows:
        return f"No rows for {what}."
    if len(rows) == 1 and len(columns) == 1:
        return f"{columns[0]}: {_format(rows[0][0])} ({what})."
    numbers = [
        f"{name} {_format(value)}"
        for name, value in zip(columns, rows[0], strict=False)
        if isinstance(value, int | float) and not isinstance(value, bool)
    ][:3]
    dates = [v for row in rows for v in row if isinstance(v, date)]
    period = f", {min(dates).isoformat()} to {max(dates).isoformat()}" if dates else ""
    first = f"; first row: {', '.join(numbers)}" if numbers else ""
    return f"{len(rows):,} rows for {what}{period}{first}."


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _add_usage(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Numbers add up across the plan and its repairs; other values keep the latest."""
    merged = dict(total)
    for key, value in more.items():
        old = merged.get(key)
        numeric = isinstance(value, int | float) and isinstance(old, int | float)
        merged[key] = old + value if numeric else value
    return merged


def _chart_name(question: str, sql: str) -> str:
    """Readable and stable: the same question and SQL redraw the same file."""
    slug = re.sub(r"[^a-z0-9]+", "-", question.lower()).strip("-")[:48].rstrip("-") or "answer"
    digest = hashlib.sha1(f"{question}\n{sql}".encode()).hexdigest()[:8]
    return f"{slug}-{digest}.png"


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
