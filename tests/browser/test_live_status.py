"""Live status: a message's page and the message log, open in the browser, show the message moving on (a
receipt arriving, its status callback attempted) without a reload; the timeline lists every status passed,
`sending` included, each with its time.

The carrier is the project's SMSC simulator with receipts held (DLR_MODE=manual), so the test decides when the
message is delivered: after both pages were drawn showing it `sent`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import OpenDashboard
from tests.browser.support import DATE, Dashboard, rows
from tests.dashboard_support import create_user
from tests.integration.smpp_support import smpp_server, wait_until
from tests.receiver import Receiver
from tests.server import ServerProcess
from tests.smsc_support import Smsc

EMAIL = "live@example.com"
TO = "+15558675320"
LIVE_WAIT_MS = 20_000  # the pages poll every 2-10 s; a busy machine may take longer to deliver


@pytest.fixture(scope="module")
def smsc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Smsc]:
    with Smsc(tmp_path_factory.mktemp("smsc"), DLR_MODE="manual") as instance:
        yield instance


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, smsc: Smsc) -> Iterator[ServerProcess]:
    """Overrides the browser tests' server: this one delivers over SMPP to the simulator."""
    with smpp_server(tmp_path_factory.mktemp("live-server"), "sqlite", [("main", smsc, ())]) as instance:
        create_user(instance, EMAIL)
        yield instance


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


def api(server: ServerProcess, path: str, **data: str) -> Any:
    with server.client() as client:
        response = client.post(path, data=data) if data else client.get(path)
        assert response.status_code < 300, response.text
        return response.json()


def mark_document(page: Page) -> None:
    """A flag on the window that a reload (or any navigation) would lose."""
    page.evaluate("window.notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.notReloaded === true"))


def test_message_page_and_log_follow_the_message_without_reload(
    server: ServerProcess, smsc: Smsc, receiver: Receiver, open_dashboard: OpenDashboard
) -> None:
    messages = server.accounts_path() + "/Messages"
    sid = api(
        server,
        messages + ".json",
        To=TO,
        From="+15005550006",
        Body="live status",
        StatusCallback=receiver.url("/live"),
    )["sid"]
    wait_until(lambda: api(server, f"{messages}/{sid}.json")["status"] == "sent", what="sent")
    # Its `sending` and `sent` callbacks were attempted and recorded before the page is drawn.
    attempts = f"{messages}/{sid}/WebhookAttempts.json"
    wait_until(lambda: len(api(server, attempts)["webhook_attempts"]) == 2, what="two attempts")

    dash: Dashboard = open_dashboard(server, viewport={"width": 1280, "height": 900})
    dash.sign_in(EMAIL)
    dash.goto(f"/messages/{sid}")
    page = dash.page
    status = page.locator("dl.facts .status")
    timeline = page.locator("#timeline li")
    attempt_rows = rows(page.locator("#attempts"))
    expect(status).to_have_text("sent")
    expect(timeline.locator(".status")).to_have_text(["queued", "sending", "sent"])
    expect(attempt_rows).to_have_count(2)
    mark_document(page)

    log = dash.new_tab()
    log.goto("/messages")
    row = log.page.locator("#messages tbody tr", has=log.page.locator(f'a[href="/messages/{sid}"]'))
    expect(row.locator(".status")).to_have_text("sent")
    mark_document(log.page)

    [submitted] = [m for m in smsc.messages() if m["destination_addr"] == TO.lstrip("+")]
    smsc.dlr(submitted["message_id"])

    expect(status).to_have_text("delivered", timeout=LIVE_WAIT_MS)
    expect(timeline.locator(".status")).to_have_text(["queued", "sending", "sent", "delivered"])
    for step in range(4):
        expect(timeline.nth(step).locator("time")).to_have_text(DATE)
    expect(timeline.nth(1)).to_contain_text("Being handed to the carrier")
    expect(timeline.nth(2)).to_contain_text("Handed to the carrier")
    # The `delivered` callback's attempt arrives too (it follows the status change).
    expect(attempt_rows).to_have_count(3, timeout=LIVE_WAIT_MS)
    expect(attempt_rows.nth(2)).to_contain_text("delivered")
    assert not_reloaded(page)
    dash.screenshot("message-live")

    expect(row.locator(".status")).to_have_text("delivered", timeout=LIVE_WAIT_MS)
    assert not_reloaded(log.page)
    log.screenshot("messages-live")
