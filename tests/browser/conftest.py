"""Real-browser tests of the dashboard: headless Chromium (Debian's, no `playwright install`) driven through
Playwright's sync API against a real `mycpaas serve` process.

Fixtures: one browser for the session; one server (SQLite) and one dashboard user per test module; and for
each test, fresh browser contexts whose pages fail the test on any console error or uncaught script error
(the pages run under a strict CSP, so an inline script or style would show up here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.browser.support import Dashboard
from tests.conftest import dispose_server, make_server
from tests.dashboard_support import create_user
from tests.server import ServerProcess

CHROMIUM = "/usr/bin/chromium"
# Playwright's expect() polls for 5 s unless told otherwise (the context's default timeout does not apply to it),
# and many expectations here wait for the server's background work: a delivery, a receipt, a webhook attempt, a
# live page's next poll. A busy CI machine can take longer than 5 s for those; a passing expectation returns as
# soon as it holds, so the longer deadline costs only a failing test's time.
EXPECT_TIMEOUT_MS = 30_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture(autouse=True)
def _no_edge_or_region(monkeypatch: pytest.MonkeyPatch) -> None:
    # The twilio SDK rewrites the hostname with these (127.0.0.1 -> 127.dublin.0.0.1): keep them out.
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Per module, not per session: Playwright's sync API keeps an event loop running in this thread while
    # it is open, and other tests' asyncio.run() (e.g. creating PostgreSQL databases) refuses to run then.
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Overrides tests/conftest.py's `server`: a fresh SQLite server per test module."""
    instance = make_server(tmp_path_factory.mktemp("browser-server"), "sqlite")
    yield instance
    dispose_server(instance)


@pytest.fixture(scope="module")
def user(server: ServerProcess, request: pytest.FixtureRequest) -> str:
    """A dashboard user of the module server's owner account (password tests.dashboard_support.PASSWORD)."""
    email = f"{request.module.__name__.rsplit('.', 1)[-1].replace('_', '-')}@example.com"
    create_user(server, email)
    return email


OpenDashboard = Callable[..., Dashboard]


@pytest.fixture
def open_dashboard(browser: Browser) -> Iterator[OpenDashboard]:
    """Open a page on a server in a fresh browser context (clipboard allowed for that server's origin).

    At the end of the test, every page opened must have logged no console error and thrown no script error.
    """
    opened: list[Dashboard] = []

    def open_page(server: ServerProcess, **context_options: Any) -> Dashboard:
        context = browser.new_context(**context_options)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
        context.set_default_timeout(10_000)
        dashboard = Dashboard(server, context.new_page())
        opened.append(dashboard)
        return dashboard

    yield open_page
    problems = [problem for dashboard in opened for problem in dashboard.console_problems()]
    for dashboard in opened:
        dashboard.page.context.close()
    if problems:
        pytest.fail("errors in the browser console:\n" + "\n".join(problems))


@pytest.fixture
def dash(open_dashboard: OpenDashboard, server: ServerProcess) -> Dashboard:
    """A desktop-sized page on the module's server, not yet signed in."""
    return open_dashboard(server, viewport={"width": 1280, "height": 900})
