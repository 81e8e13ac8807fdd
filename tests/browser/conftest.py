"""Browser fixtures: the portal served on loopback, Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}
DESKTOP = {"viewport": {"width": 1280, "height": 860}}


@pytest.fixture
def app_config() -> dict:
    """Serve with CSRF on, as in production."""
    return {"WTF_CSRF_ENABLED": True}


def closing(app: Flask) -> Callable:
    """Wrap an app so that its answer is closed even when the browser hangs up midway.

    Werkzeug's development server skips `close()` when a write fails on a dropped
    connection (Chromium drops a stylesheet it no longer needs), which leaves a static
    file open; a generator is closed when collected, and its `finally` closes the answer.
    Gunicorn, which serves production, closes it itself."""

    def serve(environ: dict, start_response: Callable) -> Iterable[bytes]:
        answer = app(environ, start_response)
        try:
            yield from answer
        finally:
            if hasattr(answer, "close"):
                answer.close()

    return serve


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """Serve the test app on a free loopback port; return its base URL."""
    server = make_server("127.0.0.1", 0, closing(app), threaded=True)
    # Absolute links (the private link after reporting) name PUBLIC_URL: this server.
    app.config["PUBLIC_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app.config["PUBLIC_URL"]
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser_instance():
    """Launch Debian's Chromium once for the session."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=["phone", "desktop"])
def viewport(request: pytest.FixtureRequest) -> dict:
    """Run a test on a phone-sized and on a desktop window."""
    return PHONE if request.param == "phone" else DESKTOP


@pytest.fixture
def page_factory(browser_instance, tmp_path):
    """Open pages in fresh contexts; collect console errors; screenshot on the way out."""
    contexts = []

    def open_page(size: dict, locale: str = "zh-CN", **options):
        context = browser_instance.new_context(locale=locale, **size, **options)
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.console_errors = []
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        contexts.append(context)
        return page

    yield open_page
    for n, context in enumerate(contexts):
        for m, page in enumerate(context.pages):
            page.screenshot(path=str(tmp_path / f"page-{n}-{m}.png"), full_page=True)
        context.close()


def main_menu(page):
    """Return the main navigation, unfolding it first where it folds (a phone)."""
    button = page.locator(".site-menu > summary")
    if button.is_visible() and page.locator(".site-menu[open]").count() == 0:
        button.click()
    return page.locator(".main-nav")
