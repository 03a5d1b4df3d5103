"""The Debugger in a real browser against a real server and a real webhook receiver: failures listed and
filtered, an attempt's request without secrets, Redeliver reaching the receiver under the same idempotency
token and shown as a redelivery, an inbound attempt's event and LaML reply, and another account's failures
neither listed nor redeliverable."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.support import DATE, Dashboard, rows
from tests.integration.helpers import own_number
from tests.receiver import Answer, Receiver, is_valid
from tests.server import ServerProcess

TEST_FROM = "+15005550006"  # Twilio's magic sender, valid for every account
BLOCKED = "+15005550014"  # Twilio's magic To that fails with 30004
PASSWORD_IN_URL = "cb-secret-pass"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


def attempts_of(
    client: httpx.Client, server: ServerProcess, sid: str, account: str | None = None
) -> list[Any]:
    response = client.get(f"{server.accounts_path(account)}/Messages/{sid}/WebhookAttempts.json")
    assert response.status_code == 200, response.text
    return list(response.json()["webhook_attempts"])


def wait_for_attempt(
    client: httpx.Client, server: ServerProcess, sid: str, account: str | None = None
) -> Any:
    """The message's first failed attempt, once the dispatcher has recorded it."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        failed = [a for a in attempts_of(client, server, sid, account) if a["outcome"] == "failed"]
        if failed:
            return failed[0]
        time.sleep(0.1)
    raise AssertionError(f"no failed webhook attempt for {sid}")


