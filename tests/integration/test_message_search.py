"""The message log's search (partial number, SID, words of the body; a redacted body is not found), its date
filter as an id range, and its CSV export (header, rows, quoting), on SQLite and PostgreSQL, through a real
server and the dashboard's own pages."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import BACKENDS, dispose_server, make_server
from tests.dashboard_support import create_user, signed_in
from tests.databases import sql
from tests.integration.helpers import own_number, send, wait_final
from tests.log_rows import RARE_EVERY, RARE_WORD, fill_postgres, fill_sqlite
from tests.server import ServerProcess

EMAIL = "search@example.com"
SID_LINK = re.compile(r'<a href="/messages/((?:SM|MM)[0-9a-f]{32})">')


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    instance = make_server(tmp_path_factory.mktemp(f"search-{request.param}"), request.param)
    create_user(instance, EMAIL)
    yield instance
    dispose_server(instance)


def wait_indexed(server: ServerProcess, timeout: float = 30) -> None:
    """Until SQLite's batch indexer (services/message_search.py) has indexed every message; at once on
    PostgreSQL, whose index is kept by the database."""
    if not server.database_url.startswith("sqlite"):
        return
    deadline = time.monotonic() + timeout
    conn = sqlite3.connect(server.database_url.removeprefix("sqlite:///"))
    try:
        while True:
            through = conn.execute(
                "select value from platform_state where name = 'message_search'"
            ).fetchone()
            newest = conn.execute("select max(id) from messages").fetchone()[0]
            if through is not None and int(through[0]) >= newest:
                return
            assert time.monotonic() < deadline, f"indexed through {through}, newest {newest}"
            time.sleep(0.05)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def sent(server: ServerProcess) -> dict[str, str]:
    """name -> sid of messages with distinct numbers and bodies, all final (so one can be redacted)."""
    bodies = {
        "fox": ("+15557771234", "The quick brown Fox jumps"),
        "cafe": ("+15557772345", "Café au lait, s'il vous plaît ✓"),
        "formula": ("+15557773456", '=HYPERLINK("http://evil.example") and "quotes", commas'),
        "secret": ("+15557774567", "Your one-time passcode is platypus"),
    }
    sids = {}
    with server.client() as client:
        sender = own_number(server, client)
        for name, (to, body) in bodies.items():
            response = send(server, client, To=to, From=sender, Body=body)
            assert response.status_code == 201, response.text
            sids[name] = response.json()["sid"]
        for sid in sids.values():
            assert wait_final(server, client, sid)["status"] == "delivered"
        wait_indexed(server)  # on SQLite the redaction then goes through the index's update trigger
        redacted = client.post(f"{server.accounts_path()}/Messages/{sids['secret']}.json", data={"Body": ""})
        assert redacted.status_code == 200 and redacted.json()["body"] == ""
    sids["sender"] = sender
    return sids


@pytest.fixture(scope="module")
def dash(server: ServerProcess) -> httpx.Client:
    return signed_in(server, EMAIL)


def found(dash: httpx.Client, **query: str) -> list[str]:
    response = dash.get("/messages", params=query)
    assert response.status_code == 200, response.text
    return SID_LINK.findall(response.text)


def test_a_partial_number_finds_its_messages(dash: httpx.Client, sent: dict[str, str]) -> None:
    assert found(dash, q="7771234") == [sent["fox"]]
    assert found(dash, q="+1555777234") == [sent["cafe"]]
    assert found(dash, q="5557773") == [sent["formula"]]
    # The sender's number finds every message from it (newest first), the redacted one too.
    assert found(dash, q=sent["sender"][-7:]) == [sent[n] for n in ("secret", "formula", "cafe", "fox")]
    assert found(dash, q="5550000") == []


def test_a_sid_finds_its_message_only(dash: httpx.Client, sent: dict[str, str]) -> None:
    assert found(dash, q=sent["cafe"]) == [sent["cafe"]]
    assert found(dash, q=f"  {sent['fox']} ") == [sent["fox"]]
    assert found(dash, q="SM" + "0" * 32) == []


def test_words_of_the_body_any_case_all_of_them(dash: httpx.Client, sent: dict[str, str]) -> None:
    assert found(dash, q="fox") == [sent["fox"]]
    assert found(dash, q="QUICK fox") == [sent["fox"]]
    assert found(dash, q="quick lait") == []  # every word must be in the message
    assert found(dash, q="café") == [sent["cafe"]]
    assert found(dash, q="plaît") == [sent["cafe"]]
    assert found(dash, q="ump") == [sent["fox"]]  # part of a word
    assert found(dash, q='"quotes"') == [sent["formula"]]  # the search syntax's own characters are text
    assert found(dash, q="100%") == [] and found(dash, q="a_b") == []  # so are LIKE's wildcards
    # Words narrow the other filters, and the other filters narrow them.
    assert found(dash, q="fox", to="+15557771234") == [sent["fox"]]
    assert found(dash, q="fox", status="failed") == []


def test_a_new_message_is_found_at_once(
    server: ServerProcess, dash: httpx.Client, sent: dict[str, str]
) -> None:
    """Before SQLite's batch indexer reaches it (the newest rows are matched one by one), and after."""
    with server.client() as client:
        response = send(server, client, To="+15557775678", From=sent["sender"], Body="A wombat appears")
    sid = response.json()["sid"]
    assert found(dash, q="wombat") == [sid]
    assert found(dash, q="7775678 WOMBAT") == [sid]
    wait_indexed(server)
    assert found(dash, q="wombat") == [sid]
    assert found(dash, q="fox") == [sent["fox"]]  # indexed and newest rows together, newest first:
    assert found(dash, q=sent["sender"][-7:])[:2] == [sid, sent["secret"]]


