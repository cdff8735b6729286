"""Fixtures for the browser tests: the real API app served by uvicorn on a free port (its OAuth redirect
URI pointing at itself, so the emulator sends the browser back to it), the real worker, the session's
PostgreSQL, Temporal dev server and QBO emulator, and Debian's chromium driven by Playwright.

Playwright never downloads a browser here: it is pointed at the system's `chromium`. Without one the
tests skip (`make test` says so in one line), except under CI, where a missing browser fails the run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import api_settings, emu, oauth_round_trip, worker  # noqa: F401 (fixtures)
from tests.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        message = "browser tests need Debian's chromium (apt-get install chromium); none on PATH"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set: {message}", pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator:
    """One chromium for the session: launching it is the costly part (README "Tests"); tests don't share
    anything of it but the process, each gets its own context."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def browser_page(browser) -> AsyncIterator:
    """A fresh browser context per test (its own cookies, storage and cache), laptop-sized."""
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield await context.new_page()
    finally:
        await context.close()


@pytest.fixture
async def dashboard_url(api_settings, task_queue) -> AsyncIterator[str]:  # noqa: F811
    """The API as a browser reaches it: uvicorn on a free port, with the redirect URI on that port."""
    import uvicorn

    from api.__main__ import uvicorn_config
    from api.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = api_settings.model_copy(update={"qbo_redirect_uri": f"{base}/oauth/qbo/callback"})
    server = uvicorn.Server(uvicorn_config(create_app(settings, task_queue=task_queue), settings, "127.0.0.1"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: asyncio.sleep(0, server.started or serving.done()), timeout=60,
                         what="uvicorn to start")
        assert not serving.done(), "uvicorn stopped during startup"
        yield base
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def api(dashboard_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=dashboard_url, timeout=60) as http:
        yield http


@pytest.fixture
def shot(tmp_path: Path):
    """`await shot(page, "name")`: a full-page screenshot in the test's tmp dir, and under docs/screenshots/
    when UPDATE_SCREENSHOTS=1 (the committed ones README shows)."""
    async def take(page, name: str) -> Path:
        path = tmp_path / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, SCREENSHOTS / path.name)
        return path

    return take


async def reload_until(page, locator, expected: str, *, timeout: float = 90) -> None:  # noqa: ASYNC109
    """The page is plain HTML (no polling script): reload it until `locator` shows `expected`, each look
    waiting up to 2 s with Playwright's auto-waiting assertion, the whole wait bounded by `timeout`."""
    from playwright.async_api import expect

    deadline = time.monotonic() + timeout
    while True:
        try:
            await expect(locator).to_contain_text(expected, timeout=2000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await page.reload()
