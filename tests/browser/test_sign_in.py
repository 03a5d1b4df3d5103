"""Signing in and out; pages behind sign-in send the browser to the sign-in form and back."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.support import Dashboard
from tests.dashboard_support import PASSWORD
from tests.server import ServerProcess


def test_wrong_password_is_refused_then_sign_in_and_out(
    server: ServerProcess, user: str, dash: Dashboard
) -> None:
    page = dash.page
    dash.expected_statuses.add(401)  # the refused sign-in is answered with 401
    dash.goto("/sign-in")
    dash.screenshot("sign-in")
    page.get_by_label("Email").fill(user)
    page.get_by_label("Password").fill("not the right password")
    page.get_by_role("button", name="Sign in").click()
    expect(dash.error()).to_have_text("The email or password is not correct.")
    expect(page).to_have_url(f"{server.url}/sign-in")
    expect(page.get_by_label("Email")).to_have_value(user)  # kept, so only the password is typed again
    expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator("header .who")).to_have_text(user)
    expect(page.get_by_role("heading", level=1)).to_have_text("Owner account")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{server.url}/sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to mycpaas")
    expect(page.locator("header .who")).to_have_count(0)

    # Signed out, a page behind sign-in leads to the form, and signing in there returns to that page.
    dash.goto("/credentials")
    expect(page).to_have_url(f"{server.url}/sign-in?next=%2Fcredentials")
    assert server.account_sid not in dash.html()
    page.get_by_label("Email").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/credentials")
    expect(page.locator("#account-sid")).to_have_text(server.account_sid)


def test_signing_out_ends_the_session_in_every_tab(server: ServerProcess, user: str, dash: Dashboard) -> None:
    dash.sign_in(user)
    other = dash.new_tab()
    other_tab = other.page
    other.goto("/keys")
    expect(other_tab.get_by_role("heading", level=1)).to_have_text("API keys")

    dash.page.get_by_role("button", name="Sign out").click()
    expect(dash.page).to_have_url(f"{server.url}/sign-in")

    # The other tab still shows the old page; its next form post is refused, its next page is the sign-in.
    other.expected_statuses.add(403)
    other_tab.get_by_label("Friendly name").fill("after sign-out")
    other_tab.get_by_label("Your password").fill(PASSWORD)
    other_tab.get_by_role("button", name="Create key").click()
    expect(other_tab.get_by_role("heading", level=1)).to_have_text("Signed out")
    other.goto("/keys")
    expect(other_tab).to_have_url(f"{server.url}/sign-in?next=%2Fkeys")
