"""The overview's carrier links and webhook success rate, against the SMSC simulator: one connector bound (up),
one whose SMSC is gone (down); messages delivered (and one undelivered) through the live one, their status
callbacks answered by a real receiver. The links are a platform administrator's: an account user's overview
says nothing of connectors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import OpenDashboard
from tests.browser.support import Dashboard, rows
from tests.dashboard_support import create_user
from tests.integration.smpp_support import sender_of, smpp_server, wait_final
from tests.receiver import Answer, Receiver
from tests.server import ServerProcess
from tests.smsc_support import Smsc


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("overview-carriers")


@pytest.fixture(scope="module")
def server(tmp: Path) -> Iterator[ServerProcess]:
    """Overrides the browser tests' server: two connectors, `live` on a running simulator (prefix +4477, tried
    first) and `gone` on one stopped before the server starts."""
    with Smsc(tmp / "live", DLR_DELAY_MS=0) as live:
        gone = Smsc(tmp / "gone")
        gone.stop()
        carriers = [("live", live, ("--priority", "1")), ("gone", gone, ("--priority", "2"))]
        with smpp_server(tmp / "server", "sqlite", carriers, binds=1) as instance:
            yield instance


def test_carrier_links_and_webhook_success_rate(server: ServerProcess, user: str, dash: Dashboard) -> None:
    receiver = Receiver()
    try:
        callback = receiver.script("/status", Answer(204))
        sender = sender_of(server)
        with server.client() as client:
            sids = [
                client.post(
                    f"{server.accounts_path()}/Messages.json",
                    data={
                        "To": to,
                        "From": sender,
                        "Body": "via SMPP",
                        "StatusCallback": callback,
                    },
                ).json()["sid"]
                # The simulator delivers these two and answers the third (suffix 0002) with an UNDELIV receipt.
                for to in ("+447700900123", "+447700901123", "+447700900002")
            ]
            assert [m["status"] for m in wait_final(server, client, sids)] == [
                "delivered",
                "delivered",
                "undelivered",
            ]
        # Each message's final status is called back (after its earlier ones).
        receiver.wait_for(
            lambda found: (
                {
                    r.params.get("MessageSid")
                    for r in found
                    if r.params.get("MessageStatus") in ("delivered", "undelivered")
                }
                == set(sids)
            ),
            path="/status",
        )
    finally:
        receiver.close()

    dash.sign_in(user)
    dash.goto("/")
    page = dash.page
    links = rows(page.locator("#table-links"))
    expect(links).to_have_count(2)
    live = links.filter(has_text="live")
    expect(live.locator(".status")).to_have_text("up")
    expect(live.locator("td").last).to_have_text("1 of 1")
    gone = links.filter(has_text="gone")
    expect(gone.locator(".status")).to_have_text("down")
    expect(gone.locator("td").last).to_have_text("0 of 1")
    expect(page.locator("#fig-messages")).to_have_text("3")
    expect(page.locator("#meter-delivery title")).to_have_text("Delivery rate: 66.7%")
    expect(rows(page.locator("#table-errors"))).to_have_count(1)
    expect(page.locator("#meter-webhooks title")).to_have_text("Webhook success rate: 100.0%")
    dash.screenshot("overview-carriers")


def test_only_administrators_see_the_carrier_links(
    server: ServerProcess, user: str, open_dashboard: OpenDashboard
) -> None:
    """`user` is the server's first user, a platform administrator; a second user of the same account is not.
    Both look at the same account's overview (two connectors configured): only the administrator's names them."""
    admin = open_dashboard(server, viewport={"width": 1280, "height": 900})
    admin.sign_in(user)
    admin.goto("/")
    expect(admin.page.get_by_role("heading", name="Carrier links")).to_be_visible()
    expect(rows(admin.page.locator("#table-links"))).to_have_count(2)

    member = "overview-member@example.com"
    create_user(server, member)  # not the first user: an account user, not an administrator
    plain = open_dashboard(server, viewport={"width": 1280, "height": 900})
    plain.sign_in(member)
    plain.goto("/")
    page = plain.page
    expect(page.get_by_role("heading", name="Activity")).to_be_visible()  # the rest of the overview is there
    expect(page.locator("#fig-messages")).to_be_visible()
    expect(page.get_by_role("heading", name="Carrier links")).to_have_count(0)
    expect(page.locator("#table-links")).to_have_count(0)
    text = page.locator("main").inner_text().lower()
    for word in ("connector", "carrier", "smpp", "bind"):
        assert word not in text, f"an account user's overview mentions {word!r}"
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Carriers")).to_have_count(0)
    plain.screenshot("overview-account-user")
