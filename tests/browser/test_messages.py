"""Messages: send a test message from the dashboard, follow its status timeline, find it in the log with
filters, and page through a log longer than one page; a scheduled message's page says when it will go and has
a Cancel button (a confirmed POST with the dashboard's CSRF token)."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect

from tests.browser.support import DATE, Dashboard, rows, twilio
from tests.server import ServerProcess

TEST_FROM = "+15005550006"  # Twilio's magic sender, valid for every account


def message_sids(page: Page) -> list[str]:
    hrefs = page.locator("#messages tbody tr td:first-child a").evaluate_all(
        "links => links.map(a => a.pathname)"
    )
    return [href.removeprefix("/messages/") for href in hrefs]


def filter_log(page: Page, **fields: str) -> None:
    form = page.get_by_role("form", name="Filter messages")
    for label, value in fields.items():
        field = form.get_by_label(label, exact=True)
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.get_by_role("button", name="Filter").click()


def test_send_a_test_message_and_find_it(server: ServerProcess, user: str, dash: Dashboard) -> None:
    page = dash.page
    to = "+15558675310"
    dash.sign_in(user)
    page.get_by_role("main").get_by_role("link", name="Send a test message").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Send a test message")

    page.get_by_label("From").select_option(TEST_FROM)
    page.get_by_label("To").fill(to)
    page.get_by_label("Body").fill("Hello from the browser test ✓")
    page.get_by_role("button", name="Send").click()
    expect(dash.notice()).to_have_text("Test message accepted and queued.")
    sid = dash.path().split("?")[0].removeprefix("/messages/")
    assert re.fullmatch(r"SM[0-9a-f]{32}", sid), dash.path()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Message {sid}")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text(TEST_FROM)
    expect(facts).to_contain_text(to)
    expect(facts).to_contain_text("UCS-2")  # the check mark is not GSM-7
    expect(page.locator("pre.msgbody")).to_have_text("Hello from the browser test ✓")
    timeline = page.locator("#timeline li")
    expect(timeline.first).to_contain_text("queued")
    expect(timeline.first).to_contain_text("Accepted by mycpaas")
    expect(timeline.first.locator("time")).to_have_text(DATE)

    # The sandbox carrier delivers within a second: the page follows without a reload (tests/browser/
    # test_live_status.py), every status passed on its timeline.
    expect(timeline).to_have_count(4, timeout=20_000)
    expect(timeline.locator(".status")).to_have_text(["queued", "sending", "sent", "delivered"])
    expect(timeline.nth(2)).to_contain_text("Handed to the carrier")
    expect(page.locator("dl.facts .status")).to_have_text("delivered")
    expect(page.get_by_text("No webhook was due for this message.")).to_be_visible()
    dash.screenshot("message")

    client = twilio(server, server.account_sid, server.auth_token)
    other = client.messages.create(to="+15005550014", from_=TEST_FROM, body="to a blocked number").sid
    page.get_by_role("link", name="← Messages").click()
    expect(rows(page.locator("#messages")).first).to_be_visible()

    filter_log(page, To=to)
    expect(page).to_have_url(re.compile(r"[?&]to=%2B15558675310(&|$)"))
    assert message_sids(page) == [sid]
    expect(rows(page.locator("#messages")).first.locator("td")).to_have_text(
        [DATE, "outbound-api", TEST_FROM, to, "delivered", "Hello from the browser test ✓"]
    )
    expect(page.get_by_label("To", exact=True)).to_have_value(to)  # the filter stays filled in

    page.get_by_role("link", name="Clear").click()
    filter_log(page, Status="delivered")
    assert message_sids(page) == [sid]
    expect(page.get_by_label("Status")).to_have_value("delivered")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the message to the blocked number fails shortly after
        filter_log(page, Status="failed")
        if message_sids(page):
            break
        time.sleep(0.2)
    assert message_sids(page) == [other]
    rows(page.locator("#messages")).first.get_by_role("link").click()
    expect(page.locator("dl.facts")).to_contain_text("failed · error 30004")
    expect(page.locator("#timeline li").last).to_contain_text("failed")
    expect(page.locator("#timeline li").last).to_contain_text("Error 30004")
    page.go_back()

    filter_log(page, To=to, Status="failed")
    expect(page.get_by_text("No messages match.")).to_be_visible()
    page.get_by_role("link", name="Clear").click()
    dash.screenshot("messages-log")

    # The overview lists it among the latest messages; its date opens it.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Overview").click()
    latest = page.get_by_role("region", name="Latest messages").get_by_role("listitem").filter(has_text=to)
    expect(latest).to_contain_text(f"{TEST_FROM} → {to} delivered")
    latest.get_by_role("link", name=DATE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Message {sid}")


def test_bad_filters_are_explained(server: ServerProcess, user: str, dash: Dashboard) -> None:
    page = dash.page
    dash.expected_statuses.add(400)
    dash.sign_in(user)
    dash.goto("/messages")
    filter_log(page, To="call me")
    expect(dash.error()).to_have_text("To is not a phone number: use E.164, such as +15551234567.")
    expect(page.get_by_label("To", exact=True)).to_have_value("call me")


def test_paging_through_the_log(server: ServerProcess, user: str, dash: Dashboard) -> None:
    page = dash.page
    client = twilio(server, server.account_sid, server.auth_token)
    to = "+15557650000"
    created = [client.messages.create(to=to, from_=TEST_FROM, body=f"Paging {n}").sid for n in range(60)]
    newest_first = created[::-1]
    dash.sign_in(user)
    dash.goto("/messages")

    # Unfiltered: 50 a page, with only an Older link on the first.
    expect(rows(page.locator("#messages"))).to_have_count(50)
    expect(page.get_by_role("link", name="Older →")).to_be_visible()
    expect(page.get_by_role("link", name="← Newer")).to_have_count(0)

    filter_log(page, To=to)
    first = message_sids(page)
    assert first == newest_first[:50]
    expect(page.get_by_role("link", name="← Newer")).to_have_count(0)

    page.get_by_role("link", name="Older →").click()
    expect(rows(page.locator("#messages"))).to_have_count(10)
    assert message_sids(page) == newest_first[50:]
    expect(page).to_have_url(re.compile(r"[?&]to=%2B15557650000(&|$)"))  # the filter goes along
    expect(page.get_by_label("To", exact=True)).to_have_value(to)
    expect(page.get_by_role("link", name="Older →")).to_have_count(0)

    page.get_by_role("link", name="← Newer").click()
    expect(rows(page.locator("#messages"))).to_have_count(50)
    assert message_sids(page) == first
    expect(page.get_by_role("link", name="← Newer")).to_have_count(0)
    expect(page.get_by_role("link", name="Older →")).to_be_visible()


def test_cancel_a_scheduled_message_from_its_page(server: ServerProcess, user: str, dash: Dashboard) -> None:
    client = twilio(server, server.account_sid, server.auth_token)
    client.messaging.base_url = server.url
    number = client.incoming_phone_numbers.create(phone_number=f"+1415{secrets.randbelow(10**7):07d}")
    service = client.messaging.v1.services.create(friendly_name="browser")
    client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=number.sid)
    send_at = datetime.now(UTC) + timedelta(hours=2)
    scheduled = [
        client.messages.create(
            to="+15558675310",
            messaging_service_sid=service.sid,
            body=f"later {n}",
            schedule_type="fixed",
            send_at=send_at,
        ).sid
        for n in range(2)
    ]

    page = dash.page
    dash.sign_in(user)
    page.goto(f"{server.url}/messages/{scheduled[0]}")
    facts = page.locator("dl.facts")
    expect(facts.locator(".status")).to_have_text("scheduled")
    expect(facts).to_contain_text(service.sid)
    expect(page.locator("#send-at")).to_have_text(DATE)
    expect(page.locator("#send-at")).to_have_text(send_at.strftime("%Y-%m-%d %H:%M:%S UTC"))

    cancel = page.get_by_role("button", name="Cancel message")
    dash.answer_next_dialog(accept=False)
    cancel.click()
    expect(facts.locator(".status")).to_have_text("scheduled")  # not confirmed: nothing sent
    dash.answer_next_dialog(accept=True)
    cancel.click()
    expect(dash.notice()).to_have_text("Scheduled message canceled; it will not be sent.")
    expect(facts.locator(".status")).to_have_text("canceled")
    expect(page.get_by_role("button", name="Cancel message")).to_have_count(0)
    expect(page.locator("#send-at")).to_have_count(0)
    assert client.messages(scheduled[0]).fetch().status == "canceled"

    page.goto(f"{server.url}/messages")
    filter_log(page, Status="scheduled")
    assert scheduled[1] in message_sids(page) and scheduled[0] not in message_sids(page)


def test_the_send_forms_senders_and_segment_counter(
    server: ServerProcess, user: str, dash: Dashboard
) -> None:
    page = dash.page
    client = twilio(server, server.account_sid, server.auth_token)
    plain, named = (f"+1555{secrets.randbelow(10**7):07d}" for _ in range(2))
    client.incoming_phone_numbers.create(phone_number=plain)  # named "(555) …" by default
    client.incoming_phone_numbers.create(phone_number=named, friendly_name="Support line")
    dash.sign_in(user)
    dash.goto("/messages/new")

    # Each number once, its name only when it says more than the number; then the test number.
    options = page.locator("#from option")
    labels = options.all_inner_texts()
    assert plain in labels and f"{named} · Support line" in labels, labels
    assert not any("((" in label or "))" in label for label in labels), labels
    expect(options.last).to_have_text(f"{TEST_FROM} · test number, any account may send from it")
    expect(options.last).to_have_attribute("value", TEST_FROM)

    # The counter follows the body as it is typed, and agrees with the count the server stores. Bodies: plain
    # GSM-7; extension characters (two septets each, a pair never split); 160 characters with one line break,
    # which the browser sends as CR LF (161: two segments); emoji (UCS-2, two code units each).
    bodies = {
        "Hello ^{}": "1 segment · GSM-7 · 12 of 160 characters",
        "{" * 81: "2 segments · GSM-7 · 162 of 306 characters",
        "a" * 79 + "\n" + "a" * 80: "2 segments · GSM-7 · 161 of 306 characters",
        "😀" * 35: "1 segment · UCS-2 · 70 of 70 characters",
        "Hi 😀" * 10: "1 segment · UCS-2 · 50 of 70 characters",
        "😀" * 36: "2 segments · UCS-2 · 72 of 134 characters",
    }
    counter = page.locator("#body-segments")
    for body, expected in bodies.items():
        dash.goto("/messages/new")
        page.get_by_label("To").fill("+15558675310")
        page.get_by_label("Body").fill(body)
        expect(counter).to_have_text(expected)
        if body.startswith("a"):
            dash.screenshot("send-form")
        page.get_by_role("button", name="Send").click()
        expect(dash.notice()).to_have_text("Test message accepted and queued.")
        facts = page.locator("dl.facts")
        segments, encoding = expected.split(" · ")[:2]
        expect(facts.locator("dt:text-is('Segments') + dd")).to_have_text(segments.split()[0])
        expect(facts.locator("dt:text-is('Encoding') + dd")).to_have_text(encoding)


def test_the_log_filters_offer_what_messages_have(server: ServerProcess, user: str, dash: Dashboard) -> None:
    page = dash.page
    dash.sign_in(user)
    dash.goto("/messages")
    expect(page.locator("#f-status option")).to_have_text(
        ["Any", "accepted", "scheduled", "queued", "sending", "sent", "delivered", "undelivered", "failed",
         "canceled", "received"]
    )  # fmt: skip
    expect(page.locator("#f-direction option")).to_have_text(
        ["Any", "outbound-api", "outbound-reply", "inbound"]
    )
    dash.expected_statuses.add(400)
    for query, error in (
        ("status=read", "Choose a status from the list."),
        ("direction=outbound-call", "Choose a direction from the list."),
    ):
        dash.goto(f"/messages?{query}")
        expect(dash.error()).to_have_text(error)
