"""API keys: the secret is shown once, the key authenticates the twilio SDK, and revoking stops it."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.support import DATE, Dashboard, assert_unauthorized, reload_until, rows, twilio
from tests.conftest import remember_secret
from tests.dashboard_support import PASSWORD
from tests.server import ServerProcess


def test_create_use_rename_and_revoke_a_key(server: ServerProcess, user: str, dash: Dashboard) -> None:
    page = dash.page
    dash.sign_in(user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    expect(page.get_by_text("No keys.")).to_be_visible()

    page.get_by_label("Friendly name").fill("CI deploy")
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Create key").click()
    created = page.locator("section.created")
    expect(created.get_by_role("heading")).to_have_text("Key created: CI deploy")
    expect(created).to_contain_text("Copy the secret now: it is shown only once.")
    key_sid = page.locator("#new-key-sid").inner_text()
    assert key_sid.startswith("SK") and len(key_sid) == 34
    secret_field = page.get_by_role("textbox", name="Secret")
    expect(secret_field).to_have_attribute("type", "password")
    dash.screenshot("keys-new-secret")  # masked: Show was not clicked
    secret = remember_secret(secret_field.input_value())
    assert len(secret) >= 32
    assert dash.copy(created.locator("[data-copy=new-key-sid]")) == key_sid
    assert dash.copy(created.locator("[data-copy=new-key-secret]")) == secret

    client = twilio(server, key_sid, secret, server.account_sid)
    assert client.messages.list(limit=1) == []

    # Shown once: the list page (loaded anew, not the form's response) has the key but not its secret.
    dash.goto("/keys")
    assert secret not in dash.html()
    expect(page.locator("section.created")).to_have_count(0)
    row = rows(page.locator("#keys")).filter(has_text=key_sid)
    expect(row).to_have_count(1)
    name = row.get_by_label(f"Name of {key_sid}")
    expect(name).to_have_value("CI deploy")
    # Its type, and its last use (the list above, from this machine; written in the background).
    expect(row.locator(".key-type")).to_have_text("standard")
    reload_until(dash, row.locator(".last-used"), re.compile(rf"^{DATE.pattern} from 127\.0\.0\.1$"))
    dash.screenshot("keys-last-used")

    name.fill("CI deploy (old runner)")
    row.get_by_role("button", name="Rename").click()
    expect(dash.notice()).to_have_text("API key renamed.")
    expect(page.get_by_label(f"Name of {key_sid}")).to_have_value("CI deploy (old runner)")
    assert client.messages.list(limit=1) == []  # renaming does not touch the secret

    revoke = rows(page.locator("#keys")).filter(has_text=key_sid).get_by_role("button", name="Revoke")
    dash.answer_next_dialog(accept=False)
    revoke.click()
    expect(dash.notice()).to_have_text("API key renamed.")  # still the same page: nothing was posted
    assert client.messages.list(limit=1) == []

    dash.answer_next_dialog(accept=True)
    revoke.click()
    expect(dash.notice()).to_have_text("API key revoked; it no longer works.")
    assert dash.dialogs == ["Revoke CI deploy (old runner)? Requests using it fail at once."] * 2
    expect(page.get_by_text("No keys.")).to_be_visible()
    assert_unauthorized(client)
