"""Messaging Services in the dashboard: create one, configure it, add and remove pool numbers and the alpha
sender, see which number served each destination; and a message a pool number received links to its service.
What the pages did is checked through twilio-python's messaging domain, as a user's code would see it."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect
from sqlalchemy import create_engine, insert

from mycpaas.domain.clock import utcnow
from mycpaas.storage import tables
from tests.browser.support import Dashboard, rows, twilio
from tests.integration.helpers import unique_number
from tests.server import ServerProcess

CONFIG = {
    "Inbound request URL (empty: no webhook for the pool's numbers)": "https://example.com/svc/inbound",
    "Fallback URL, used when the inbound request fails": "https://example.com/svc/fallback",
    "Status callback URL (used when a message gives none)": "https://example.com/svc/status",
    "Validity period in seconds (1–36000)": "600",
}
# Twilio's defaults are on for these three and off for the others: the test turns each one over.
FLIPPED = {
    "sticky_sender": False,
    "area_code_geomatch": False,
    "smart_encoding": False,
    "use_inbound_webhook_on_number": True,
    "fallback_to_long_code": True,
}


def _stick(server: ServerProcess, service_sid: str, number_sid: str, to: str) -> None:
    """A sticky-sender row as the sender choice writes one at delivery (which this page only shows)."""
    engine = create_engine(server.database_url.replace("+aiosqlite", ""))
    with engine.begin() as conn:
        conn.execute(
            insert(tables.messaging_service_sticky_senders).values(
                service_sid=service_sid, to_number=to, phone_number_sid=number_sid, last_used_at=utcnow()
            )
        )
    engine.dispose()


def test_create_configure_and_change_the_pool_of_a_service(
    server: ServerProcess, user: str, dash: Dashboard
) -> None:
    page = dash.page
    client = twilio(server, server.account_sid, server.auth_token)
    client.messaging.base_url = server.url
    first, second = (
        client.incoming_phone_numbers.create(phone_number=unique_number(), friendly_name=name)
        for name in ("first", "second")
    )
    dash.sign_in(user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Messaging Services").click()
    expect(page.get_by_text("No Messaging Services yet.")).to_be_visible()

    page.get_by_label("Friendly name").fill("Notifications")
    page.get_by_role("button", name="Create service").click()
    expect(dash.notice()).to_contain_text("Messaging Service created.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Notifications")
    service_sid = dash.path().split("?")[0].removeprefix("/services/")
    assert re.fullmatch(r"MG[0-9a-f]{32}", service_sid), dash.path()
    for name, default in FLIPPED.items():
        expect(page.locator(f"#{name}")).to_be_checked(checked=not default)

    for label, value in CONFIG.items():
        page.get_by_label(label).fill(value)
    page.get_by_label("Method", exact=True).select_option("GET")
    for name in FLIPPED:
        page.locator(f"#{name}").set_checked(FLIPPED[name])
    page.get_by_role("button", name="Save").click()
    expect(dash.notice()).to_have_text("Messaging Service settings saved.")
    page.reload()
    for label, value in CONFIG.items():
        expect(page.get_by_label(label)).to_have_value(value)
    for name, value in FLIPPED.items():
        expect(page.locator(f"#{name}")).to_be_checked(checked=value)

    service = client.messaging.v1.services(service_sid).fetch()
    assert (service.inbound_request_url, service.inbound_method) == (CONFIG[next(iter(CONFIG))], "GET")
    assert (service.fallback_url, service.fallback_method) == ("https://example.com/svc/fallback", "POST")
    assert service.status_callback == "https://example.com/svc/status" and service.validity_period == 600
    assert (service.sticky_sender, service.area_code_geomatch, service.smart_encoding) == (False,) * 3
    assert (service.use_inbound_webhook_on_number, service.fallback_to_long_code) == (True, True)

    # A bad value is refused with the API's reason, and nothing is saved.
    dash.expected_statuses.add(400)
    page.get_by_label("Validity period in seconds (1–36000)").fill("0")
    page.get_by_role("button", name="Save").click()
    expect(dash.error()).to_contain_text("validity period")
    assert client.messaging.v1.services(service_sid).fetch().validity_period == 600

    # The pool: both numbers are offered; one goes in, then the other; the first comes out again.
    expect(page.get_by_text("No numbers in the pool yet")).to_be_visible()
    for number in (first, second):
        page.get_by_label("Add a number").select_option(number.sid)
        page.get_by_role("button", name="Add to pool").click()
        expect(dash.notice()).to_have_text("Number added to the pool.")
    expect(rows(page.locator("#pool"))).to_have_count(2)
    assert sorted(n.sid for n in client.messaging.v1.services(service_sid).phone_numbers.list()) == sorted(
        [first.sid, second.sid]
    )
    page.get_by_role("button", name=f"Remove {first.phone_number} from the pool").click()
    expect(dash.notice()).to_have_text("Number removed from the pool; it stays in the account.")
    expect(rows(page.locator("#pool"))).to_have_count(1)
    expect(page.locator("#pool")).to_contain_text(second.phone_number)
    assert [n.sid for n in client.messaging.v1.services(service_sid).phone_numbers.list()] == [second.sid]
    expect(page.get_by_label("Add a number").locator("option")).to_have_text([first.phone_number])

    # The alpha sender: a bad one is refused, a good one added and removed.
    page.get_by_label("Alpha sender ID").fill("12345")
    page.get_by_role("button", name="Add alpha sender").click()
    expect(dash.error()).to_be_visible()
    page.get_by_label("Alpha sender ID").fill("MyBrand")
    page.get_by_role("button", name="Add alpha sender").click()
    expect(dash.notice()).to_have_text("Alpha sender added.")
    expect(page.locator("#alpha-sender")).to_have_text("MyBrand")
    (alpha,) = client.messaging.v1.services(service_sid).alpha_senders.list()
    assert alpha.alpha_sender == "MyBrand"
    page.get_by_role("button", name="Remove alpha sender").click()
    expect(dash.notice()).to_have_text("Alpha sender removed.")
    assert client.messaging.v1.services(service_sid).alpha_senders.list() == []

    # Which pool number served each recent destination.
    expect(page.get_by_text("No message has gone through this service's pool yet.")).to_be_visible()
    destination = unique_number()
    _stick(server, service_sid, second.sid, destination)
    page.reload()
    expect(rows(page.locator("#sticky")).locator("td").nth(0)).to_have_text(destination)
    expect(rows(page.locator("#sticky")).locator("td").nth(1)).to_have_text(second.phone_number)
    dash.screenshot("messaging-service")

    page.get_by_role("link", name="← Messaging Services").click()
    expect(rows(page.locator("#services")).locator("td")).to_have_text(
        ["Notifications", service_sid, "each number's own webhook", "off"]
    )


def test_a_message_received_by_a_pool_number_links_to_its_service(
    server: ServerProcess, user: str, dash: Dashboard
) -> None:
    page = dash.page
    client = twilio(server, server.account_sid, server.auth_token)
    client.messaging.base_url = server.url
    sender, pooled = (client.incoming_phone_numbers.create(phone_number=unique_number()) for _ in range(2))
    service = client.messaging.v1.services.create(friendly_name="Inbound")
    service.phone_numbers.create(phone_number_sid=pooled.sid)
    client.messages.create(to=pooled.phone_number, from_=sender.phone_number, body="hello pool")

    # The sandbox carrier delivers the message back to the pool number: wait for it with a deadline.
    deadline = time.monotonic() + 20
    while not (
        received := client.messages.list(to=pooled.phone_number, from_=sender.phone_number, limit=5)
    ) or not [m for m in received if m.direction == "inbound"]:
        assert time.monotonic() < deadline, "the inbound message did not arrive"
        time.sleep(0.05)
    (inbound,) = [m for m in received if m.direction == "inbound"]

    dash.sign_in(user)
    dash.goto(f"/messages/{inbound.sid}")
    link = page.locator("#message-service")
    expect(link).to_have_text(service.sid)
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Inbound")
