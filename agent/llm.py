"""The LLM backend: a question → a plan, written by a chat model on any OpenAI-compatible server.

The model sees the semantic layer's rendering (tables, columns, sample values, joins,
instructions and the verified queries as worked examples), the conversation so far (questions
and SQL) and the question: never a warehouse row, because this backend never gets a warehouse.
It answers through structured output (function calling by default: the most widely served),
which maps onto the same Plan types as the offline parser. The core guards and runs the SQL and
feeds guard or execution errors back through `repair`.

langchain_openai costs ~1.2 s to import, so it is imported on the first call, not with this
module: offline questions never pay for it.
"""

from __future__ import annotations

import os
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from agent.plan import ChartSpec, Clarification, Plan, SqlPlan, Turn, Unanswerable
from salesgenie.errors import SalesgenieError
from semantic_layer.model import SemanticModel
from semantic_layer.render import llm_context

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langchain_core.runnables import Runnable

DEFAULT_LLM_MODEL = "gpt-4.1-mini"
PLACEHOLDER_API_KEY = "not-needed"  # Ollama and vLLM ignore the key, the client needs one
MAX_RETRIES = 1  # one retry on a dropped connection or a 429/5xx; no retry storms
HISTORY_TURNS = 6  # earlier turns rarely matter to a follow-up and cost tokens

StructuredOutput = Literal["tools", "json_schema", "json_mode"]
# Our names → langchain's `with_structured_output(method=...)`.
_METHODS: dict[str, str] = {
    "tools": "function_calling",
    "json_schema": "json_schema",
    "json_mode": "json_mode",
}


class LLMUnavailable(SalesgenieError):
    """The LLM server could not be used (timeout, refused connection, HTTP error): one line."""


class LLMBadOutput(LLMUnavailable):
    """The server answered, but not with a plan this backend can read."""


def llm_configured() -> bool:
    """True when a server is named (OPENAI_BASE_URL, e.g. Ollama) or a key is given (OpenAI);
    the model is SALESGENIE_LLM_MODEL, else DEFAULT_LLM_MODEL, so it never lacks one."""
    return bool(_env("OPENAI_BASE_URL") or _env("OPENAI_API_KEY"))


class ChartOutput(BaseModel):
    """How to chart the query's rows, naming result columns (aliases) only."""

    kind: Literal["line", "bar", "none"] = Field(
        description="line: a date column on x and a measure on y; bar: a category on x and a "
        "measure on y; none: a single value or a plain list"
    )
    x: str | None = Field(None, description="result column on the x axis")
    y: str | None = Field(None, description="result column with the measure")
    color: str | None = Field(
        None, description="result column splitting the series, e.g. type (train / predict)"
    )
    dashed: list[str] = Field(
        default_factory=list, description="values of the color column drawn dashed: predict"
    )
    band: list[str] | None = Field(
        None, description="two result columns [lower, upper] of a forecast interval"
    )
    title: str | None = None
    x_label: str | None = None
    y_label: str | None = Field(None, description="with the unit, e.g. Units")


class QueryPlan(BaseModel):
    """The answer to a question about the sales and forecast tables: one SQL query with its
    chart, a question back when the question is ambiguous, or why it cannot be answered."""

    status: Literal["sql", "clarification", "unanswerable"]
    sql: str | None = Field(None, description="status sql: one read-only SELECT")
    chart: ChartOutput | None = Field(None, description="status sql: how to chart the rows")
    message: str | None = Field(
        None,
        description="sql: one sentence on what the rows show; clarification: the question "
        "back; unanswerable: why the tables cannot answer",
    )
    candidates: list[str] = Field(
        default_factory=list,
        description="clarification: what the question could mean; unanswerable: two or three "
        "questions the tables can answer",
    )
    assumptions: list[str] = Field(
        default_factory=list, description="status sql: what was assumed (period, product match)"
    )


