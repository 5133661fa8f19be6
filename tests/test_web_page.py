"""The page at / in a real headless browser (Debian's chromium driven by playwright): the space,
the Etorki question answered with a sentence, SQL, table and chart, a follow-up in the same
conversation, feedback; and nothing loaded from anywhere but the page's own origin."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import live_server

CHROMIUM = Path("/usr/bin/chromium")
SEED = (
    "Please show a graphic with sales for product Etorki and the prediction from the model, "
    "on a line plot. Please differentiate colors for train (actual) and predict."
)
FOLLOW_UP = "only the forecast"
ANSWER_TIMEOUT_MS = 90_000
ASSETS = ["/", "/static/app.js", "/static/app.css"]


@pytest.fixture(scope="module")
def base_url(demo_workdir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """No token; conversations kept in a temporary store, the demo warehouse left untouched."""
    store = tmp_path_factory.mktemp("web") / "conversations.sqlite"
    with live_server(demo_workdir, store) as running:
        yield running.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless chromium from Debian (never a downloaded browser). Missing → a clear failure."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser test needs Debian's chromium "
            "(apt-get install -y --no-install-recommends chromium; .ci/run does this)"
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser test needs the playwright package (see constraints.txt)")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def test_ask_etorki_then_follow_up(
    base_url: str, browser: Any, tmp_path: Path, record_property: Any
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: problems.append(f"{m.text} {m.location}") if m.type == "error" else None,
    )

    page.goto(base_url + "/")
    expect(page.locator("body[data-ready=true]")).to_have_count(1, timeout=15_000)
    expect(page.get_by_test_id("table").first).to_be_visible()
    assert "sales_overall" in page.get_by_test_id("tables").inner_text()
    suggestions = page.get_by_test_id("suggested-question")
    assert suggestions.count() >= 1, "no suggested questions"
    assert page.get_by_test_id("space-title").inner_text().strip()

    # The seed question, typed and submitted as a person would.
    page.get_by_label("Ask a question").fill(SEED)
    started = time.perf_counter()
    page.get_by_test_id("ask-button").click()
    first = page.get_by_test_id("answer").nth(0)
    chart = first.get_by_test_id("answer-chart")
    expect(chart).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=chart.element_handle()
    )
    seconds = time.perf_counter() - started
    record_property("question_to_chart_s", round(seconds, 2))
    print(f"\nquestion to chart in the page: {seconds:.2f} s")

    assert first.get_attribute("data-status") == "COMPLETED"
    assert first.get_by_test_id("answer-text").inner_text().strip()
    sql = first.get_by_test_id("answer-sql")
    assert "select" in (sql.text_content() or "").lower()
    sql.locator("summary").click()
    expect(sql.locator("pre")).to_be_visible()
    rows = first.get_by_test_id("answer-table").locator("tbody tr")
    assert rows.count() > 0
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", rows.first.locator("td").first.inner_text())
    assert "train" in rows.first.inner_text()
    conversation = first.get_attribute("data-conversation-id")
    assert conversation

    # A follow-up in the same conversation.
    page.get_by_label("Ask a question").fill(FOLLOW_UP)
    page.get_by_label("Ask a question").press("Enter")
    second = page.get_by_test_id("answer").nth(1)
    expect(second).to_have_attribute("data-status", "COMPLETED", timeout=ANSWER_TIMEOUT_MS)
    assert second.get_attribute("data-conversation-id") == conversation
    assert second.get_attribute("data-message-id") != first.get_attribute("data-message-id")
    assert second.get_by_test_id("answer-error").count() == 0
    rows = second.get_by_test_id("answer-table").locator("tbody tr")
    assert rows.count() > 0
    assert "predict" in rows.first.inner_text()
    assert "train" not in second.get_by_test_id("answer-table").inner_text()

    # Feedback on the first answer.
    up = first.get_by_test_id("feedback-up")
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(first.get_by_test_id("feedback-status")).to_have_text(re.compile("Thanks"))
    message = get_json(
        f"{base_url}/api/2.0/genie/spaces/{first.get_attribute('data-space-id')}"
        f"/conversations/{conversation}/messages/{first.get_attribute('data-message-id')}"
    )
    assert message["feedback"]["rating"] == "POSITIVE"

    shot = tmp_path / "web_page.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000

    origin = base_url + "/"
    foreign = [u for u in requests if not (u.startswith(origin) or u.startswith("blob:"))]
    assert not foreign, f"the page loaded from elsewhere: {foreign}"
    assert not problems, problems
    context.close()


def get_json(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return json.load(r)


def test_suggested_question_is_clickable(base_url: str, browser: Any) -> None:
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(base_url + "/")
    suggestion = page.get_by_test_id("suggested-question").first
    question = suggestion.inner_text()
    suggestion.click()
    answer = page.get_by_test_id("answer").nth(0)
    expect(answer.get_by_test_id("answer-question")).to_have_text(question)
    expect(answer).to_have_attribute(
        "data-status", re.compile("COMPLETED|FAILED"), timeout=ANSWER_TIMEOUT_MS
    )
    page.close()


def test_assets_reference_only_their_own_origin(base_url: str) -> None:
    for path in ASSETS:
        with urllib.request.urlopen(base_url + path, timeout=10) as response:
            assert response.status == 200, path
            body = response.read().decode()
            policy = response.headers.get("Content-Security-Policy", "")
        assert not re.search(r"(?i)\bhttps?://", body), f"{path} names another origin"
        assert not re.search(r"(?i)@import|url\(\s*['\"]?//", body), path
        assert "default-src 'self'" in policy, path


def test_page_asks_for_the_token_once(demo_workdir: Path, browser: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    store = tmp_path / "conversations.sqlite"
    with live_server(demo_workdir, store, token="s3cret-token") as running:
        url = running.url
        page = browser.new_page()
        page.goto(url + "/")
        expect(page.get_by_test_id("auth-form")).to_be_visible(timeout=15_000)
        page.get_by_label("This space needs an access token").fill("wrong")
        page.get_by_test_id("auth-form").get_by_role("button").click()
        expect(page.get_by_test_id("auth-form")).to_contain_text("refused")
        page.get_by_label(re.compile("access token")).fill("s3cret-token")
        page.get_by_test_id("auth-form").get_by_role("button").click()
        expect(page.get_by_test_id("suggested-question").first).to_be_visible()
        expect(page.get_by_test_id("auth-form")).to_be_hidden()
        assert page.evaluate("sessionStorage.getItem('salesgenie.token')") == "s3cret-token"
        page.reload()  # same tab, same session: no second prompt
        expect(page.locator("body[data-ready=true]")).to_have_count(1, timeout=15_000)
        expect(page.get_by_test_id("auth-form")).to_be_hidden()
        page.close()