def test_a_new_message_after_the_newest_was_deleted_is_found(
    server: ServerProcess, dash: httpx.Client
) -> None:
    """SQLite gives the next row the id of a deleted newest one: it must be indexed again."""
    with server.client() as client:
        sender = own_number(server, client)
        first = send(server, client, To="+15557776789", From=sender, Body="first narwhal").json()["sid"]
        assert wait_final(server, client, first)["status"] == "delivered"
        wait_indexed(server)
        assert found(dash, q="narwhal") == [first]
        assert client.delete(f"{server.accounts_path()}/Messages/{first}.json").status_code == 204
        assert found(dash, q="narwhal") == []
        second = send(server, client, To="+15557776789", From=sender, Body="second narwhal").json()["sid"]
        assert wait_final(server, client, second)["status"] == "delivered"
    wait_indexed(server)
    assert found(dash, q="narwhal") == [second]
    assert found(dash, q="second narwhal") == [second]


def test_a_redacted_body_is_not_found(dash: httpx.Client, sent: dict[str, str]) -> None:
    assert found(dash, q="platypus") == []
    assert found(dash, q="passcode") == []
    assert found(dash, q=sent["secret"]) == [sent["secret"]]  # the message itself is still there


def test_a_rare_status_through_its_partial_index(server: ServerProcess, dash: httpx.Client) -> None:
    with server.client() as client:
        sender = own_number(server, client)
        failed = send(server, client, To="+15005550014", From=sender, Body="to a blocked number").json()[
            "sid"
        ]
        assert wait_final(server, client, failed)["status"] == "failed"
    assert found(dash, status="failed")[0] == failed
    assert failed not in found(dash, status="delivered")
    assert found(dash, status="canceled") == []
    assert found(dash, status="undelivered", q="blocked") == []


def test_a_search_that_cannot_be_looked_up_is_a_form_error(dash: httpx.Client) -> None:
    for q, says in [
        ("ab", "at least 3 characters"),
        ("x" * 201, "at most 200"),
        ("one two th", "at least 3"),
    ]:
        response = dash.get("/messages", params={"q": q})
        assert response.status_code == 400
        assert says in response.text
        assert 'class="error"' in response.text or 'role="alert"' in response.text
        assert dash.get("/messages.csv", params={"q": q}).status_code == 400


def test_dates_far_past_future_and_today(dash: httpx.Client, sent: dict[str, str]) -> None:
    today = datetime.now(UTC).date()
    mine = {sent[n] for n in ("fox", "cafe", "formula", "secret")}
    assert mine <= set(found(dash, date_from=today.isoformat(), date_to=today.isoformat()))
    assert found(dash, date_to=(today - timedelta(days=1)).isoformat()) == []
    assert found(dash, date_from="1970-01-01", date_to="1970-01-31") == []
    assert found(dash, date_from=(today + timedelta(days=1)).isoformat()) == []
    assert found(dash, date_from="0001-01-01", q="fox") == [sent["fox"]]
    assert found(dash, date_from=today.isoformat(), q="fox") == [sent["fox"]]


def read_csv(response: httpx.Response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))


