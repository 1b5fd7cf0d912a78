"""The web dashboard in headless Chromium (Debian's package, driven by Playwright): the empty state of an
API with no run data, and a real `inferload profile` run against the simulator whose charts update, whose
rate is changed through the page with the API token, and whose achieved rate follows. A screenshot of
the page is kept as a test artifact (``$INFERLOAD_TEST_ARTIFACTS`` or ``artifacts/test-artifacts/``).

The browser context is offline except for the API under test: any request elsewhere fails the test.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_state_factory import make_state, serving
from conftest import REPO_ROOT
from headless_chromium import CHROMIUM, LAUNCH_FLAGS, needs_chromium
from live_run import LiveRun, wait_until

pytestmark = [needs_chromium, pytest.mark.slow]

TOKEN = "dashboard-token-SECRET-5150"


def artifact_path(name: str) -> Path:
    root = Path(os.environ.get("INFERLOAD_TEST_ARTIFACTS") or REPO_ROOT / "artifacts" / "test-artifacts")
    root.mkdir(parents=True, exist_ok=True)
    return root / name


def until(page: Any, condition: str, timeout: float = 30_000) -> None:
    """Wait until the JavaScript ``condition`` holds in ``page``. Passed as a function, not a string: the
    page's Content-Security-Policy forbids the eval a string predicate needs."""
    page.wait_for_function(f"() => {condition}", timeout=timeout)


class Browser:
    """One headless page that records console errors, page errors and requests that left the API."""

    def __init__(self, page: Any, api: str) -> None:
        self.page = page
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", lambda request: None if request.url.startswith((api, "data:"))
                else self.outside.append(request.url))

    def points(self) -> int:
        return int(self.page.evaluate("document.body.dataset.points || '0'"))


@pytest.fixture
def browser_page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1100})
            yield context.new_page()
        finally:
            browser.close()


def test_dashboard_with_no_run_data_shows_the_empty_state_without_errors(
    browser_page: Any, tmp_path: Path
) -> None:
    state = make_state(tmp_path)
    with serving(state) as server:
        browser = Browser(browser_page, server.url)
        browser_page.goto(f"{server.url}/dashboard", wait_until="load")
        until(browser_page, "document.body.dataset.points === '0'")
        until(browser_page, "document.getElementById('system-state').textContent === 'created'")
        assert browser_page.locator("#empty-state").is_visible()
        assert browser_page.locator("#status").text_content() == ""
        assert browser_page.locator("#benchmark-id").text_content() == state.run_info.benchmark_id
        assert browser_page.locator("#url").text_content() == "http://<redacted>@127.0.0.1:8000"
        assert browser_page.locator("#chart-ttft canvas").count() >= 1
        assert browser_page.locator("#control-actions").is_hidden()
    assert browser.errors == [] and browser.outside == []


def test_dashboard_names_a_route_that_does_not_answer_and_keeps_the_rest(
    browser_page: Any, tmp_path: Path
) -> None:
    from api_state_factory import registry

    state = make_state(tmp_path)
    with serving(state, registry(disabled=frozenset({"api-workers"}))) as server:
        browser = Browser(browser_page, server.url)
        browser_page.goto(f"{server.url}/dashboard", wait_until="load")
        until(browser_page, "document.getElementById('status').textContent.includes('/api/workers')")
        assert browser_page.locator("#system-state").text_content() == "created"
        assert httpx.get(f"{server.url}/api/workers").status_code == 404
    # The browser itself logs the failed fetch; no script error comes with it.
    assert all("404" in error for error in browser.errors), browser.errors