INSTRUCTIONS = """\
You answer questions about weekly unit sales and their forecasts by writing SQL over the \
semantic model below. Reply with the structured output (JSON) QueryPlan:
- status "sql": one read-only SELECT using only the tables, columns and joins below, in the \
style of the verified examples. Name result columns plainly (date, type, sales, units…) and \
order by the x axis. chart: "line" when x is a date; when train and predict rows both appear, \
color "type" with dashed ["predict"], and band [lower, upper] when the interval columns are \
selected; "bar" for a category and a measure; "none" for a single value or a list. message: one \
sentence on what the rows show; assumptions: what you assumed.
- status "clarification" when a name in the question matches several things and the level is \
not clear: message asks back, candidates lists them.
- status "unanswerable" when the model does not cover the question (prices, revenue, \
customers, stock…): message says why, candidates suggests questions it can answer.
Never invent tables, columns or values. Example of a reply:
{"status": "sql", "sql": "SELECT o.date, o.type, SUM(o.sales) AS sales FROM … GROUP BY o.date, \
o.type ORDER BY o.date, o.type", "chart": {"kind": "line", "x": "date", "y": "sales", \
"color": "type", "dashed": ["predict"], "title": "Sales and forecast", "x_label": "Week", \
"y_label": "Units"}, "message": "Weekly units sold and forecast.", "candidates": [], \
"assumptions": []}

"""

REPAIR = """\
That query failed: {error}
Write a corrected query for the same question, using only the tables and columns of the \
semantic model; reply with the same structured output."""


