"""`salesgenie ask` and `salesgenie chat`: the real console script on the demo warehouse.

Each test runs in its own directory with SALESGENIE_WAREHOUSE naming the shared (read-only)
demo warehouse, so default chart files land in the test's directory, not the fixture's.
"""

import json
from pathlib import Path

import pytest
from console_script import CONTRACT_KEYS, run_salesgenie

from agent.core import SEED_QUESTION

PNG = b"\x89PNG\r\n\x1a\n"


def _run(cwd: Path, warehouse: Path, *args: str, stdin: str | None = None):
    return run_salesgenie(
        *args,
        cwd=cwd,
        set_env={"SALESGENIE_WAREHOUSE": str(warehouse)},
        unset_env=["OPENAI_"],
        stdin=stdin,
    )


def test_seed_question_answers_with_sql_rows_and_a_chart(demo_warehouse, tmp_path):
    chart = tmp_path / "out" / "etorki.png"
    done = _run(tmp_path, demo_warehouse, "ask", SEED_QUESTION, "--json", "--chart", str(chart))
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert set(payload) >= CONTRACT_KEYS | {"assumptions"}
    assert payload["status"] == "ok" and payload["error"] is None
    assert payload["backend"] == "offline" and payload["question"] == SEED_QUESTION
    assert "sales_overall" in payload["sql"] and "mapping_timeseries_id_product" in payload["sql"]
    assert {"train", "predict"} <= {v for row in payload["rows"] for v in row}
    assert payload["answer"] and payload["chart"] == str(chart)
    assert chart.read_bytes()[:8] == PNG and chart.stat().st_size > 10_000


def test_people_get_the_sentence_sql_table_and_chart_path(demo_warehouse, tmp_path):
    done = _run(tmp_path, demo_warehouse, "ask", SEED_QUESTION)
    assert done.returncode == 0, done.stderr
    assert "SELECT" in done.stdout and "predict" in done.stdout
    charts = list((tmp_path / "data" / "charts" / "answers").glob("*.png"))
    assert len(charts) == 1 and f"chart: {charts[0]}\n" in done.stdout


@pytest.mark.parametrize(
    ("question", "code", "status", "says"),
    [
        ("", 1, "error", "empty question"),
        ("x" * 10_000, 1, "error", "too long"),
        ("sales\x1b[31m of Etorki", 1, "error", "control character"),
        ("SELECT * FROM sales_overall", 2, "unanswerable", "salesgenie sql"),
        ("Quelles sont les ventes d'Etorki ?", 2, "unanswerable", "English"),
    ],
)
def test_bad_input_gets_a_status_a_message_and_its_exit_code(
    demo_warehouse, tmp_path, question, code, status, says
):
    done = _run(tmp_path, demo_warehouse, "ask", question, "--json")
    payload = json.loads(done.stdout)
    assert done.returncode == code and payload["status"] == status
    assert says in (payload["error"] or payload["answer"])
    human = _run(tmp_path, demo_warehouse, "ask", question)
    assert human.returncode == code and says in human.stdout + human.stderr
    assert "Traceback" not in human.stderr


def test_llm_backend_without_a_server_is_one_json_error(demo_warehouse, tmp_path):
    done = _run(tmp_path, demo_warehouse, "ask", "sales of Etorki", "--json", "--backend", "llm")
    payload = json.loads(done.stdout)
    assert done.returncode == 1 and payload["status"] == "error"
    assert "OPENAI_BASE_URL" in payload["error"]


def test_chat_helps_answers_runs_sql_and_quits(demo_warehouse, tmp_path):
    script = "\n".join(
        [
            "/help",
            SEED_QUESTION,
            "and for FR01?",
            "/sql SELECT DISTINCT brand FROM mapping_timeseries_id_product",
            "/sql DROP TABLE sales_overall",
            "/quit",
            "never read",
        ]
    )
    done = _run(tmp_path, demo_warehouse, "chat", "--backend", "offline", stdin=script + "\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "/sql QUERY" in out  # the help
    assert "sales_overall" in out and "chart: " in out  # the answer: SQL and chart path
    assert "ETORKI" in out and "1 rows" in out  # /sql
    assert "rejected" in done.stderr and "Traceback" not in done.stderr
    assert "FR01 France" in out  # the follow-up kept the product
    assert len(list((tmp_path / "data" / "charts" / "answers").glob("*.png"))) == 2


def test_demo_answers_the_seed_question_into_data_charts(demo_warehouse, tmp_path, monkeypatch):
    from salesgenie.cli.pipeline_commands import _answer_seed_question

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SALESGENIE_WAREHOUSE", str(demo_warehouse))
    chart = _answer_seed_question()
    assert chart == (tmp_path / "data" / "charts" / "etorki.png").resolve()
    assert chart.read_bytes()[:8] == PNG


def test_chat_ends_at_end_of_input(demo_warehouse, tmp_path):
    done = _run(tmp_path, demo_warehouse, "chat", stdin="")
    assert done.returncode == 0 and "Traceback" not in done.stderr
