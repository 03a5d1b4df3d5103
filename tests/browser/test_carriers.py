"""Carriers in the dashboard, for platform administrators: a connector added to a running server is bound
without a restart (the page shows it up) and delivers a message to the SMSC simulator; a wrong password shows
it down with the bind's last error; disable, enable, remove; the SMPP password never comes back in a page.
Anyone else gets a 404 for these pages, GET or POST, and no link to them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import OpenDashboard
from tests.browser.support import Dashboard
from tests.browser.test_accessibility import PHONE
from tests.conftest import remember_secret
from tests.dashboard_support import create_user, csrf_of, signed_in
from tests.integration.smpp_support import message, sender_of, wait_final, wait_until
from tests.server import ServerProcess
from tests.smsc_support import Smsc

SMPP_PASSWORD = remember_secret("Sm7#pQ2x")  # 8 characters, the SMPP 3.4 maximum, found nowhere else
WRONG_PASSWORD = remember_secret("Wr0ng!pw")


@pytest.fixture(scope="module")
def smsc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Smsc]:
    with Smsc(tmp_path_factory.mktemp("smsc"), USERS=f"test:{SMPP_PASSWORD}") as simulator:
        yield simulator


def reload_until(dash: Dashboard, selector: str, wanted: str, timeout: float = 30.0) -> None:
    """Reload the page until the element's text contains `wanted`: bind states arrive with the holder's lease
    renewals (every few seconds), not with the page."""
    deadline = time.monotonic() + timeout
    while True:
        dash.page.reload()
        text = dash.page.locator(selector).inner_text()
        if wanted in text:
            return
        assert time.monotonic() < deadline, f"{selector} still says {text!r}, not {wanted!r}"
        dash.page.wait_for_timeout(250)


def no_password_in(dash: Dashboard) -> None:
    html = dash.html()
    assert SMPP_PASSWORD not in html and WRONG_PASSWORD not in html
    assert dash.page.get_by_label("SMPP password").input_value() == ""


def bound_sessions(smsc: Smsc) -> int:
    return len(smsc.stats()["binds"])


def test_admin_adds_edits_disables_enables_and_removes_a_connector(
    server: ServerProcess, user: str, dash: Dashboard, smsc: Smsc
) -> None:
    page = dash.page
    dash.sign_in(user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Carriers").click()
    expect(
        page.get_by_text("No carrier connectors: the sandbox carrier delivers every message.")
    ).to_be_visible()
    dash.screenshot("carriers-empty")

    page.locator("#c-name").fill("sim")
    page.get_by_label("SMSC host").fill(smsc.host)
    page.get_by_label("SMPP port").fill(str(smsc.port))
    page.get_by_label("System ID").fill("test")
    page.get_by_label("SMPP password").fill(SMPP_PASSWORD)
    page.get_by_label("Window").fill("5")
    page.get_by_role("button", name="Add connector").click()
    expect(dash.notice()).to_contain_text("Carrier connector added.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("sim")
    no_password_in(dash)

    # Bound by the running server (no restart), as its lease renewal reports it.
    reload_until(dash, "#carrier-up", "up")
    expect(page.locator("#carrier-binds")).to_have_text("1 of 1")
    assert bound_sessions(smsc) == 1
    dash.screenshot("carrier-up")

    # A message goes out through it.
    sender = sender_of(server)
    with server.client() as api:
        sent = api.post(
            f"{server.accounts_path()}/Messages.json",
            data={"From": sender, "To": "+447700900123", "Body": "through the dashboard's carrier"},
        )
        assert sent.status_code == 201, sent.text
        (final,) = wait_final(server, api, [sent.json()["sid"]])
    assert final["status"] == "delivered"
    assert [m for m in smsc.messages() if m["text"] == "through the dashboard's carrier"]

    page.get_by_role("link", name="← Carriers").click()
    row = page.locator("#carriers tbody tr", has_text="sim")
    expect(row).to_contain_text("up")
    expect(row).to_contain_text(f"test@{smsc.host}:{smsc.port}")
    no_password_in(dash)
    dash.screenshot("carriers-list")

    # A wrong password: the server binds again, the SMSC refuses, the page says down and why.
    row.get_by_role("link", name="sim").click()
    page.get_by_label("SMPP password").fill(WRONG_PASSWORD)
    page.get_by_role("button", name="Save").click()
    expect(dash.notice()).to_contain_text("Carrier connector saved.")
    no_password_in(dash)
    reload_until(dash, "#carrier-error", "bind failed")
    expect(page.locator("#carrier-error")).to_contain_text("status 0x0e (ESME_RINVPASWD)")
    expect(page.locator("#carrier-up")).to_have_text("down")
    expect(page.locator("#carrier-binds")).to_have_text("0 of 1")
    dash.screenshot("carrier-down")

    # A blank password keeps the stored one: this save changes only the window, and it stays down. Each save
    # is waited for (its POST, redirect and page load) before the next step: the window's value and the
    # notice are already on the page the click leaves, and a reload during the save's navigation fails.
    page.get_by_label("Window").fill("7")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    expect(page.get_by_label("Window")).to_have_value("7")
    page.get_by_label("SMPP password").fill(SMPP_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    reload_until(dash, "#carrier-up", "up")

    # Invalid settings: a form error, nothing changed, the password not echoed.
    dash.expected_statuses.add(400)
    page.get_by_label("SMPP port").fill("not a port")
    page.get_by_label("SMPP password").fill(SMPP_PASSWORD)
    page.get_by_role("button", name="Save").click()
    expect(dash.error()).to_have_text("port must be a whole number")
    expect(page.get_by_label("SMPP port")).to_have_value("not a port")
    no_password_in(dash)
    page.get_by_label("SMPP port").fill("70000")
    page.get_by_role("button", name="Save").click()
    expect(dash.error()).to_have_text("port must be 1-65535")
    dash.goto("/carriers/sim")
    expect(page.get_by_label("SMPP port")).to_have_value(str(smsc.port))

    page.get_by_role("button", name="Disable connector").click()
    expect(dash.notice()).to_contain_text("Carrier connector disabled.")
    expect(page.locator("#carrier-up")).to_have_text("disabled")
    smsc.wait_for(lambda s: bound_sessions(s) == 0, timeout=20, what="the disabled connector to unbind")
    dash.screenshot("carrier-disabled")

    page.get_by_role("button", name="Enable connector").click()
    expect(dash.notice()).to_contain_text("Carrier connector enabled.")
    reload_until(dash, "#carrier-up", "up")

    # Submissions the SMSC is slow to answer hold the window: the holder's next renewal reports them. Then,
    # with their receipts held back, removal is refused until the operator ticks the box.
    smsc.config(resp_delay_ms=8000, dlr_mode="manual")
    try:
        with server.client() as api:
            sids = [
                api.post(
                    f"{server.accounts_path()}/Messages.json",
                    data={"From": sender, "To": f"+4477009001{n:02d}", "Body": f"held {n}"},
                ).json()["sid"]
                for n in range(3)
            ]
            reload_until(dash, "#carrier-window", "3 of 7")
            dash.screenshot("carrier-window-in-use")
            wait_until(
                lambda: all(message(server, api, sid)["status"] == "sent" for sid in sids),
                what="the messages to be sent",
            )
    finally:
        smsc.config(resp_delay_ms=0)
    dash.expected_statuses.add(409)
    dash.answer_next_dialog(accept=True)
    page.get_by_role("button", name="Remove connector").click()
    expect(dash.error()).to_contain_text("3 message(s) sent through carrier connector 'sim' still await")
    expect(page.locator("#carrier-up")).to_have_text("up")
    page.get_by_label("Remove it anyway").check()
    dash.answer_next_dialog(accept=True)
    page.get_by_role("button", name="Remove connector").click()
    expect(dash.notice()).to_contain_text("Carrier connector removed.")
    assert dash.dialogs == ["Remove carrier connector sim?"] * 2
    expect(page.get_by_text("No carrier connectors")).to_be_visible()
    smsc.wait_for(lambda s: bound_sessions(s) == 0, timeout=20, what="the removed connector to unbind")


def add_form(csrf: str, **fields: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "name": "guarded",
        "host": "smsc.example.net",
        "port": "2775",
        "system_id": "acme",
        "password": "pw",
        "bind_type": "transceiver",
        "window": "10",
        "max_mps": "0",
        "max_binds": "1",
        "source_ton": "1",
        "source_npi": "1",
        "dest_ton": "1",
        "dest_npi": "1",
        "coding": "gsm7",
        "concatenation": "udh",
        "prefixes": "+44",
        "priority": "100",
    }
    return {**form, **fields}


def test_only_administrators_see_or_post_to_the_carrier_pages(
    server: ServerProcess, user: str, dash: Dashboard
) -> None:
    admin = signed_in(server, user)
    # Added disabled (no `enabled` field): nothing binds it.
    added = admin.post("/carriers", data=add_form(csrf_of(admin.get("/carriers").text)))
    assert added.status_code == 303, added.text
    # A form without its CSRF token is refused before anything is read, as on every page.
    forged = admin.post("/carriers/guarded/remove", data={})
    assert forged.status_code == 403 and "not accepted" in forged.text

    operator = "operator@example.com"
    create_user(server, operator)  # not the first user: not an administrator
    dash.expected_statuses.add(404)
    dash.sign_in(operator)
    nav = dash.page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Messages")).to_be_visible()
    expect(nav.get_by_role("link", name="Carriers")).to_have_count(0)
    dash.goto("/carriers")
    expect(dash.page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert "guarded" not in dash.html()
    dash.screenshot("carriers-not-admin")

    other = signed_in(server, operator)
    csrf = csrf_of(other.get("/").text)
    attempts: list[httpx.Response] = [
        other.get("/carriers"),
        other.get("/carriers/guarded"),
        other.post("/carriers", data=add_form(csrf, name="intruder")),
        other.post("/carriers/guarded", data=add_form(csrf, host="evil.example")),
        other.post("/carriers/guarded/enabled", data={"csrf_token": csrf, "enabled": "yes"}),
        other.post("/carriers/guarded/remove", data={"csrf_token": csrf, "force": "on"}),
    ]
    for attempt in attempts:
        assert attempt.status_code == 404, (attempt.request.url, attempt.status_code)
        assert "guarded" not in attempt.text and "smsc.example.net" not in attempt.text

    listed = admin.get("/carriers").text
    assert "intruder" not in listed and "evil.example" not in listed
    assert "acme@smsc.example.net:2775" in listed
    assert "s-disabled" in listed  # still disabled: the enable post did nothing
    removed = admin.post("/carriers/guarded/remove", data={"csrf_token": csrf_of(listed)})
    assert removed.status_code == 303, removed.text
    assert "guarded" not in admin.get("/carriers").text


def test_carrier_pages_fit_a_phone_screen(
    server: ServerProcess, user: str, open_dashboard: OpenDashboard
) -> None:
    admin = signed_in(server, user)
    long_host = "smsc-primary.a-carrier-with-a-rather-long-domain-name.example.net"
    form = add_form(
        csrf_of(admin.get("/carriers").text), name="narrow", host=long_host, prefixes="+44 +353 +33"
    )
    assert admin.post("/carriers", data=form).status_code == 303
    dash = open_dashboard(server, **PHONE)
    dash.sign_in(user)
    for path, shown in (("/carriers", f"acme@{long_host}:2775"), ("/carriers/narrow", "narrow")):
        dash.goto(path)
        expect(dash.page.locator("main")).to_contain_text(shown)
        dash.no_horizontal_overflow()
    dash.screenshot("phone-carrier")
    assert admin.post("/carriers/narrow/remove", data={"csrf_token": form["csrf_token"]}).status_code == 303
