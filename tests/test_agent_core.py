"""The agent core with scripted backends, on the real guard, warehouse and charts."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.charts import render_chart
from agent.core import MAX_REPAIRS, SEED_QUESTION, Agent, Conversation, open_agent
from agent.plan import ChartSpec, Clarification, Plan, SqlPlan, Turn, Unanswerable
from salesgenie.errors import SalesgenieError
from salesgenie.warehouses import DuckDBWarehouse
from semantic_layer.model import load_semantic_model

PNG = b"\x89PNG\r\n\x1a\n"
ETORKI_SQL = (
    "SELECT o.date, o.type, sum(o.sales) AS sales, sum(o.sales_lower) AS sales_lower, "
    "sum(o.sales_upper) AS sales_upper FROM sales_overall o "
    "JOIN mapping_timeseries_id_product m ON o.timeseries_id = m.timeseries_id "
    "WHERE m.brand = 'ETORKI' GROUP BY ALL ORDER BY o.date"
)
TRAIN_PREDICT = ChartSpec(
    kind="line",
    x="date",
    y="sales",
    color="type",
    dashed=["predict"],
    band=("sales_lower", "sales_upper"),
    title="ETORKI: weekly sales and forecast",
    x_label="week",
    y_label="units",
)
GOOD = SqlPlan(
    sql=ETORKI_SQL,
    chart=TRAIN_PREDICT,
    assumptions=["brand ETORKI"],
    summary_hint="weekly ETORKI sales",
    usage={"total_tokens": 100},
)
BAD = SqlPlan(sql="SELECT revenue FROM sales_overall", usage={"total_tokens": 50})


class ScriptedBackend:
    """Returns the given plans in turn (the last one again when they run out)."""

    def __init__(self, *plans: Plan, name: str = "scripted") -> None:
        self.name = name
        self.plans = list(plans)
        self.calls: list[tuple[str, list[Turn]]] = []

    def plan(self, question: str, history: list[Turn]) -> Plan:
        self.calls.append((question, list(history)))
        return self.plans.pop(0) if len(self.plans) > 1 else self.plans[0]


class RepairingBackend(ScriptedBackend):
    """Plans with the first plan, then answers each repair request with the next one."""

    def __init__(self, first: Plan, *repairs: Plan | None) -> None:
        super().__init__(first)
        self.repairs = list(repairs)
        self.repair_calls: list[tuple[str, str]] = []

    def repair(
        self, question: str, history: list[Turn], failed_sql: str, error: str
    ) -> Plan | None:
        self.repair_calls.append((failed_sql, error))
        return self.repairs.pop(0) if len(self.repairs) > 1 else self.repairs[0]


class FailingBackend:
    name = "failing"

    def plan(self, question: str, history: list[Turn]) -> Plan:
        raise SalesgenieError("LLM server at http://127.0.0.1:9 refused the connection")


@pytest.fixture(scope="module")
def model():
    return load_semantic_model()


@pytest.fixture(scope="module")
def warehouse(demo_warehouse):
    with DuckDBWarehouse(demo_warehouse) as opened:
        yield opened


def _agent(model, warehouse, tmp_path: Path, offline=None, llm=None, mode="offline") -> Agent:
    return Agent(model, warehouse, offline=offline, llm=llm, mode=mode, charts_dir=tmp_path)


def test_ok_answer_has_rows_sentence_assumptions_and_a_two_colour_chart(model, warehouse, tmp_path):
    agent = _agent(model, warehouse, tmp_path, offline=ScriptedBackend(GOOD))
    answer = agent.ask("Etorki train and predict", chart_path=tmp_path / "etorki.png")
    assert answer.status == "ok" and answer.exit_code == 0, answer.error
    assert answer.columns == ["date", "type", "sales", "sales_lower", "sales_upper"]
    assert {row[1] for row in answer.rows} == {"train", "predict"}
    assert answer.backend == "scripted" and answer.question == "Etorki train and predict"
    assert answer.assumptions == ["brand ETORKI"] and answer.usage == {"total_tokens": 100}
    assert answer.answer.startswith(f"{len(answer.rows):,} rows for weekly ETORKI sales, 20")
    png = Path(answer.chart)
    assert png == tmp_path / "etorki.png"
    assert png.read_bytes()[:8] == PNG and png.stat().st_size > 10_000
    assert answer.elapsed_ms > 0 and '"assumptions"' in answer.to_json()


def test_default_chart_path_is_named_after_the_question(model, warehouse, tmp_path):
    agent = _agent(model, warehouse, tmp_path, offline=ScriptedBackend(GOOD))
    answer = agent.ask("Etorki: train & predict?")
    assert Path(answer.chart).parent == tmp_path
    assert Path(answer.chart).name.startswith("etorki-train-predict-")
    assert agent.ask("Etorki: train & predict?", chart=False).chart is None


def test_single_value_draws_no_chart(model, warehouse, tmp_path):
    plan = SqlPlan(sql="SELECT count(DISTINCT brand) AS brands FROM mapping_timeseries_id_product")
    answer = _agent(model, warehouse, tmp_path, offline=ScriptedBackend(plan)).ask("how many?")
    assert answer.status == "ok" and answer.chart is None and answer.rows == [[1]]
    assert answer.answer == "brands: 1 (the question)."
    assert not list(tmp_path.iterdir())


def test_rejected_sql_is_a_rejected_answer_and_not_remembered(model, warehouse, tmp_path):
    plan = SqlPlan(sql="DROP TABLE sales_overall", chart=TRAIN_PREDICT)
    conversation = Conversation()
    agent = _agent(model, warehouse, tmp_path, offline=ScriptedBackend(plan))
    answer = agent.ask("drop it", conversation)
    assert answer.status == "rejected" and answer.exit_code == 2
    assert answer.error and answer.chart is None and conversation.turns == []


def test_execution_failure_is_an_error_answer(model, warehouse, tmp_path):
    plan = SqlPlan(sql="SELECT CAST(type AS INTEGER) AS t FROM sales_overall")
    answer = _agent(model, warehouse, tmp_path, offline=ScriptedBackend(plan)).ask("types?")
    assert answer.status == "error" and answer.exit_code == 1
    assert "\n" not in answer.error


@pytest.mark.parametrize(
    ("plan", "status", "listed"),
    [
        (Clarification(message="Which one?", candidates=["ETORKI", "ETORKI PORT"]), "clarification",
         "candidates"),
        (Unanswerable(message="No weather data.", suggestions=["sales of Etorki"]), "unanswerable",
         "suggestions"),
    ],
)  # fmt: skip
def test_questions_back_and_refusals_exit_2_and_are_remembered(
    model, warehouse, tmp_path, plan, status, listed
):
    conversation = Conversation()
    agent = _agent(model, warehouse, tmp_path, offline=ScriptedBackend(plan))
    answer = agent.ask("something", conversation)
    assert answer.status == status and answer.exit_code == 2
    assert answer.answer == plan.message and getattr(answer, listed) == getattr(plan, listed)
    assert answer.sql is None and conversation.turns[0].plan == plan


def test_follow_ups_see_the_conversation(model, warehouse, tmp_path):
    backend = ScriptedBackend(GOOD)
    agent = _agent(model, warehouse, tmp_path, offline=backend)
    conversation = Conversation()
    agent.ask("Etorki sales", conversation, chart=False)
    agent.ask("  and\tfor FR01? ", conversation, chart=False)
    assert backend.calls[0] == ("Etorki sales", [])
    question, history = backend.calls[1]
    assert question == "and for FR01?"  # whitespace normalised
    assert history == [Turn(question="Etorki sales", plan=GOOD)]
    assert len(conversation.turns) == 2


def test_repair_fixes_a_rejected_query_and_sums_usage(model, warehouse, tmp_path):
    backend = RepairingBackend(BAD, GOOD)
    answer = _agent(model, warehouse, tmp_path, offline=backend).ask("Etorki", chart=False)
    assert answer.status == "ok" and answer.sql and "ETORKI" in answer.sql
    assert backend.repair_calls[0][0] == BAD.sql and "revenue" in backend.repair_calls[0][1]
    assert answer.usage == {"total_tokens": 150, "repairs": 1}


def test_repairs_stop_after_two_rounds(model, warehouse, tmp_path):
    backend = RepairingBackend(BAD, BAD)
    answer = _agent(model, warehouse, tmp_path, offline=backend).ask("revenue")
    assert answer.status == "rejected" and len(backend.repair_calls) == MAX_REPAIRS
    assert answer.usage["repairs"] == MAX_REPAIRS


def test_repair_giving_up_keeps_the_first_failure(model, warehouse, tmp_path):
    backend = RepairingBackend(BAD, None)
    answer = _agent(model, warehouse, tmp_path, offline=backend).ask("revenue")
    assert answer.status == "rejected" and "revenue" in answer.error
    assert len(backend.repair_calls) == 1


def test_auto_asks_the_llm_when_the_parser_is_unsure(model, warehouse, tmp_path):
    unsure = GOOD.model_copy(update={"confidence": 0.2})
    llm = ScriptedBackend(GOOD, name="llm")
    agent = _agent(model, warehouse, tmp_path, ScriptedBackend(unsure), llm, mode="auto")
    answer = agent.ask("Etorki-ish", chart=False)
    assert answer.backend == "llm" and "unsure (confidence 0.20)" in answer.assumptions[-1]
    refusal = ScriptedBackend(Unanswerable(message="?"), name="offline")
    failing = _agent(model, warehouse, tmp_path, refusal, FailingBackend(), mode="auto")
    answer = failing.ask("weather?")
    assert answer.status == "unanswerable" and answer.backend == "offline"
    assert "LLM failed: LLM server at http://127.0.0.1:9" in answer.assumptions[0]


def test_a_failing_backend_is_an_error_answer(model, warehouse, tmp_path):
    agent = _agent(model, warehouse, tmp_path, llm=FailingBackend(), mode="llm")
    answer = agent.ask("Etorki")
    assert answer.status == "error" and answer.backend == "failing"
    assert answer.error.startswith("LLM server")


@pytest.mark.parametrize(
    ("question", "status", "says"),
    [
        ("", "error", "empty question"),
        (" \t\n ", "error", "empty question"),
        ("sales " * 2_000, "error", "too long: 11,999 characters"),
        ("sales of Etorki\x1b[2J", "error", "control character (U+001B"),
        ("SELECT * FROM sales_overall", "unanswerable", "salesgenie sql"),
        ("drop table sales_overall;", "unanswerable", "this is SQL"),
        ("Quelles sont les ventes d'Etorki ?", "unanswerable", "English"),
        ("エトルキの売上を見せて", "unanswerable", "English"),
    ],
)
def test_bad_input_never_reaches_the_backend(model, warehouse, tmp_path, question, status, says):
    backend = ScriptedBackend(GOOD)
    answer = _agent(model, warehouse, tmp_path, offline=backend).ask(question)
    assert answer.status == status and answer.exit_code == (1 if status == "error" else 2)
    assert says in (answer.error or answer.answer)
    assert backend.calls == [] and answer.sql is None


@pytest.mark.parametrize(
    "question",
    [
        "Select the top 5 products from brand ETORKI",
        "Show sales for Caprice des Dieux in 2024",
        "Please show a graphic with sales for product Etorki and the prediction from the model, "
        "on a line plot. Please differentiate colors for train (actual) and predict.",
    ],
)
def test_questions_that_look_odd_still_reach_the_backend(model, warehouse, tmp_path, question):
    backend = ScriptedBackend(GOOD)
    _agent(model, warehouse, tmp_path, offline=backend).ask(question, chart=False)
    assert len(backend.calls) == 1


def test_bar_chart_and_unknown_columns(tmp_path):
    rows = [["ETORKI PORT 250G FAMILIAL X8 FR", 1_234_567.0], ["OTHER", 12.5]]
    spec = ChartSpec(kind="bar", x="product", y="sales", title="Sales by product")
    drawn = render_chart(spec, ["product", "sales"], rows, tmp_path / "bar.png")
    assert drawn and drawn.read_bytes()[:8] == PNG
    missing = spec.model_copy(update={"y": "revenue"})
    assert render_chart(missing, ["product", "sales"], rows, tmp_path / "no.png") is None
    none = ChartSpec(kind="none")
    assert render_chart(none, ["product", "sales"], rows, tmp_path / "none.png") is None
    single = render_chart(spec, ["product", "sales"], rows[:1], tmp_path / "single.png")
    assert single is None  # a single value is said, not drawn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bar.png"]


def test_llm_backend_needs_a_server(monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SalesgenieError, match="OPENAI_BASE_URL"):
        open_agent("llm")


def test_offline_agent_answers_the_seed_question_and_its_follow_ups(model, warehouse, tmp_path):
    agent = open_agent("offline", warehouse=warehouse, model=model)
    agent.charts_dir = tmp_path
    conversation = Conversation()
    seed = agent.ask(SEED_QUESTION, conversation)
    assert seed.status == "ok" and seed.backend == "offline"
    assert "mapping_timeseries_id_product" in seed.sql and "sales_overall" in seed.sql
    assert {row[1] for row in seed.rows} == {"train", "predict"}
    assert Path(seed.chart).read_bytes()[:8] == PNG
    assert any(note.startswith("latest actual week: ") for note in seed.assumptions)
    fr01 = agent.ask("and for FR01?", conversation)
    assert fr01.status == "ok" and "FR01" in fr01.sql and "FR01" in fr01.answer
    forecast = agent.ask("only the forecast", conversation)
    assert {row[1] for row in forecast.rows} == {"predict"}
    table = agent.ask("as a table", conversation)
    assert table.status == "ok" and table.chart is None
    agent.close()  # the agent does not own the fixture's warehouse
    assert warehouse.execute("SELECT 1 AS one").rows == [(1,)]


def test_a_few_weeks_get_a_tick_each_and_many_get_automatic_ticks():
    from datetime import date, timedelta

    from matplotlib.figure import Figure

    from agent.charts import _date_axis

    ax = Figure().add_subplot()
    weeks = [date(2025, 12, 22) + timedelta(weeks=i) for i in range(3)]
    ax.plot(weeks, [1, 2, 3])
    _date_axis(ax, weeks)
    ticks = ax.get_xticks()
    labels = ax.xaxis.get_major_formatter().format_ticks(ticks)
    assert labels == ["22 Dec 2025", "29 Dec", "05 Jan 2026"]

    ax = Figure().add_subplot()
    many = [date(2024, 1, 1) + timedelta(weeks=i) for i in range(90)]
    ax.plot(many, range(90))
    _date_axis(ax, many)
    assert len(ax.get_xticks()) < 20
