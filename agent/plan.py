"""What a backend returns for a question: SQL to run (with how to show it), or a question back.

Both backends (the offline parser and the LLM) speak this; the agent core runs the SQL through
the guard and the warehouse, draws the chart and writes the answer. Nothing here executes.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field


class ChartSpec(BaseModel):
    """A declarative chart: which result columns go where. Never code."""

    kind: Literal["line", "bar", "none"]
    x: str | None = None  # result column on the x axis (a date for lines, a category for bars)
    y: str | None = None  # result column with the measure
    color: str | None = None  # result column splitting the series (e.g. type: train / predict)
    dashed: list[str] = Field(default_factory=list)  # values of `color` drawn dashed (predict)
    band: tuple[str, str] | None = None  # result columns of an interval (lower, upper)
    title: str | None = None
    x_label: str | None = None
    y_label: str | None = None


class SqlPlan(BaseModel):
    """SQL to run, how to chart it and phrase it, and what was assumed on the way."""

    kind: Literal["sql"] = "sql"
    sql: str
    chart: ChartSpec = Field(default_factory=lambda: ChartSpec(kind="none"))
    spec: Any = None  # the typed query spec (agent.spec.QuerySpec) when the offline parser made it
    assumptions: list[str] = Field(default_factory=list)  # e.g. "latest actual week: 2025-08-25"
    summary_hint: str | None = None  # what the rows are, for the answer sentence
    confidence: float = 1.0  # 0..1; auto mode asks the LLM below a threshold
    usage: dict[str, Any] = Field(default_factory=dict)  # LLM tokens and latency


class Clarification(BaseModel):
    """The question names several things: ask back, listing the candidates."""

    kind: Literal["clarification"] = "clarification"
    message: str
    candidates: list[str] = Field(default_factory=list)
    usage: dict[str, Any] = Field(default_factory=dict)  # LLM tokens and latency


class Unanswerable(BaseModel):
    """Outside what the semantic layer describes: say so and suggest what can be asked."""

    kind: Literal["unanswerable"] = "unanswerable"
    message: str
    suggestions: list[str] = Field(default_factory=list)
    usage: dict[str, Any] = Field(default_factory=dict)  # LLM tokens and latency


Plan = SqlPlan | Clarification | Unanswerable


class Turn(BaseModel):
    """One exchange of a conversation: follow-ups ("and for FR01?") start from the last plan."""

    question: str
    plan: Plan


class Backend(Protocol):
    """Turns a question (with the conversation so far) into a plan."""

    name: str

    def plan(self, question: str, history: list[Turn]) -> Plan: ...
