"""Subaccounts: create, rename, switch the dashboard into one and back, suspend, reactivate, close."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.support import Dashboard, rows, twilio
from tests.server import ServerProcess


def test_subaccount_life_cycle(server: ServerProcess, user: str, dash: Dashboard) -> None:
    page = dash.page
    client = twilio(server, server.account_sid, server.auth_token)
    dash.sign_in(user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Subaccounts").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Subaccounts of Owner account")

    page.get_by_label("Friendly name").fill("Staging")
    page.get_by_role("button", name="Create subaccount").click()
    expect(dash.notice()).to_have_text("Subaccount created.")
    row = rows(page.locator("#subaccounts"))
    expect(row).to_have_count(1)
    sub_sid = row.get_attribute("data-sid") or ""
    assert sub_sid.startswith("AC") and sub_sid != server.account_sid
    expect(row.locator("code")).to_have_text(sub_sid)
    expect(row.locator(".status")).to_have_text("active")

    row.get_by_label(f"Name of {sub_sid}").fill("Staging EU")
    row.get_by_role("button", name="Rename").click()
    expect(dash.notice()).to_have_text("Subaccount renamed.")
    expect(row.get_by_label(f"Name of {sub_sid}")).to_have_value("Staging EU")
    assert client.api.v2010.accounts(sub_sid).fetch().friendly_name == "Staging EU"
    dash.screenshot("subaccounts")

    # Switched into the subaccount, every page is about it and a banner says so.
    row.get_by_role("button", name="Switch to").click()
    expect(dash.notice()).to_have_text("Switched account.")
    banner = page.locator(".viewing")
    expect(banner).to_contain_text("Viewing subaccount Staging EU")
    expect(banner).to_contain_text(sub_sid)
    expect(page.get_by_role("heading", level=1)).to_have_text("Staging EU")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Credentials").click()
    expect(page.locator("#account-sid")).to_have_text(sub_sid)
    expect(banner).to_be_visible()
    dash.screenshot("subaccount-credentials")

    banner.get_by_role("button", name="Back to Owner account").click()
    expect(page.locator(".viewing")).to_have_count(0)
    expect(page.get_by_role("heading", level=1)).to_have_text("Owner account")
    dash.goto("/credentials")
    expect(page.locator("#account-sid")).to_have_text(server.account_sid)

    dash.goto("/subaccounts")
    row.get_by_role("button", name="Suspend").click()
    expect(dash.notice()).to_have_text("Subaccount status changed.")
    expect(row.locator(".status")).to_have_text("suspended")
    assert client.api.v2010.accounts(sub_sid).fetch().status == "suspended"

    row.get_by_role("button", name="Reactivate").click()
    expect(row.locator(".status")).to_have_text("active")
    assert client.api.v2010.accounts(sub_sid).fetch().status == "active"

    close = row.get_by_role("button", name="Close")
    dash.answer_next_dialog(accept=False)
    close.click()
    expect(row.locator(".status")).to_have_text("active")
    dash.answer_next_dialog(accept=True)
    close.click()
    expect(dash.notice()).to_have_text("Subaccount status changed.")
    expect(row.locator(".status")).to_have_text("closed")
    assert dash.dialogs == ["Close Staging EU? Closing is permanent and releases its phone numbers."] * 2
    # Closed for good: no more switching, renaming or status buttons.
    expect(row.get_by_role("button")).to_have_count(0)
    expect(row.locator("td").first).to_have_text("Staging EU")
    assert client.api.v2010.accounts(sub_sid).fetch().status == "closed"