def test_failures_are_listed_filtered_and_redelivered(
    server: ServerProcess, user: str, dash: Dashboard, receiver: Receiver
) -> None:
    page = dash.page
    client = server.client()
    # The receiver fails the first status callback (500, no retry: #rc=0), then accepts: the first is the
    # message's `sending` (or, were it to fail before sending, `failed`).
    url = receiver.script("/status", Answer(500, "boom: " + "x" * 300, "text/plain"), Answer(200, "OK"))
    callback = url.replace("http://", f"http://hooks:{PASSWORD_IN_URL}@") + "#rc=0"
    created = client.post(
        f"{server.accounts_path()}/Messages.json",
        data={"To": BLOCKED, "From": TEST_FROM, "Body": "to a blocked number", "StatusCallback": callback},
    )
    assert created.status_code == 201, created.text
    sid = created.json()["sid"]
    original = wait_for_attempt(client, server, sid)
    first_request = receiver.wait_for(lambda found: len(found) >= 1, path="/status")[0]

    dash.sign_in(user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Debugger").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Debugger")
    failed = page.locator("#failed-messages")
    expect(rows(failed).filter(has_text=sid)).to_have_count(1)
    row = rows(failed).filter(has_text=sid)
    expect(row).to_contain_text("failed")
    expect(row).to_contain_text("30004")
    expect(row.locator("td").first).to_have_text(DATE)
    attempts = page.locator("#failed-attempts")
    attempt_row = attempts.locator(f'tr[data-sid="{original["sid"]}"]')
    expect(attempt_row).to_have_count(1)
    expect(attempt_row).to_contain_text(f"status callback: {original['message_status']}")
    expect(attempt_row).to_contain_text("11200")
    expect(attempt_row).to_contain_text("boom")
    # A long URL is cut with an ellipsis, the whole one in its title; the table stays within the page.
    cell = attempt_row.locator("td.clip")
    expect(cell).to_have_attribute("title", re.compile(r"^POST http://127\.0\.0\.1:\d+/status$"))
    assert cell.evaluate("td => getComputedStyle(td).textOverflow") == "ellipsis"
    dash.no_horizontal_overflow()
    for table in ("#failed-messages", "#failed-attempts"):  # whole, Redeliver included, without scrolling
        assert page.locator(table).evaluate("t => t.scrollWidth <= t.parentElement.clientWidth"), table
    spilling = attempts.evaluate(  # no cell's content runs into the next (the URL's is cut on purpose)
        "t => [...t.querySelectorAll('td:not(.clip)')].filter(c => c.scrollWidth > c.clientWidth + 1)"
        ".map(c => c.className + ': ' + c.textContent.trim().slice(0, 40))"
    )
    assert spilling == []
    assert PASSWORD_IN_URL not in dash.html()
    dash.screenshot("debugger")

    # Filters: by error code, number and time; one that matches nothing says so.
    form = page.get_by_role("form", name="Filter failures")
    form.get_by_label("Error code").fill("30004")
    form.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"[?&]error_code=30004(&|$)"))
    expect(rows(failed).filter(has_text=sid)).to_have_count(1)
    expect(page.get_by_text("No failed webhook attempts match.")).to_be_visible()  # 11200 is not 30004
    form.get_by_label("Error code").fill("")
    form.get_by_label("Number (To or From)").fill(BLOCKED)
    form.get_by_role("button", name="Filter").click()
    expect(rows(failed).filter(has_text=sid)).to_have_count(1)
    expect(page.locator(f'#failed-attempts tr[data-sid="{original["sid"]}"]')).to_have_count(1)
    form.get_by_label("Number (To or From)").fill("")
    form.get_by_label("Until (UTC)").fill("2020-01-01T00:00")
    form.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No failed messages match.")).to_be_visible()
    expect(page.get_by_text("No failed webhook attempts match.")).to_be_visible()
    dash.expected_statuses.add(400)
    form.get_by_label("Until (UTC)").fill("")
    form.get_by_label("Error code").fill("abc")
    form.get_by_role("button", name="Filter").click()
    expect(dash.error()).to_have_text("Error code must be a number, such as 30003 or 11200.")
    page.get_by_role("link", name="Clear").click()

    # The attempt's page: the request without secrets, the response, and Redeliver.
    page.locator(f'#failed-attempts tr[data-sid="{original["sid"]}"] td.when a').first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Webhook attempt {original['sid']}")
    expect(page.locator("#attempt-event")).to_have_text(f"status callback: {original['message_status']}")
    expect(page.locator("#attempt-status")).to_have_text("500")
    expect(page.locator("#attempt-token")).to_have_text(original["idempotency_token"])
    headers = page.locator("#request-headers")
    expect(headers).to_contain_text(f"I-Twilio-Idempotency-Token{original['idempotency_token']}")
    expect(headers).to_contain_text("X-Twilio-Signaturepresent")
    expect(headers).to_contain_text("Authorization")
    expect(page.locator("#request-params")).to_contain_text(f"MessageStatus{original['message_status']}")
    expect(page.locator("#request-params")).to_contain_text(f"MessageSid{sid}")
    expect(page.locator("#response-excerpt")).to_contain_text("boom")
    html = dash.html()
    assert PASSWORD_IN_URL not in html and "hooks:****@" in html
    assert server.auth_token not in html and first_request.signature not in html
    dash.screenshot("debugger-attempt")

    page.get_by_role("button", name="Redeliver").click()
    expect(dash.notice()).to_contain_text("Redelivery queued")
    token = original["idempotency_token"]
    assert first_request.token == token
    arrived = receiver.wait_for(lambda found: sum(r.token == token for r in found) >= 2, path="/status")
    redelivered = [r for r in arrived if r.token == token][1]
    assert redelivered.params == first_request.params
    assert is_valid(server.auth_token, redelivered, url)  # signed as any webhook
    deadline = time.monotonic() + 20
    while not page.locator("#redeliveries").count() and time.monotonic() < deadline:
        time.sleep(0.2)
        page.reload()
    redelivery = rows(page.locator("#redeliveries"))
    expect(redelivery).to_have_count(1)
    expect(redelivery).to_contain_text("delivered")
    expect(redelivery).to_contain_text(f"redelivery of {original['sid']}")
    dash.screenshot("debugger-redelivered")
    # The API records it so too; the message's page lists it with the original.
    logged = attempts_of(client, server, sid)
    again = [a for a in logged if a["redelivery_of"] == original["sid"]]
    assert len(again) == 1 and again[0]["idempotency_token"] == original["idempotency_token"]
    page.get_by_role("link", name=f"Message {sid}").click()
    expect(page.locator(f'#attempts tr[data-sid="{again[0]["sid"]}"]')).to_contain_text("redelivery of")


