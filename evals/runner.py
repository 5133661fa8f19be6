"""Run the canned questions against the agent and score them by execution accuracy.

Each question is a fresh Conversation (a follow-up chain shares one across its turns); each turn
is one scored item. Gold SQL runs on the agent's own warehouse through the same guard
(`check_sql`) with a high row limit: a gold query outside the semantic layer is a suite bug and
fails loudly, and no gold result is cut short. Reports: Markdown + JSON (per item, per category,
latency p50/p95) and an MLflow run in the experiment `salesgenie_evals`.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evals.compare import compare_results, is_ordered
from salesgenie.errors import SalesgenieError

EXPERIMENT = "salesgenie_evals"
DEFAULT_QUESTIONS = Path(__file__).parent / "questions.yaml"
GOLD_ROW_LIMIT = 1_000_000
CATEGORIES = (
    "series",
    "forecast",
    "totals",
    "top-n",
    "breakdown",
    "comparison",
    "counts/lists",
    "accuracy",
    "follow-up chain",
    "clarification",
    "unanswerable",
    "adversarial",
)
STATUSES = ("ok", "clarification", "unanswerable", "rejected", "error")
CHARTS = ("line", "bar", "none")


@dataclass
class Turn:
    """One scored question: what to ask and what counts as right."""

    question: str
    status: str
    chart: str
    gold_sql: list[str]


@dataclass
class Question:
    id: str
    category: str
    turns: list[Turn]  # one turn, or a follow-up chain


@dataclass
class ItemResult:
    """One turn's verdict."""

    id: str
    category: str
    question: str
    verdict: str  # GOOD / BAD / NEEDS_REVIEW
    reasons: list[str]
    strict: bool
    relaxed: bool
    status: str
    expected_status: str
    chart: str
    expected_chart: str
    latency_ms: float
    sql: str | None
    detail: str | None = None