def test_export_has_a_header_every_row_and_safe_cells(dash: httpx.Client, sent: dict[str, str]) -> None:
    response = dash.get("/messages.csv", params={"q": sent["sender"][-7:]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="messages-AC[0-9a-f]{32}-\d{8}T\d{6}Z\.csv"', disposition)
    table = read_csv(response)
    header, rows = table[0], table[1:]
    assert header[:9] == [
        "Sid",
        "AccountSid",
        "DateCreated",
        "DateSent",
        "DateUpdated",
        "Direction",
        "From",
        "To",
        "Status",
    ]
    by_sid = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert list(by_sid)[-4:] == [sent[n] for n in ("secret", "formula", "cafe", "fox")]  # newest first
    fox = by_sid[sent["fox"]]
    assert fox["From"] == "'" + sent["sender"] and fox["To"] == "'+15557771234"  # + would start a formula
    assert fox["Body"] == "The quick brown Fox jumps" and fox["Status"] == "delivered"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", fox["DateCreated"])
    assert by_sid[sent["cafe"]]["Body"] == "Café au lait, s'il vous plaît ✓"
    assert by_sid[sent["formula"]]["Body"] == '\'=HYPERLINK("http://evil.example") and "quotes", commas'
    assert by_sid[sent["secret"]]["Body"] == ""
    assert b'"\'=HYPERLINK(""http://evil.example"") and ""quotes"", commas"' in response.content
    assert response.content.endswith(b"\r\n")


def test_export_of_nothing_is_the_header_alone(dash: httpx.Client) -> None:
    response = dash.get("/messages.csv", params={"q": "nothing matches these words"})
    assert response.status_code == 200
    assert len(read_csv(response)) == 1


SEVERAL = 6000  # rows: more than message_log.WALK_FIRST (a page walks about 2,000), so that a search passes the newest rows


def test_word_searches_equal_a_row_by_row_filter(fresh_server: ServerProcess) -> None:
    """Two words common apart and never together (nothing found, after the newest rows are walked), common
    together (a page among the newest rows), one common and one rare (found past the newest rows), each alone
    and within the oldest day, paged both ways: the same messages as testing every row, in the same order. On
    SQLite while the indexer is still at work (indexed and not yet indexed rows together) and after."""
    server = fresh_server
    server.stop()
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=SEVERAL + 60)
    if server.database_url.startswith("sqlite"):
        fill_sqlite(server.database_url.removeprefix("sqlite:///"), server.account_sid, SEVERAL, start)
    else:
        asyncio.run(fill_postgres(server.database_url, server.account_sid, SEVERAL, start))
    # A word in one message of 53: fewer than a page among the newest 2,000, more than a page in all.
    sql(server.database_url, "update messages set body = body || ' quokka' where id % 53 = 0")
    # Messages in flight, whose statuses have partial indexes of their own (SQLite is led to them).
    for status, every in (("sent", 61), ("queued", 59), ("sending", 67), ("accepted", 71)):
        sql(
            server.database_url,
            f"update messages set status = '{status}' where id % {every} = 1 and direction = 'outbound-api'",
        )
    # ... and the statuses and directions of 0019's partial indexes: receiving (inbound), LaML replies.
    sql(
        server.database_url,
        "update messages set status = 'receiving' where id % 7 = 2 and direction = 'inbound'",
    )
    sql(
        server.database_url,
        "update messages set direction = 'outbound-reply'"
        " where id % 50 = 3 and direction = 'outbound-api' and status = 'delivered'",
    )
    server.start()
    create_user(server, "words@example.com")
    dash = signed_in(server, "words@example.com")
    log = sql(
        server.database_url,
        "select sid, to_number, from_number, body, created_at from messages order by id desc",
    )
    first_day = min(str(row[4])[:10] for row in log)

    def expected(words: str, day: str | None = None) -> list[str]:
        return [
            sid
            for sid, to, sender, body, created in log
            if all(any(w.lower() in (c or "").lower() for c in (to, sender, body)) for w in words.split())
            and (day is None or str(created)[:10] == day)
        ]

    searches = [
        "meeting reminder",
        "meeting appointment",
        "appointment 1234",
        "5550123",
        "number 4321 payment",
        "QUOKKA",  # past the newest rows, more than a page, paged both ways
        "quokka number",
    ]
    for moment in ("at once", "indexed"):
        if moment == "indexed":
            wait_indexed(server, timeout=60)
        for q in searches:
            want = expected(q)
            assert found(dash, q=q) == want[:50], (moment, q)
            assert found(dash, q=q, date_from=first_day, date_to=first_day) == expected(q, first_day)[:50], q
            if len(want) > 60:
                assert found(dash, q=q, before=want[9]) == want[10:60], (moment, q)
                assert found(dash, q=q, after=want[60]) == want[10:60], (moment, q)
    assert expected("meeting reminder") == [] and len(expected("meeting appointment")) > 1000
    assert 0 < len(expected("appointment 1234")) < 50
    assert len(expected("quokka")) > 60 and sum("quokka" in row[3] for row in log[:2000]) < 50
    # A status and a direction: those no message has together are answered without reading the log.
    kinds = dict(sql(server.database_url, "select sid, status || ' ' || direction from messages"))
    for status, direction in [
        ("received", "inbound"),
        ("delivered", "outbound-api"),
        ("failed", "outbound-api"),
        ("delivered", "inbound"),
        ("received", "outbound-api"),
        ("received", "outbound-reply"),
        ("sent", "outbound-api"),
        ("queued", "outbound-api"),
        ("queued", "inbound"),
        ("delivered", "outbound-reply"),
        ("sending", "outbound-api"),
        ("sending", "outbound-reply"),
    ]:
        want = [row[0] for row in log if kinds[row[0]] == f"{status} {direction}"]
        assert found(dash, status=status, direction=direction) == want[:50], (status, direction)
        inbound_status = status == "received"
        only_delivered_replies = direction == "outbound-reply" and status != "delivered"
        empty = inbound_status != (direction == "inbound") or only_delivered_replies
        assert (want == []) == empty, (status, direction)
    for direction in ("outbound-reply", "inbound"):
        want = [row[0] for row in log if kinds[row[0]].endswith(f" {direction}")]
        assert len(want) > 60
        assert found(dash, direction=direction) == want[:50], direction
        assert found(dash, direction=direction, before=want[9]) == want[10:60], direction
        assert found(dash, direction=direction, after=want[60]) == want[10:60], direction
    for status in ("sent", "queued", "sending", "accepted"):
        want = [row[0] for row in log if kinds[row[0]].startswith(f"{status} ")]
        assert len(want) > 60
        assert found(dash, status=status) == want[:50], status
        assert found(dash, status=status, before=want[9]) == want[10:60], status
        assert found(dash, status=status, after=want[60]) == want[10:60], status
        assert (
            found(dash, status=status, date_from=first_day, date_to=first_day)[:50]
            == [sid for sid in want if sid in set(expected("", first_day))][:50]
        )


LARGE = 200_000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_a_large_export_streams_every_row_in_bounded_memory(fresh_server: ServerProcess) -> None:
    """200,000 messages written straight into the database; the export has every one, and the server's RSS
    grows by far less than the CSV's size (about 25 MB) while it streams."""
    server = fresh_server
    server.stop()
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=LARGE + 60)
    if server.database_url.startswith("sqlite"):
        fill_sqlite(server.database_url.removeprefix("sqlite:///"), server.account_sid, LARGE, start)
    else:
        asyncio.run(fill_postgres(server.database_url, server.account_sid, LARGE, start))
    server.start()
    create_user(server, "export@example.com")
    dash = signed_in(server, "export@example.com")
    assert server.pid is not None
    # SQLite's indexer catches up batch after batch, not one batch a second (200 s here).
    wait_indexed(server, timeout=120)
    assert len(found(dash, q=RARE_WORD)) == LARGE // RARE_EVERY
    # One message a second: a whole day in the middle of the log is 86,400 of them, its edges found exactly.
    day = (start + timedelta(days=1)).date().isoformat()
    one_day = read_csv(dash.get("/messages.csv", params={"date_from": day, "date_to": day}, timeout=300))
    assert len(one_day) - 1 == 86_400
    assert (one_day[1][2], one_day[-1][2]) == (f"{day}T23:59:59Z", f"{day}T00:00:00Z")
    dash.get("/messages.csv", params={"q": RARE_WORD}).raise_for_status()  # warm: imports, templates, pools
    before = rss_mb(server.pid)
    peak = before
    lines = size = 0
    with dash.stream("GET", "/messages.csv", timeout=300) as response:
        assert response.status_code == 200
        tail = b""
        for chunk in response.iter_bytes():
            size += len(chunk)
            lines += chunk.count(b"\r\n")
            tail = chunk[-200:]
            peak = max(peak, rss_mb(server.pid))
    assert lines == LARGE + 1  # the header and every message (no body holds a line break)
    assert tail.endswith(b"\r\n") and size > 20_000_000
    assert peak - before < 0.5 * size / 1e6, (
        f"RSS {before:.0f} -> {peak:.0f} MB for {size / 1e6:.0f} MB of CSV"
    )
