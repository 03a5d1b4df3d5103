"""Credentials: the Account SID, the Auth Token behind a password re-entry, and rotation through a
secondary token, checked with the official twilio SDK on both sides of every step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, expect

from tests.browser.conftest import OpenDashboard
from tests.browser.support import DATE, Dashboard, assert_unauthorized, reload_until, rows, twilio
from tests.conftest import dispose_server, make_server, remember_secret
from tests.dashboard_support import PASSWORD, create_user
from tests.server import ServerProcess


def unlock(dash: Dashboard, password: str = PASSWORD) -> None:
    dash.page.get_by_label("Re-enter your password to reveal or rotate the Auth Token").fill(password)
    dash.page.get_by_role("button", name="Reveal").click()


def audit_row(dash: Dashboard, action: str) -> Locator:
    return rows(dash.page.locator("#audit-log")).filter(has_text=action)


def test_sid_copies_and_token_needs_the_password(server: ServerProcess, user: str, dash: Dashboard) -> None:
    page = dash.page
    dash.sign_in(user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Credentials").click()
    expect(page).to_have_url(f"{server.url}/credentials")

    expect(page.locator("#account-sid")).to_have_text(server.account_sid)
    assert dash.copy(page.locator("[data-copy=account-sid]")) == server.account_sid

    # Locked: the token is masked and nowhere in the page, not even in a hidden field.
    expect(page.get_by_label("Auth Token hidden")).to_be_visible()
    assert server.auth_token not in dash.html()
    expect(page.locator("#auth-token")).to_have_count(0)
    expect(page.locator("#last-rotation")).to_have_text("never")
    dash.screenshot("credentials-locked")

    dash.expected_statuses.add(401)
    unlock(dash, "not my password at all")
    expect(dash.error()).to_have_text("The password is not correct.")
    assert server.auth_token not in dash.html()

    unlock(dash)
    expect(dash.notice()).to_contain_text("Password confirmed")
    token = page.get_by_role("textbox", name="Auth Token", exact=True)
    show = page.locator("[data-toggle=auth-token]")
    expect(token).to_have_attribute("type", "password")  # revealed on request only, then still masked
    expect(show).to_have_text("Show")
    dash.screenshot("credentials-revealed")

    show.click()
    expect(token).to_have_attribute("type", "text")
    expect(token).to_have_value(server.auth_token)
    expect(show).to_have_text("Hide")
    assert dash.copy(page.locator("[data-copy=auth-token]")) == server.auth_token
    show.click()
    expect(token).to_have_attribute("type", "password")

    # Revealing is recorded in the audit log shown on the page: who, and from where.
    revealed = audit_row(dash, "You revealed the Auth Token")
    expect(revealed).to_have_count(1)
    expect(revealed.locator("td").nth(2)).to_have_text(user)
    expect(revealed.locator("td").nth(3)).to_have_text("127.0.0.1")


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """Rotation changes the owner's Auth Token for good: a server of its own."""
    instance = make_server(tmp_path / "server", "sqlite")
    yield instance
    dispose_server(instance)