def test_dashboard_charts_a_live_run_and_its_rate_control_changes_the_achieved_rate(
    browser_page: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    page = browser_page
    run = LiveRun(inferload_exe, cli_env(), tmp_path / "artifacts", "--api-token", TOKEN, "--model",
                  "sim-model", "--request-rate", "4", "--arrival-pattern", "constant",
                  "--benchmark-duration", "120", "--warmup-request-count", "2", "--api-linger", "0")
    try:
        run.wait_serving()
        browser = Browser(page, run.base)
        page.goto(f"{run.base}/dashboard", wait_until="load")
        # The charts update: the page gathers points a second apart and redraws the charts with them.
        until(page, "Number(document.body.dataset.points) >= 3", timeout=60_000)
        chart = page.locator("#chart-throughput canvas").first
        before = (browser.points(), chart.screenshot())
        until(page, f"Number(document.body.dataset.points) >= {before[0] + 2}", timeout=60_000)
        assert chart.screenshot() != before[1], "the throughput chart was not redrawn with new points"
        assert page.locator("#empty-state").is_hidden()
        assert page.locator(".phase[data-phase=profiling] progress").count() == 1
        assert page.locator("#workers tbody tr").count() >= 1
        assert page.locator("#load").text_content() == "4 req/s"

        # A wrong token is refused (401) and changes nothing.
        page.fill("#token", "not-the-token")
        page.click("#token-form button")
        page.fill("#load-value", "16")
        page.click("#load-form button")
        until(page, "document.getElementById('control-result').dataset.status === '401'")
        assert run.load()["request_rate"] == 4

        # With the run's token the page sets the new rate; the run follows it.
        page.fill("#token", TOKEN)
        page.click("#token-form button")
        assert page.locator("#load-kind").input_value() == "request_rate"
        page.fill("#load-value", "16")
        page.click("#load-form button")
        until(page, "document.getElementById('control-result').dataset.status === '200'")
        assert run.load()["request_rate"] == 16
        until(page, "document.getElementById('load').textContent === '16 req/s'")
        changed = run.progress()["phases"]["profiling"]["requests_sent"]
        wait_until(lambda: run.sent() >= changed + 48, timeout=60, what=lambda: run.stderr)  # ~3 s at 16/s
        page.wait_for_timeout(1500)  # let the page draw the points of the new segment
        shot = page.screenshot(full_page=True)
        artifact_path("dashboard.png").write_bytes(shot)
        (tmp_path / "dashboard.png").write_bytes(shot)

        page.click("#stop")
        until(page, "document.getElementById('control-result').dataset.status === '202'")
        assert run.finish() == 130
    finally:
        run.kill()
    # The one console line is the browser's own note of the refused (401) request; no script error.
    assert browser.errors == ["Failed to load resource: the server responded with a status of 401 "
                              "(Unauthorized)"], browser.errors
    assert browser.outside == [], browser.outside
    first, second = run.export()["load_segments"][:2]
    assert (first["request_rate"], second["request_rate"]) == (4, 16) and second["source"] == "control"
    assert second["achieved_request_rate"] > 2 * first["achieved_request_rate"]
    console = (run.run_dir() / "profile_export_console.txt").read_text()
    assert "4 -> 16 req/s (2 load segments)" in console  # the header names the load the page set


def test_during_a_sweep_the_dashboard_follows_each_run_from_its_first_point(
    browser_page: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    page = browser_page
    run = LiveRun(inferload_exe, cli_env(), tmp_path / "artifacts", "--concurrency", "1,2",
                  "--request-count", "40", "--osl", "32", "--api-linger", "inf")
    try:
        wait_until(lambda: bool(run.base), timeout=90, what=lambda: run.stderr)
        browser = Browser(page, run.base)
        page.goto(f"{run.base}/dashboard", wait_until="load")
        until(page, "document.getElementById('benchmark-id').textContent.length > 1", timeout=90_000)
        shown_first = page.locator("#benchmark-id").text_content()
        wait_until(lambda: (run.progress().get("sweep") or {}).get("finished") is True, timeout=120,
                   what=lambda: run.stderr)
        last = run.get("/api/timeline").json()
        assert last["benchmark_id"] != shown_first and last["sampling"] is False
        # The page moved on to the second run and shows it alone: every one of its points, from its first.
        until(page, f"document.getElementById('benchmark-id').textContent === '{last['benchmark_id']}'")
        until(page, f"document.body.dataset.points === '{len(last['points'])}'")
        run.process.send_signal(signal.SIGINT)  # ends the infinite linger
        assert run.finish() == 0, run.stderr
    finally:
        run.kill()
    assert browser.errors == [] and browser.outside == []
