"""Phone numbers: add one, configure where its messages go, see it through the twilio SDK, release it."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.support import Dashboard, rows, twilio
from tests.server import ServerProcess

CONFIG = {
    "Friendly name": "Support line",
    "Webhook URL (SmsUrl)": "https://example.com/sms/incoming",
    "Fallback URL, used when the webhook fails (SmsFallbackUrl)": "https://example.com/sms/fallback",
    "Status callback URL (StatusCallback)": "https://example.com/sms/status",
}


def test_add_configure_and_release_a_number(server: ServerProcess, user: str, dash: Dashboard) -> None:
    page = dash.page
    client = twilio(server, server.account_sid, server.auth_token)
    dash.sign_in(user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Phone numbers").click()
    expect(page.get_by_text("No numbers yet.")).to_be_visible()

    page.get_by_label("Phone number (E.164)").fill("+15005550006")
    page.get_by_role("button", name="Add number").click()
    expect(dash.notice()).to_have_text("Phone number added.")
    expect(page.get_by_role("heading", level=1)).to_have_text("+15005550006")
    number_sid = dash.path().split("?")[0].removeprefix("/numbers/")
    assert re.fullmatch(r"PN[0-9a-f]{32}", number_sid), dash.path()
    expect(page.get_by_label("Method", exact=True)).to_have_value("POST")

    for label, value in CONFIG.items():
        page.get_by_label(label).fill(value)
    page.get_by_label("Method", exact=True).select_option("GET")
    page.get_by_label("Fallback method").select_option("POST")
    page.get_by_role("button", name="Save").click()
    expect(dash.notice()).to_have_text("Phone number configuration saved.")

    page.reload()
    for label, value in CONFIG.items():
        expect(page.get_by_label(label)).to_have_value(value)
    expect(page.get_by_label("Method", exact=True)).to_have_value("GET")
    expect(page.get_by_label("Fallback method")).to_have_value("POST")
    dash.screenshot("number-config")

    (listed,) = client.incoming_phone_numbers.list()
    assert listed.sid == number_sid
    assert listed.phone_number == "+15005550006"
    assert listed.friendly_name == "Support line"
    assert (listed.sms_url, listed.sms_method) == ("https://example.com/sms/incoming", "GET")
    assert (listed.sms_fallback_url, listed.sms_fallback_method) == (
        "https://example.com/sms/fallback",
        "POST",
    )
    assert listed.status_callback == "https://example.com/sms/status"

    # A second number by area code only: a free number in that area is assigned.
    page.get_by_role("link", name="← Phone numbers").click()
    page.get_by_label("Area code (US, a free number is assigned)").fill("415")
    page.get_by_label("Friendly name (optional)").fill("Sales")
    page.get_by_role("button", name="Add number").click()
    expect(dash.notice()).to_have_text("Phone number added.")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^\+1415\d{7}$"))

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Phone numbers").click()
    table = page.locator("#numbers")
    expect(rows(table)).to_have_count(2)
    support = rows(table).filter(has_text="+15005550006")
    expect(support.locator("td")).to_have_text(
        ["+15005550006", "Support line", CONFIG["Webhook URL (SmsUrl)"]]
    )
    expect(rows(table).filter(has_text="Sales").locator("td").nth(2)).to_have_text("—")
    dash.screenshot("numbers")

    support.get_by_role("link", name="+15005550006").click()
    release = page.get_by_role("button", name="Release number")
    dash.answer_next_dialog(accept=False)
    release.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("+15005550006")
    dash.answer_next_dialog(accept=True)
    release.click()
    expect(dash.notice()).to_have_text("Phone number released.")
    assert dash.dialogs == ["Release +15005550006?"] * 2
    expect(rows(page.locator("#numbers"))).to_have_count(1)
    expect(page.locator("#numbers")).not_to_contain_text("+15005550006")
    assert [n.friendly_name for n in client.incoming_phone_numbers.list()] == ["Sales"]


def test_invalid_number_shows_the_reason_and_keeps_the_form(
    server: ServerProcess, user: str, dash: Dashboard
) -> None:
    page = dash.page
    dash.expected_statuses.add(400)
    dash.sign_in(user)
    dash.goto("/numbers")
    page.get_by_label("Phone number (E.164)").fill("12")
    page.get_by_label("Friendly name (optional)").fill("Typo")
    page.get_by_role("button", name="Add number").click()
    expect(dash.error()).to_be_visible()
    expect(page.get_by_label("Phone number (E.164)")).to_have_value("12")
    expect(page.get_by_label("Friendly name (optional)")).to_have_value("Typo")
