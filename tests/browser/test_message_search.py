"""The message log's search box (part of a number, words of the body, a SID; a word too short explained) and
its Export CSV link, which downloads the filtered log, in Chromium against a real server."""

from __future__ import annotations

import csv
import io
import re

from playwright.sync_api import expect

from tests.browser.support import Dashboard, rows, twilio
from tests.browser.test_messages import TEST_FROM, message_sids
from tests.server import ServerProcess


def search(dash: Dashboard, text: str) -> None:
    form = dash.page.get_by_role("form", name="Filter messages")
    form.get_by_label("Search", exact=True).fill(text)
    form.get_by_role("button", name="Filter").click()


def test_search_the_log_and_export_what_it_found(server: ServerProcess, user: str, dash: Dashboard) -> None:
    client = twilio(server, server.account_sid, server.auth_token)
    lunch = client.messages.create(to="+15554441111", from_=TEST_FROM, body="Lunch at the Harbour café?").sid
    invoice = client.messages.create(to="+15554442222", from_=TEST_FROM, body="=SUM(A1) invoice due").sid
    other = client.messages.create(to="+15554443333", from_=TEST_FROM, body="Harbour tour tomorrow").sid
    page = dash.page
    dash.sign_in(user)
    dash.goto("/messages")

    search(dash, "4441111")
    expect(page).to_have_url(re.compile(r"[?&]q=4441111(&|$)"))
    assert message_sids(page) == [lunch]
    expect(page.get_by_label("Search", exact=True)).to_have_value("4441111")  # stays filled in

    search(dash, "harbour")
    expect(rows(page.locator("#messages"))).to_have_count(2)
    assert message_sids(page) == [other, lunch]
    search(dash, "harbour café")
    assert message_sids(page) == [lunch]
    dash.screenshot("messages-search")

    search(dash, invoice)
    assert message_sids(page) == [invoice]

    # The export link carries the filters: the CSV holds what the page found.
    search(dash, "harbour")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert re.fullmatch(r"messages-AC[0-9a-f]{32}-\d{8}T\d{6}Z\.csv", download.suggested_filename)
    path = download.path()
    table = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    assert [row["Sid"] for row in table] == [other, lunch]
    assert table[1]["Body"] == "Lunch at the Harbour café?" and table[1]["To"] == "'+15554441111"

    search(dash, "")  # the whole log, the formula neutralised
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    every = list(
        csv.DictReader(io.StringIO(download_info.value.path().read_text(encoding="utf-8"), newline=""))
    )
    assert {row["Sid"] for row in every} >= {lunch, invoice, other}
    assert next(row for row in every if row["Sid"] == invoice)["Body"] == "'=SUM(A1) invoice due"


def test_a_search_too_short_is_explained(server: ServerProcess, user: str, dash: Dashboard) -> None:
    page = dash.page
    dash.expected_statuses.add(400)
    dash.sign_in(user)
    dash.goto("/messages")
    search(dash, "hi there")
    expect(dash.error()).to_have_text(
        "Each search word needs at least 3 characters (a number's digits, a word's letters)."
    )
    expect(page.get_by_label("Search", exact=True)).to_have_value("hi there")
    expect(page.get_by_role("link", name="Export CSV")).to_have_count(0)
    dash.screenshot("messages-search-error")