class LLMBackend:
    """Plans questions with a chat model; `repair` fixes SQL the guard or warehouse refused."""

    name = "llm"

    def __init__(
        self,
        model: SemanticModel,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        llm_model: str | None = None,
        timeout_s: float = 30,
        structured_output: StructuredOutput | None = None,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.base_url = base_url or _env("OPENAI_BASE_URL")
        self.api_key = api_key or _env("OPENAI_API_KEY") or PLACEHOLDER_API_KEY
        self.llm_model = llm_model or _env("SALESGENIE_LLM_MODEL") or DEFAULT_LLM_MODEL
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.structured_output = (
            structured_output or _env("SALESGENIE_LLM_STRUCTURED_OUTPUT") or "tools"
        )
        if self.structured_output not in _METHODS:
            raise SalesgenieError(
                f"SALESGENIE_LLM_STRUCTURED_OUTPUT={self.structured_output!r}: "
                f"expected one of {', '.join(_METHODS)}"
            )
        self.system_prompt = INSTRUCTIONS + llm_context(model)

    def plan(self, question: str, history: list[Turn]) -> Plan:
        """Ask the model for a plan for `question`, following up on `history`."""
        return self._ask(self._messages(question, history))

    def repair(
        self, question: str, history: list[Turn], failed_sql: str, error: str
    ) -> Plan | None:
        """Send the refused SQL and the guard's or warehouse's error back for a corrected plan;
        None when the model repeats the same SQL (another round would not help)."""
        from langchain_core.messages import AIMessage, HumanMessage

        messages = [
            *self._messages(question, history),
            AIMessage(f"SQL:\n{failed_sql}"),
            HumanMessage(REPAIR.format(error=error)),
        ]
        plan = self._ask(messages)
        if isinstance(plan, SqlPlan) and _same_sql(plan.sql, failed_sql):
            return None
        return plan

    def _messages(self, question: str, history: list[Turn]) -> list[BaseMessage]:
        from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

        messages: list[BaseMessage] = [SystemMessage(self.system_prompt)]
        for turn in history[-HISTORY_TURNS:]:
            messages += [HumanMessage(turn.question), AIMessage(_describe(turn.plan))]
        messages.append(HumanMessage(question))
        return messages

    @cached_property
    def _runnable(self) -> Runnable:
        """ChatOpenAI with the structured output bound; include_raw keeps the token usage."""
        from langchain_openai import ChatOpenAI

        chat = ChatOpenAI(
            model=self.llm_model,
            base_url=self.base_url,
            api_key=self.api_key,
            timeout=self.timeout_s,
            max_retries=self.max_retries,
            temperature=0,
            use_responses_api=False,  # compatible servers speak chat completions only
        )
        return chat.with_structured_output(
            QueryPlan, method=_METHODS[self.structured_output], include_raw=True
        )

    def _ask(self, messages: list[BaseMessage]) -> Plan:
        import openai

        start = time.perf_counter()
        try:
            result = self._runnable.invoke(messages)
        except openai.OpenAIError as exc:
            raise self._unavailable(exc) from None
        except (ValueError, TypeError, KeyError) as exc:  # a 200 that is not a chat completion
            raise LLMBadOutput(f"{self._where}: unreadable response ({_one_line(exc)})") from None
        usage = _usage(result["raw"], self.llm_model, time.perf_counter() - start)
        parsed = result["parsed"]
        if result["parsing_error"] is not None or not isinstance(parsed, QueryPlan):
            problem = _problem(result["parsing_error"]) or self._no_output_hint()
            raise LLMBadOutput(f"{self._where}: the answer is not a query plan ({problem})")
        return _to_plan(parsed, usage, self._where)

    def _no_output_hint(self) -> str:
        """Some servers (older Ollama, vLLM without a tool parser) ignore forced tool calls."""
        if self.structured_output == "tools":
            return "no tool call; try SALESGENIE_LLM_STRUCTURED_OUTPUT=json_mode"
        return "no structured output"

    @property
    def _where(self) -> str:
        return f"LLM {self.llm_model} at {self.base_url or 'api.openai.com'}"

    def _unavailable(self, exc: Exception) -> LLMUnavailable:
        import openai

        if isinstance(exc, openai.APITimeoutError):
            return LLMUnavailable(f"{self._where}: no answer within {self.timeout_s:g} s")
        if isinstance(exc, openai.APIConnectionError):
            return LLMUnavailable(
                f"{self._where}: cannot connect ({_one_line(exc.__cause__ or exc)})"
            )
        if isinstance(exc, openai.APIStatusError):
            return LLMUnavailable(f"{self._where}: HTTP {exc.status_code}: {_server_message(exc)}")
        return LLMUnavailable(f"{self._where}: {_one_line(exc)}")


def _to_plan(out: QueryPlan, usage: dict[str, Any], where: str) -> Plan:
    if out.status == "clarification":
        message = out.message or "Which one do you mean?"
        return Clarification(message=message, candidates=out.candidates, usage=usage)
    if out.status == "unanswerable":
        message = out.message or "The sales and forecast tables cannot answer that."
        return Unanswerable(message=message, suggestions=out.candidates, usage=usage)
    if not (out.sql or "").strip():
        raise LLMBadOutput(f"{where}: status sql without a query")
    chart = out.chart or ChartOutput(kind="none")
    band = tuple(chart.band) if chart.band and len(chart.band) == 2 else None
    return SqlPlan(
        sql=out.sql.strip(),
        chart=ChartSpec(**chart.model_dump(exclude={"band"}), band=band),
        assumptions=out.assumptions,
        summary_hint=out.message,
        usage=usage,
    )


def _usage(raw: Any, llm_model: str, seconds: float) -> dict[str, Any]:
    """Tokens as the server reported them (None when it did not) and the call's latency."""
    tokens = getattr(raw, "usage_metadata", None) or {}
    return {
        "llm_model": llm_model,
        "prompt_tokens": tokens.get("input_tokens"),
        "completion_tokens": tokens.get("output_tokens"),
        "total_tokens": tokens.get("total_tokens"),
        "latency_ms": round(seconds * 1000, 1),
    }


def _describe(plan: Plan) -> str:
    """An earlier answer as the model sees it in the history: the SQL, never its rows."""
    if isinstance(plan, SqlPlan):
        return f"SQL:\n{plan.sql}\nChart: {plan.chart.model_dump_json(exclude_defaults=True)}"
    if isinstance(plan, Clarification):
        return f"{plan.message} ({', '.join(plan.candidates)})"
    return plan.message


def _same_sql(a: str, b: str) -> bool:
    return " ".join(a.split()).lower() == " ".join(b.split()).lower()


def _server_message(exc: Any) -> str:
    """The error text of an OpenAI-style ({"error": {"message"}}) or Databricks-style
    ({"message"}) body, else the client's own message."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        if message:
            return _one_line(message)
    return _one_line(exc.message)


def _problem(error: Exception | None) -> str | None:
    """A schema violation as "field: what is wrong", without pydantic's links."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(map(str, first['loc'])) or 'output'}: {first['msg']}"
    return _one_line(error) if error is not None else None


def _one_line(value: object) -> str:
    text = " ".join(str(value).split())
    return text[:200] + "…" if len(text) > 200 else text or type(value).__name__


def _env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None
