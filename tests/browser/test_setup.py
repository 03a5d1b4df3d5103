"""First start: the one-time set-up link that `mycpaas serve` printed creates the first dashboard user."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.support import Dashboard
from tests.conftest import remember_secret
from tests.server import ServerProcess

SETUP_LINE = re.compile(r"^  (http://127\.0\.0\.1:\d+)/setup#code=(\S+)$", re.MULTILINE)


def test_first_start_set_up_link_creates_the_first_user(server: ServerProcess, dash: Dashboard) -> None:
    found = SETUP_LINE.search(server.log_text())
    assert found, "serve printed no set-up link"
    origin, code = found.groups()
    assert origin == server.url
    remember_secret(code)  # printed to the terminal once, on purpose; never to be logged anywhere else
    email, password = "first.user@example.com", remember_secret("a long set-up password 7")
    page = dash.page

    page.goto(f"{origin}/setup#code={code}")
    # The script copied the code from the fragment into the form and took the fragment off the address bar.
    expect(page.get_by_label("Set-up code")).to_have_value(code)
    expect(page).to_have_url(f"{server.url}/setup")
    assert "#" not in page.evaluate("location.href")
    expect(page.get_by_role("heading", level=1)).to_have_text("Create the first dashboard user")
    dash.screenshot("setup")

    page.get_by_label("Email").fill(email)
    page.get_by_label("Password (at least 12 characters)").fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Create user and sign in").click()

    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator("header .who")).to_have_text(email)
    expect(page.get_by_role("heading", level=1)).to_have_text("Owner account")
    expect(page.locator("#home-sid")).to_have_text(server.account_sid)
    expect(
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview")
    ).to_have_attribute("aria-current", "page")
    assert dash.copy(page.locator("[data-copy=home-sid]")) == server.account_sid
    dash.screenshot("overview")

    # The link works once: opened again (say, from the terminal's scroll-back) it is refused.
    dash.expected_statuses.add(401)
    page.goto(f"{origin}/setup#code={code}")
    page.get_by_label("Email").fill("second.user@example.com")
    page.get_by_label("Password (at least 12 characters)").fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Create user and sign in").click()
    expect(dash.error()).to_contain_text("This set-up link is not valid")