def test_rotation_through_a_secondary_token(own_server: ServerProcess, open_dashboard: OpenDashboard) -> None:
    server, email = own_server, "rotator@example.com"
    create_user(server, email)
    sid, old = server.account_sid, server.auth_token
    dash = open_dashboard(server, viewport={"width": 1280, "height": 900})
    page = dash.page
    dash.sign_in(email)
    dash.goto("/credentials")
    unlock(dash)

    page.get_by_role("button", name="Create secondary token").click()
    expect(dash.notice()).to_have_text(
        "Secondary Auth Token created. Both tokens work until you promote or delete it."
    )
    secondary = remember_secret(
        page.get_by_role("textbox", name="Secondary Auth Token", exact=True).input_value()
    )
    assert len(secondary) == 32 and secondary != old
    expect(page.get_by_role("textbox", name="Auth Token", exact=True)).to_have_value(old)
    expect(page.locator("#last-rotation")).to_have_text("never")

    for token in (old, secondary):
        client = twilio(server, sid, token)
        assert client.api.v2010.accounts(sid).fetch().sid == sid
        assert client.messages.list(limit=1) == []

    # Both tokens were used just now, from this machine: the page says so (written in the background, so
    # shown on a later load), which is what to check before promoting.
    used = re.compile(rf"^{DATE.pattern} from 127\.0\.0\.1$")
    reload_until(dash, page.locator("#primary-last-used"), used)
    secondary_used = reload_until(dash, page.locator("#secondary-last-used"), used)
    dash.screenshot("credentials-last-used")

    page.get_by_role("link", name="Promote to primary…").click()
    expect(page).to_have_url(f"{server.url}/credentials/promote")
    expect(page.get_by_role("note")).to_contain_text("The current primary Auth Token stops working at once.")
    expect(page.get_by_role("note")).to_contain_text(
        "Webhooks (status callbacks, incoming messages) are signed"
    )
    dash.screenshot("promote-confirmation")
    promote = page.get_by_role("button", name="Promote and stop the old token")
    promote.click()  # not ticked: the browser keeps the form (the box is required)
    expect(page).to_have_url(f"{server.url}/credentials/promote")
    assert twilio(server, sid, old).api.v2010.accounts(sid).fetch().sid == sid

    page.get_by_label("I have updated my applications; stop the old token now.").check()
    promote.click()
    expect(dash.notice()).to_have_text(
        "The secondary token is now the primary Auth Token. The old token no longer works."
    )
    expect(page).to_have_url(f"{server.url}/credentials?notice=promoted")

    assert_unauthorized(twilio(server, sid, old))
    assert twilio(server, sid, secondary).api.v2010.accounts(sid).fetch().sid == sid

    expect(page.get_by_role("textbox", name="Auth Token", exact=True)).to_have_value(secondary)
    expect(page.get_by_role("textbox", name="Secondary Auth Token", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Create secondary token")).to_be_visible()
    expect(page.locator("#last-rotation")).to_have_text(DATE)
    # The use belongs to the token, not to its slot: the promoted token keeps its own.
    expect(page.locator("#primary-last-used")).to_have_text(secondary_used)
    expect(page.locator("#secondary-last-used")).to_have_count(0)
    assert old not in dash.html()
    for action in (
        "You created a secondary Auth Token",
        "You promoted the secondary Auth Token to primary; the old token stopped working",
    ):
        row = audit_row(dash, action)
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(0)).to_have_text(DATE)
        expect(row.locator("td").nth(2)).to_have_text(email)
        expect(row.locator("td").nth(3)).to_have_text("127.0.0.1")
    dash.screenshot("credentials-rotated")


def test_deleting_the_secondary_token_asks_first(server: ServerProcess, user: str, dash: Dashboard) -> None:
    page = dash.page
    dash.sign_in(user)
    dash.goto("/credentials")
    unlock(dash)
    page.get_by_role("button", name="Create secondary token").click()
    secondary = remember_secret(
        page.get_by_role("textbox", name="Secondary Auth Token", exact=True).input_value()
    )
    assert twilio(server, server.account_sid, secondary).messages.list(limit=1) == []

    delete = page.get_by_role("button", name="Delete secondary")
    dash.answer_next_dialog(accept=False)
    delete.click()
    expect(page.get_by_role("textbox", name="Secondary Auth Token", exact=True)).to_have_value(secondary)
    dash.answer_next_dialog(accept=True)
    delete.click()
    expect(dash.notice()).to_have_text("Secondary Auth Token deleted; it no longer works.")
    assert dash.dialogs == ["Delete the secondary Auth Token? It stops working at once."] * 2

    assert_unauthorized(twilio(server, server.account_sid, secondary))
    assert twilio(server, server.account_sid, server.auth_token).messages.list(limit=1) == []
    expect(audit_row(dash, "You deleted the secondary Auth Token")).to_have_count(1)