def test_inbound_attempts_show_their_event_and_laml_reply(
    server: ServerProcess, user: str, dash: Dashboard, receiver: Receiver
) -> None:
    page = dash.page
    client = server.client()
    laml = "<Response><Message>Got it, thanks</Message></Response>"
    sms_url = receiver.script("/sms", Answer(200, laml))
    number = own_number(server, client, SmsUrl=sms_url)
    # The sandbox carrier offers what it delivers to an owned number back as an inbound message.
    sent = client.post(
        f"{server.accounts_path()}/Messages.json",
        data={"To": number, "From": TEST_FROM, "Body": "hi inbound"},
    )
    assert sent.status_code == 201, sent.text
    receiver.wait_for(lambda found: len(found) >= 1, path="/sms")
    listed = client.get(f"{server.accounts_path()}/Messages.json", params={"To": number, "From": TEST_FROM})
    inbound = next(m for m in listed.json()["messages"] if m["direction"] == "inbound")

    dash.sign_in(user)
    dash.goto(f"/messages/{inbound['sid']}")
    deadline = time.monotonic() + 20
    while not page.locator("#attempts").count() and time.monotonic() < deadline:
        time.sleep(0.2)
        page.reload()
    row = rows(page.locator("#attempts")).first
    expect(row.locator("td.event")).to_have_text("incoming message")
    expect(row.locator("pre.excerpt")).to_have_text(laml)
    dash.screenshot("message-inbound-attempt")
    row.locator("td.when a").click()
    expect(page.locator("#attempt-event")).to_have_text("incoming message")
    expect(page.get_by_role("heading", name="Response (LaML reply)")).to_be_visible()
    expect(page.locator("#response-excerpt")).to_have_text(laml)
    expect(page.locator("#request-params")).to_contain_text("Bodyhi inbound")


def test_another_accounts_failures_are_neither_listed_nor_redeliverable(
    server: ServerProcess, user: str, dash: Dashboard, receiver: Receiver
) -> None:
    page = dash.page
    client = server.client()
    made = client.post("/2010-04-01/Accounts.json", data={"FriendlyName": "Debugger sub"})
    assert made.status_code == 201, made.text
    sub = made.json()["sid"]
    url = receiver.script("/sub-status", Answer(500, "sub boom", "text/plain"))
    created = client.post(
        f"{server.accounts_path(sub)}/Messages.json",
        data={"To": BLOCKED, "From": TEST_FROM, "Body": "sub", "StatusCallback": url + "#rc=0"},
    )
    assert created.status_code == 201, created.text
    sid = created.json()["sid"]
    theirs = wait_for_attempt(client, server, sid, sub)

    dash.sign_in(user)
    dash.goto("/debugger")
    assert sid not in dash.html() and theirs["sid"] not in dash.html()
    dash.expected_statuses.add(404)
    assert dash.page.goto(f"{server.url}/debugger/attempts/{theirs['sid']}").status == 404  # type: ignore[union-attr]
    # A Redeliver form of this account's page aimed at the other account's attempt: refused, nothing queued.
    dash.goto("/debugger")
    button = page.locator("#failed-attempts form").first
    expect(button).to_have_count(1)
    button.evaluate(
        "(form, sid) => { form.action = '/debugger/attempts/' + sid + '/redeliver'; }", theirs["sid"]
    )
    with page.expect_response(re.compile(r"/redeliver$")) as answer:
        button.get_by_role("button", name="Redeliver").click()
    assert answer.value.status == 404
    # Switched into the subaccount, its failures are the ones in view.
    dash.goto("/subaccounts")
    page.locator(f'#subaccounts tr[data-sid="{sub}"]').get_by_role("button", name="Switch to").click()
    dash.goto("/debugger")
    expect(page.locator(f'#failed-attempts tr[data-sid="{theirs["sid"]}"]')).to_have_count(1)
    expect(rows(page.locator("#failed-messages")).filter(has_text=sid)).to_have_count(1)
