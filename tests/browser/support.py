"""A signed-in (or not yet) browser page on a dashboard, the Twilio SDK aimed at the same server, and the
small waits and reads the browser tests share."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import ConsoleMessage, Dialog, Locator, Page, expect
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.dashboard_support import PASSWORD
from tests.server import ROOT, ServerProcess

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC")
_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d{3})")


@dataclass
class Dashboard:
    server: ServerProcess
    page: Page
    # HTTP statuses a test provokes on purpose (a wrong password is a 401 page): Chromium logs every
    # document or resource loaded with an error status as a console error, these are not failures.
    expected_statuses: set[int] = field(default_factory=set)
    dialogs: list[str] = field(default_factory=list)
    tabs: list[Dashboard] = field(default_factory=list)
    _console: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self._console.append((f"uncaught: {error}", "")))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self._console.append((message.text, message.location.get("url", "")))

    def console_problems(self) -> list[str]:
        problems = []
        for text, url in self._console:
            failed = _FAILED_LOAD.match(text)
            # Chromium asks for /favicon.ico on its own; the dashboard has none (a 404, not a page's error).
            if failed and url.endswith("/favicon.ico") and failed.group(1) == "404":
                continue
            if failed and int(failed.group(1)) in self.expected_statuses and "/static/" not in url:
                continue
            problems.append(f"{url}: {text}")
        return problems + [problem for tab in self.tabs for problem in tab.console_problems()]

    def new_tab(self) -> Dashboard:
        """A second tab in the same browser context (same cookies), watched for console errors too."""
        tab = Dashboard(self.server, self.page.context.new_page())
        self.tabs.append(tab)
        return tab

    # ------------------------------------------------------------------------------------------------------

    def goto(self, path: str) -> None:
        response = self.page.goto(self.server.url + path)
        assert response is not None

    def path(self) -> str:
        """The address bar's path (and query), without the origin."""
        return self.page.url.removeprefix(self.server.url)

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        self.goto("/sign-in")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.locator("header .who")).to_have_text(email)

    def notice(self) -> Locator:
        return self.page.locator("main .notice")

    def error(self) -> Locator:
        return self.page.locator("main .error")

    def html(self) -> str:
        return self.page.content()

    def clipboard(self) -> str:
        return str(self.page.evaluate("navigator.clipboard.readText()"))

    def copy(self, button: Locator) -> str:
        """Click a Copy button and return what landed on the clipboard."""
        self.page.evaluate("navigator.clipboard.writeText('')")
        button.click()
        expect(button).to_have_text("Copied")
        return self.clipboard()

    def answer_next_dialog(self, accept: bool) -> None:
        """The next window.confirm() is answered (its question is kept in self.dialogs)."""

        def answer(dialog: Dialog) -> None:
            self.dialogs.append(dialog.message)
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        self.page.once("dialog", answer)

    def no_horizontal_overflow(self, tolerance: int = 1) -> None:
        viewport = self.page.viewport_size
        assert viewport is not None
        width = viewport["width"]
        scroll = int(self.page.evaluate("document.documentElement.scrollWidth"))
        assert scroll <= width + tolerance, f"{self.path()}: content {scroll}px wide in a {width}px viewport"

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def rows(table: Locator) -> Locator:
    return table.locator("tbody tr")


def twilio(server: ServerProcess, username: str, password: str, account_sid: str | None = None) -> Client:
    """The twilio SDK aimed at the server, as tests/clients/test_twilio_python.py configures it."""
    client = Client(username, password, account_sid=account_sid)
    client.api.base_url = server.url
    client.accounts.base_url = server.url
    return client


def assert_unauthorized(client: Client) -> None:
    """The credentials are refused with 401 (fetching a message that does not exist: 404 for valid ones)."""
    with pytest.raises(TwilioRestException) as refused:
        client.messages("SM" + "0" * 32).fetch()
    assert refused.value.status == 401, str(refused.value)


def reload_until(dash: Dashboard, locator: Locator, pattern: re.Pattern[str], timeout: float = 20) -> str:
    """Reload the page until `locator`'s text matches `pattern` (what the server writes in the background, such
    as a credential's last use, shows on a later load); its text then."""
    deadline = time.monotonic() + timeout
    while not pattern.search(text := locator.inner_text()):
        assert time.monotonic() < deadline, f"{dash.path()}: {text!r} never matched {pattern.pattern!r}"
        time.sleep(0.2)
        dash.page.reload()
    return text
