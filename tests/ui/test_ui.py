"""The web UI in a real browser (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import need_service, start_hippo_api
from tests.examples import queue

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def hippo_url(redis_url: str) -> Iterator[str]:
    process, url = start_hippo_api(redis_url, HIPPO_API_TOKENS="ui-token")
    yield url
    process.terminate()
    process.wait(20)


@pytest.fixture
def page(hippo_url: str) -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need_service("playwright is not installed (pip install -e '.[test]')")
    if not os.path.exists(CHROMIUM):
        need_service("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(10_000)
        page.goto(hippo_url)
        page.fill("#token", "ui-token")
        page.dispatch_event("#token", "change")
        yield page
        browser.close()


def test_run_a_task_see_it_waiting_then_kill_it(page: Any) -> None:
    page.fill("input[name=id]", "from-ui")
    page.fill("input[name=cmd]", "echo hello from the UI")
    page.click("text=Run task")
    row = page.locator("#tasks tr", has_text="from-ui.")
    row.locator("text=WAITING_ON_OFFERS").wait_for()

    row.locator("button", has_text="Kill").click()

    row.locator("text=TASK_KILLED").wait_for()
    assert row.locator("td.state").text_content() == "TASK_KILLED"


def test_bad_task_shows_the_field_error(page: Any) -> None:
    page.fill("input[name=cmd]", "true")
    page.fill("input[name=id]", "bad id")
    page.click("text=Run task")
    error = page.locator("#message.error", has_text="id:")
    error.wait_for()
    assert "String should match pattern" in error.text_content()


def test_queue_is_listed_and_toggled(page: Any, hippo_url: str) -> None:
    headers = {"Authorization": "Bearer ui-token"}
    created = httpx.post(f"{hippo_url}/queues/", json=queue(id="images"), headers=headers)
    assert created.status_code == 201, created.text
    page.click("text=Queues")
    row = page.locator("#queues tr", has_text="images")
    assert row.locator("td.status").text_content() == "ENABLED"

    row.locator("button", has_text="Disable").click()

    row.locator("td.status", has_text="DISABLED").wait_for()
    stored = httpx.get(f"{hippo_url}/queues/images/", headers=headers)
    assert stored.status_code == 200, stored.text
    assert stored.json()["queue"]["status"] == "DISABLED"
