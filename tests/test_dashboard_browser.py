"""The web dashboard in headless Chromium (Debian's package, driven by Playwright): the empty state of an
API with no run data, and a real `inferload profile` run against the simulator whose charts update, whose
rate is changed through the page with the API token, and whose achieved rate follows. A screenshot of
the page is kept as a test artifact (``$INFERLOAD_TEST_ARTIFACTS`` or ``artifacts/test-artifacts/``).

The browser context is offline except for the API under test: any request elsewhere fails the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_state_factory import make_state, serving
from conftest import REPO_ROOT
from headless_chromium import CHROMIUM, LAUNCH_FLAGS, needs_chromium

pytestmark = [needs_chromium, pytest.mark.slow]

TOKEN = "dashboard-token-SECRET-5150"


def artifact_path(name: str) -> Path:
    root = Path(os.environ.get("INFERLOAD_TEST_ARTIFACTS") or REPO_ROOT / "artifacts" / "test-artifacts")
    root.mkdir(parents=True, exist_ok=True)
    return root / name


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
        browser_page.wait_for_function("document.body.dataset.points === '0'")
        browser_page.wait_for_function("document.getElementById('system-state').textContent === 'created'")
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
        browser_page.wait_for_function("document.getElementById('status').textContent.includes('/api/workers')")
        assert browser_page.locator("#system-state").text_content() == "created"
        assert httpx.get(f"{server.url}/api/workers").status_code == 404
    # The browser itself logs the failed fetch; no script error comes with it.
    assert all("404" in error for error in browser.errors), browser.errors