@dataclass
class EvalReport:
    backend: str
    questions_path: str
    items: list[ItemResult] = field(default_factory=list)
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    totals: dict[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None

    @property
    def good_share(self) -> float:
        return self.totals.get("good_share", 0.0)


def load_questions(path: Path) -> list[Question]:
    """The suite file, checked: a typo in it must not read as an agent failure."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SalesgenieError(f"cannot read questions {path}: {exc}") from None
    if not isinstance(raw, list):
        raise SalesgenieError(f"{path}: expected a list of questions")
    questions, seen = [], set()
    for entry in raw:
        qid = entry.get("id")
        if not qid or qid in seen:
            raise SalesgenieError(f"{path}: missing or duplicate id {qid!r}")
        seen.add(qid)
        category = entry.get("category")
        if category not in CATEGORIES:
            raise SalesgenieError(f"{path}: {qid}: unknown category {category!r}")
        turns = [_turn(qid, t) for t in entry.get("turns", [entry])]
        questions.append(Question(id=qid, category=category, turns=turns))
    return questions


def _turn(qid: str, raw: dict[str, Any]) -> Turn:
    gold = raw.get("gold_sql") or []
    turn = Turn(
        question=str(raw.get("question", "")),
        status=raw.get("status", "ok"),
        chart=raw.get("chart", "none"),
        gold_sql=[gold] if isinstance(gold, str) else list(gold),
    )
    if not turn.question or turn.status not in STATUSES or turn.chart not in CHARTS:
        raise SalesgenieError(f"{qid}: needs a question, a known status and chart kind")
    if (turn.status == "ok") != bool(turn.gold_sql):
        raise SalesgenieError(f"{qid}: gold_sql is required for status ok, and only then")
    return turn


def run_eval(
    questions_path: Path,
    backend: str = "offline",
    report_path: Path | None = None,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    log_mlflow: bool = True,
) -> EvalReport:
    """Ask every question, score every turn, write the reports; `on_progress(done, total)`."""
    from agent.core import Conversation, open_agent
    from semantic_layer.guard import check_sql

    questions = load_questions(questions_path)
    report = EvalReport(backend=backend, questions_path=str(questions_path))
    total = sum(len(q.turns) for q in questions)
    with open_agent(backend) as agent, tempfile.TemporaryDirectory() as charts:  # type: ignore[arg-type]
        allowed = agent.model.allowed_columns()

        def gold(sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
            checked = check_sql(
                sql, allowed, dialect=agent.warehouse.dialect, row_limit=GOLD_ROW_LIMIT
            )
            result = agent.warehouse.execute(checked.sql)
            return result.columns, result.rows

        for question in questions:
            conversation = Conversation()
            for n, turn in enumerate(question.turns):
                item_id = question.id if len(question.turns) == 1 else f"{question.id}#{n + 1}"
                started = time.perf_counter()
                answer = agent.ask(turn.question, conversation, Path(charts) / f"{item_id}.png")
                latency = (time.perf_counter() - started) * 1000
                planned = conversation.turns[-1].plan if answer.status == "ok" else None
                chart = planned.chart.kind if answer.chart and planned is not None else "none"
                report.items.append(
                    _score(item_id, question.category, turn, answer, chart, latency, gold)
                )
                if on_progress:
                    on_progress(len(report.items), total)
    _summarise(report)
    if log_mlflow:  # writes the reports too: they carry the run id and are its artifacts
        _log_mlflow(report, report_path)
    elif report_path is not None:
        write_reports(report, Path(report_path))
    return report


def _score(
    item_id: str,
    category: str,
    turn: Turn,
    answer: Any,
    chart: str,
    latency: float,
    gold: Callable[[str], tuple[list[str], list[tuple[Any, ...]]]],
) -> ItemResult:
    item = ItemResult(
        id=item_id,
        category=category,
        question=turn.question,
        verdict="BAD",
        reasons=[],
        strict=False,
        relaxed=False,
        status=answer.status,
        expected_status=turn.status,
        chart=chart,
        expected_chart=turn.chart,
        latency_ms=round(latency, 1),
        sql=answer.sql,
        detail=answer.error or (answer.answer if answer.status != "ok" else None),
    )
    if answer.status != turn.status:
        reason = {"rejected": "SQL_REJECTED", "error": "ERROR"}.get(answer.status, "WRONG_STATUS")
        item.reasons = [reason]
        return item
    if turn.status == "ok":
        best: list[str] | None = None
        for sql in turn.gold_sql:
            columns, rows = gold(sql)
            result = compare_results(
                rows,
                answer.rows,
                ordered=is_ordered(sql),
                gold_width=len(columns),
                agent_width=len(answer.columns),
            )
            item.strict |= result.strict
            item.relaxed |= result.relaxed
            if result.strict:
                break
            if best is None or (result.relaxed and best != ["RESULT_EXTRA_COLUMNS"]):
                best = result.reasons
        item.reasons = [] if item.strict else list(best or [])
    else:
        item.strict = item.relaxed = True
    if chart != turn.chart:
        item.reasons.append("WRONG_CHART")
    if item.strict and not item.reasons:
        item.verdict = "GOOD"
    elif item.relaxed and item.reasons == ["RESULT_EXTRA_COLUMNS"]:
        item.verdict = "NEEDS_REVIEW"
    return item


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)


def _stats(items: list[ItemResult]) -> dict[str, Any]:
    n = len(items)
    latencies = [i.latency_ms for i in items]
    count = {v: sum(i.verdict == v for i in items) for v in ("GOOD", "NEEDS_REVIEW", "BAD")}
    return {
        "n": n,
        "good": count["GOOD"],
        "needs_review": count["NEEDS_REVIEW"],
        "bad": count["BAD"],
        "good_share": round(count["GOOD"] / n, 4) if n else 0.0,
        "strict_share": round(sum(i.strict for i in items) / n, 4) if n else 0.0,
        "relaxed_share": round(sum(i.relaxed for i in items) / n, 4) if n else 0.0,
        "latency_p50_ms": round(statistics.median(latencies), 1) if latencies else 0.0,
        "latency_p95_ms": _percentile(latencies, 0.95),
    }


def _summarise(report: EvalReport) -> None:
    for category in CATEGORIES:
        items = [i for i in report.items if i.category == category]
        if items:
            report.categories[category] = _stats(items)
    report.totals = _stats(report.items)


def markdown(report: EvalReport) -> str:
    """The per-category table, then every item that is not GOOD with its reasons."""
    lines = [
        f"# salesgenie eval — backend {report.backend}",
        "",
        "| category | n | GOOD | NEEDS_REVIEW | BAD | good % | strict % | relaxed % "
        "| p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [*report.categories.items(), ("**all**", report.totals)]
    for name, s in rows:
        lines.append(
            f"| {name} | {s['n']} | {s['good']} | {s['needs_review']} | {s['bad']} "
            f"| {100 * s['good_share']:.1f} | {100 * s['strict_share']:.1f} "
            f"| {100 * s['relaxed_share']:.1f} | {s['latency_p50_ms']} | {s['latency_p95_ms']} |"
        )
    flagged = [i for i in report.items if i.verdict != "GOOD"]
    if flagged:
        lines += ["", "| id | verdict | reasons | question |", "|---|---|---|---|"]
        for i in flagged:
            question = i.question.replace("|", "\\|")
            lines.append(f"| {i.id} | {i.verdict} | {', '.join(i.reasons)} | {question} |")
    return "\n".join(lines) + "\n"


def write_reports(report: EvalReport, path: Path) -> tuple[Path, Path]:
    """`path` (Markdown) and the same name with .json."""
    md_path = path if path.suffix == ".md" else path.with_suffix(".md")
    json_path = md_path.with_suffix(".json")
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(markdown(report), encoding="utf-8")
    payload = asdict(report) | {"good_share": report.good_share}
    json_path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    return md_path, json_path


def _metric_name(category: str) -> str:
    return category.replace("/", "_").replace(" ", "_").replace("-", "_")


def _log_mlflow(report: EvalReport, report_path: Path | None) -> None:
    """One run per eval: backends and versions compare side by side in `mlflow ui`."""
    import mlflow

    from salesgenie import settings

    mlflow.set_tracking_uri(settings.mlflow_tracking_uri())
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = (
        client.create_experiment(EXPERIMENT, artifact_location=settings.mlflow_artifact_root())
        if experiment is None
        else experiment.experiment_id
    )
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"eval-{report.backend}") as run:
        report.mlflow_run_id = run.info.run_id
        mlflow.log_params(
            {"backend": report.backend, "questions": report.questions_path, "n": len(report.items)}
        )
        metrics = {f"all.{k}": v for k, v in report.totals.items()}
        for category, stats in report.categories.items():
            metrics |= {f"{_metric_name(category)}.{k}": v for k, v in stats.items()}
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        with tempfile.TemporaryDirectory() as tmp:
            md_path, json_path = write_reports(report, report_path or Path(tmp) / "report.md")
            mlflow.log_artifact(str(md_path))
            mlflow.log_artifact(str(json_path))
