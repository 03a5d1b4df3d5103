"""The overview's charts: drawn on the server as SVG from the pre-aggregated counts, for the account in view
(the owner, then a subaccount switched into), with the same numbers in their tables."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.support import Dashboard, rows
from tests.integration.helpers import send, wait_final
from tests.server import ServerProcess

TEST_FROM = "+15005550006"


def _send_all(
    server: ServerProcess, destinations: list[str], sid: str | None = None, token: str | None = None
) -> None:
    with server.client(sid, token) as client:
        for to in destinations:
            response = send(server, client, sid, To=to, From=TEST_FROM, Body="Overview " + "x" * 170)
            assert response.status_code == 201, response.text
            assert wait_final(server, client, response.json()["sid"], sid)["status"] != "queued"


def _chart_total(dash: Dashboard, chart: str) -> int:
    return int(
        dash.page.evaluate(
            f"[...document.querySelectorAll('#{chart} g.bar')].reduce((n, g) => n + Number(g.dataset.total), 0)"
        )
    )


def test_overview_charts_for_the_account_and_a_subaccount(
    server: ServerProcess, user: str, dash: Dashboard
) -> None:
    page = dash.page
    # The owner: 3 delivered, 2 undelivered (30003), 1 failed (30004); each body two segments.
    _send_all(
        server,
        ["+15558675310", "+15558675311", "+15558675312", "+15005550010", "+15005550010", "+15005550014"],
    )
    with server.client() as client:
        created = client.post("/2010-04-01/Accounts.json", data={"FriendlyName": "Charts sub"}).json()
    sub_sid, sub_token = created["sid"], created["auth_token"]
    assert sub_sid != server.account_sid
    # The subaccount: 1 delivered, 1 undelivered (30007).
    _send_all(server, ["+15558675320", "+15005550013"], sub_sid, sub_token)

    dash.sign_in(user)
    dash.goto("/")
    expect(page.locator("#fig-messages")).to_have_text("6")
    expect(page.locator("#fig-segments")).to_have_text("12")
    expect(page.locator("#meter-delivery title")).to_have_text("Delivery rate: 50.0%")
    hours = page.locator("svg#chart-hours")
    expect(hours).to_have_attribute("role", "img")
    expect(hours.locator("title").first).to_have_text("Messages per hour, last 24 hours")
    expect(hours.locator("rect.c-delivered")).to_have_count(1)
    assert _chart_total(dash, "chart-hours") == 6
    assert _chart_total(dash, "chart-days") == 6
    last_hour = rows(page.locator("#table-hours")).last
    expect(last_hour.locator("td").last).to_have_text("6")
    errors = rows(page.locator("#table-errors"))
    expect(errors).to_have_count(2)
    expect(errors.first).to_contain_text("30003")
    expect(errors.first).to_contain_text("Unreachable destination handset")
    expect(errors.first.locator("td").last).to_have_text("2")
    expect(page.locator("#overview")).to_contain_text("built-in sandbox carrier")
    dash.no_horizontal_overflow()
    dash.screenshot("overview")

    # The subaccount in view: its own counts only.
    dash.goto("/subaccounts")
    rows(page.locator("#subaccounts")).filter(has_text=sub_sid).get_by_role(
        "button", name="Switch to"
    ).click()
    expect(dash.notice()).to_have_text("Switched account.")
    expect(page.locator("#fig-messages")).to_have_text("2")
    expect(page.locator("#fig-segments")).to_have_text("4")
    assert _chart_total(dash, "chart-hours") == 2
    errors = rows(page.locator("#table-errors"))
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("30007")
    dash.screenshot("overview-subaccount")
