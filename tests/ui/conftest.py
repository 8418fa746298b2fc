"""A live Hippo for the browser: `hippo api` (with tokens), one `hippo worker` and the dev
master running commands for real, on our own Redis; and Debian's chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from hippo.devmaster.config import MasterConfig
from hippo.devmaster.server import DevMaster
from tests.conftest import need_service, start_hippo_api
from tests.worker.conftest import FAST, WorkerProcess

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
WRITE_TOKEN = "ui-token"
READ_TOKEN = "ui-reader"
# Generous: the machine is shared, and a wait ends as soon as the page shows the thing.
PAGE_TIMEOUT_MS = 30_000


@dataclass
class Live:
    url: str
    redis_url: str
    devmaster: DevMaster

    def api(self, token: str = WRITE_TOKEN) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


@pytest.fixture(scope="module")
def live(redis_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One live Hippo per test module; each test uses ids of its own."""
    client = redis.Redis.from_url(redis_server)
    client.flushall()
    client.close()
    tmp = tmp_path_factory.mktemp("ui-live")
    dev = DevMaster(
        MasterConfig(
            agents=1,
            cpus=2.0,
            mem_mb=1024,
            docker="never",
            update_retry_s=1.0,
            remove_work_dir_on_stop=True,
        )
    ).start()
    # The API reads task output through the master, as the worker talks to it.
    env = {"HIPPO_API_TOKENS": f"{WRITE_TOKEN},read:{READ_TOKEN}", "HIPPO_MESOS_MASTER": dev.url}
    worker = WorkerProcess(
        {**FAST, **env, "HIPPO_REDIS_URL": redis_server},
        Path(tmp) / "worker.log",
    )
    api_log = (Path(tmp) / "api.log").open("wb")
    try:
        process, url = start_hippo_api(redis_server, output=api_log, **env)
    except BaseException:
        worker.terminate()
        dev.stop()
        api_log.close()
        raise
    try:
        yield Live(url, redis_server, dev)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        api_log.close()
        worker.terminate()
        dev.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need_service("playwright is not installed (pip install -e '.[test]')")
    if not os.path.exists(CHROMIUM):
        need_service("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser: Any, live: Live, token: str | None = WRITE_TOKEN, **context: Any) -> Any:
    """A new tab on the UI; with `token`, as if the user had entered it this session."""
    ctx = browser.new_context(**context)
    ctx.set_default_timeout(PAGE_TIMEOUT_MS)
    if token is not None:
        ctx.add_init_script(f"sessionStorage.setItem('hippo-token', {token!r});")
    page = ctx.new_page()
    page.goto(f"{live.url}/ui/")
    return page


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    page = open_page(browser, live, viewport={"width": 1280, "height": 900})
    yield page
    page.context.close()


def screenshot(page: Any, name: str) -> None:
    """Saves a PNG for the docs when HIPPO_UI_SCREENSHOTS names a folder (docs/img)."""
    folder = os.environ.get("HIPPO_UI_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=False)
