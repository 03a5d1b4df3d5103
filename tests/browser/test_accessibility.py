"""Small screens, keyboards, no scripts: the pages fit a phone's width, the dashboard works without a mouse,
and without JavaScript no button is left that only a script could make work."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import OpenDashboard
from tests.browser.support import Dashboard
from tests.browser.support import twilio as sdk
from tests.dashboard_support import PASSWORD
from tests.server import ServerProcess

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}


def test_pages_fit_a_phone_screen(server: ServerProcess, user: str, open_dashboard: OpenDashboard) -> None:
    client = sdk(server, server.account_sid, server.auth_token)
    number = client.incoming_phone_numbers.create(
        phone_number="+15005550006",
        friendly_name="A rather long friendly name for a number",
        sms_url="https://hooks.example.com/a/very/long/path/that/does/not/break/nicely/incoming-sms?x=1",
    )
    message = client.messages.create(
        to="+15558675310", from_="+15005550006", body="A long body without spaces: " + "x" * 300
    )
    client.api.v2010.accounts.create(friendly_name="Subaccount with a long friendly name, for wrapping")
    client.messaging.base_url = server.url
    service = client.messaging.v1.services.create(
        friendly_name="A Messaging Service with a long friendly name",
        inbound_request_url="https://hooks.example.com/a/very/long/path/that/does/not/break/nicely/inbound?x=1",
    )
    service.phone_numbers.create(phone_number_sid=number.sid)

    dash = open_dashboard(server, **PHONE)
    page = dash.page
    dash.goto("/sign-in")
    dash.no_horizontal_overflow()
    dash.sign_in(user)

    dash.goto("/credentials")
    dash.no_horizontal_overflow()
    dash.screenshot("phone-credentials-locked")
    page.get_by_label("Re-enter your password to reveal or rotate the Auth Token").fill(PASSWORD)
    page.get_by_role("button", name="Reveal").click()
    expect(page.get_by_role("textbox", name="Auth Token", exact=True)).to_have_attribute("type", "password")
    dash.no_horizontal_overflow()
    dash.screenshot("phone-credentials")

    dash.goto("/messages")
    expect(page.locator("#messages tbody tr")).to_have_count(1)
    dash.no_horizontal_overflow()
    dash.screenshot("phone-messages")

    pages = ("/", "/keys", "/subaccounts", "/numbers", f"/numbers/{number.sid}", "/messages/new", "/services")
    for path in (*pages, f"/services/{service.sid}"):
        dash.goto(path)
        dash.no_horizontal_overflow()
    dash.goto(f"/messages/{message.sid}")
    dash.no_horizontal_overflow()
    dash.screenshot("phone-message")


def test_sign_in_and_skip_link_with_the_keyboard_only(
    server: ServerProcess, user: str, dash: Dashboard
) -> None:
    page = dash.page
    dash.goto("/sign-in")
    # The email field has autofocus: typing goes straight into it.
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator("header .who")).to_have_text(user)

    # From the top of a page, the first Tab reaches the skip link, which then shows on screen.
    dash.goto("/credentials")
    skip = page.get_by_role("link", name="Skip to main content")
    page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, box
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # The next Tab lands inside the main content, past the navigation: on the Account SID's Copy button.
    page.keyboard.press("Tab")
    copy = page.locator("[data-copy=account-sid]")
    expect(copy).to_be_focused()
    page.keyboard.press("Enter")
    expect(copy).to_have_text("Copied")
    assert dash.clipboard() == server.account_sid

    # Revealing the token: type the password in its field and press Enter; Show is reached with Tab.
    page.keyboard.press("Tab")
    expect(page.get_by_label("Re-enter your password to reveal or rotate the Auth Token")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(dash.notice()).to_contain_text("Password confirmed")
    token = page.get_by_role("textbox", name="Auth Token", exact=True)
    token.focus()
    page.keyboard.press("Tab")
    show = page.get_by_role("button", name="Show")
    expect(show).to_be_focused()
    page.keyboard.press("Space")
    expect(token).to_have_attribute("type", "text")
    expect(token).to_have_value(server.auth_token)

    # Signing out from the keyboard too.
    page.get_by_role("button", name="Sign out").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server.url}/sign-in")


def test_without_javascript_no_dead_buttons(
    server: ServerProcess, user: str, open_dashboard: OpenDashboard
) -> None:
    """app.js is progressive enhancement: its Copy and Show buttons stay hidden when it cannot run, and a
    secret is shown through a <noscript> disclosure instead."""
    dash = open_dashboard(server, java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = dash.page
    dash.sign_in(user)
    script_buttons = page.locator("[data-copy], [data-toggle]")

    for path in ("/", "/credentials"):
        dash.goto(path)
        expect(page.locator("main code").first).to_have_text(server.account_sid)
        assert script_buttons.count() >= 1
        for button in script_buttons.all():
            expect(button).to_be_hidden()

    page.get_by_label("Re-enter your password to reveal or rotate the Auth Token").fill(PASSWORD)
    page.get_by_role("button", name="Reveal").click()
    expect(dash.notice()).to_contain_text("Password confirmed")
    for button in script_buttons.all():
        expect(button).to_be_hidden()
    disclosure = page.locator("details").filter(has_text="Show Auth Token")
    disclosure.locator("summary").click()
    expect(disclosure.locator("code")).to_have_text(server.auth_token)
