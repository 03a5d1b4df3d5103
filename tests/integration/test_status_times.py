"""Each status a message passes keeps its time (migration 0014), on both databases (through the server, and at
the use cases' depth for scheduled and Messaging Service messages); the dashboard's message page
and log answer their live polls (`?live=<mark>`: 204 while nothing changed); a message stored before 0014 (its
status times NULL) still has its page and timeline."""

from __future__ import annotations

import asyncio
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from mycpaas.domain.messages import MessageStatus
from mycpaas.domain.status_times import passed
from mycpaas.services import delivery, message_progress, messaging, scheduling
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from tests.conftest import dispose_server, make_server
from tests.dashboard_support import create_user, signed_in
from tests.integration.helpers import send, unique_number, wait_final
from tests.integration.test_raw_inserts import stored_rows
from tests.integration.test_scheduled_messages import _claim_due, _schedule, _setup, _soon
from tests.platform_support import run_on_platform
from tests.server import ServerProcess

FROM = "+15005550006"
TIMES = ("accepted", "queued", "sending", "sent", "delivered", "undelivered", "failed", "canceled")
_MARK = re.compile(r'<div id="live" data-live="([0-9a-f]+)" hidden>')


def _at(value: Any) -> datetime | None:
    """A stored DateTime as either driver reads it (SQLite: text; asyncpg: a datetime)."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def stored_times(server: ServerProcess, sid: str) -> dict[str, datetime | None]:
    (row,) = asyncio.run(stored_rows(server.database_url, "messages", "sid", [sid]))
    return {name: _at(row[name]) for name in ("created_at", "updated_at", *(f"{s}_at" for s in TIMES))}


def sent_and_settled(server: ServerProcess, to: str) -> tuple[str, dict[str, Any]]:
    with server.client() as client:
        sid = send(server, client, To=to, From=FROM, Body="times").json()["sid"]
        return sid, wait_final(server, client, sid)


@pytest.mark.parametrize(
    ("to", "final"),
    [("+15558675310", "delivered"), ("+15005550010", "undelivered"), ("+15005550014", "failed")],
)
def test_every_status_passed_keeps_its_time(server: ServerProcess, to: str, final: str) -> None:
    sid, body = sent_and_settled(server, to)
    assert body["status"] == final
    times = stored_times(server, sid)
    passed = ["sending", "sent", final] if final != "failed" else ["sending", final]
    # The first status (queued) is the message's creation; each later one has its own time, in order, and the
    # last is the message's latest change.
    moments = [times["created_at"], *(times[f"{s}_at"] for s in passed)]
    assert all(moment is not None for moment in moments), times
    assert moments == sorted(moments), times  # type: ignore[type-var]
    assert times[f"{final}_at"] == times["updated_at"]
    not_passed = set(TIMES) - set(passed)
    assert all(times[f"{s}_at"] is None for s in not_passed), times


def _set_null(server: ServerProcess, sid: str) -> None:
    """Make the message look as if stored before migration 0014: every status time NULL but sent_at's."""
    columns = ", ".join(f"{s}_at = NULL" for s in TIMES if s != "sent")
    statement = f"UPDATE messages SET {columns} WHERE sid = "
    if server.database_url.startswith("sqlite"):
        conn = sqlite3.connect(server.database_url.removeprefix("sqlite:///"))
        with conn:
            conn.execute(statement + "?", (sid,))
        conn.close()
        return

    async def run() -> None:
        pg = await asyncpg.connect(server.database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await pg.execute(statement + "$1", sid)
        finally:
            await pg.close()

    asyncio.run(run())


def _user(server: ServerProcess) -> httpx.Client:
    email = f"times-{secrets.token_hex(4)}@example.com"
    create_user(server, email)
    return signed_in(server, email)


def timeline(html: str) -> list[str]:
    section = html.split('<ol class="timeline" id="timeline">', 1)[1].split("</ol>", 1)[0]
    return re.findall(r'<span class="status s-([a-z_]+)">', section)


def test_message_page_shows_every_status_and_keeps_working_for_older_rows(server: ServerProcess) -> None:
    sid, _ = sent_and_settled(server, "+15558675312")
    dashboard = _user(server)
    page = dashboard.get(f"/messages/{sid}")
    assert page.status_code == 200
    assert timeline(page.text) == ["queued", "sending", "sent", "delivered"]

    _set_null(server, sid)
    older = dashboard.get(f"/messages/{sid}")
    assert older.status_code == 200
    # As before 0014: created (queued), sent_at, and the current status at updated_at.
    assert timeline(older.text) == ["queued", "sent", "delivered"]


def test_live_polls_answer_204_until_something_changes(server: ServerProcess) -> None:
    dashboard = _user(server)
    with server.client() as client:
        sid = send(server, client, To="+15558675313", From=FROM, Body="live").json()["sid"]
        log_mark = _MARK.search(dashboard.get("/messages").text)
        assert log_mark is not None
        wait_final(server, client, sid)
    page = dashboard.get(f"/messages/{sid}")
    mark = _MARK.search(page.text)
    assert mark is not None
    unchanged = dashboard.get(f"/messages/{sid}", params={"live": mark.group(1)})
    assert (unchanged.status_code, unchanged.content) == (204, b"")
    # A stale mark gets the page as it is now (the script swaps its live parts in).
    stale = dashboard.get(f"/messages/{sid}", params={"live": "0" * 16})
    assert stale.status_code == 200 and _MARK.search(stale.text) is not None
    # The log's mark from before the message settled (and, on the shared server, before other tests' messages)
    # is stale now; its current one is not.
    current = _MARK.search(dashboard.get("/messages").text)
    assert current is not None and current.group(1) != log_mark.group(1)
    assert dashboard.get("/messages", params={"live": current.group(1)}).status_code == 204
    # Another account's message is not found through the poll either.
    assert dashboard.get(f"/messages/SM{'0' * 32}", params={"live": mark.group(1)}).status_code == 404


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[ServerProcess]:
    instance = make_server(tmp_path / "server", "postgres", args=["--workers", "2"])
    yield instance
    dispose_server(instance)


def test_live_poll_follows_changes_made_in_any_worker_process(two_workers: ServerProcess) -> None:
    """Behind `serve --workers 2`, polls on new connections (either worker may accept each) see the message
    move on wherever it moved, and agree on its mark once it settled: the mark is read from the database, not
    kept by a process."""
    server = two_workers
    email = f"workers-{secrets.token_hex(4)}@example.com"
    create_user(server, email)
    session = signed_in(server, email).cookies

    def poll(path: str, **params: str) -> httpx.Response:
        with httpx.Client(base_url=server.url, cookies=session, timeout=30) as fresh:
            return fresh.get(path, params=params)

    with server.client() as client:
        sid = send(server, client, To="+15558675314", From=FROM, Body="workers").json()["sid"]
        deadline = time.monotonic() + 30
        page = poll(f"/messages/{sid}")
        while timeline(page.text)[-1] != "delivered" and time.monotonic() < deadline:
            time.sleep(0.05)
            page = poll(f"/messages/{sid}")
    assert timeline(page.text) == ["queued", "sending", "sent", "delivered"]
    mark = _MARK.search(page.text)
    assert mark is not None
    assert {poll(f"/messages/{sid}", live=mark.group(1)).status_code for _ in range(10)} == {204}


def test_scheduled_and_service_messages_keep_each_status_time(platform_settings: Settings) -> None:
    """At the use cases' depth, on a database of its own: a scheduled message goes `scheduled` (created) ->
    `accepted` (SendAt) -> `queued` (its sender chosen) -> `sending`, each time kept; a canceled one keeps when
    it was canceled; a message through a service starts `accepted`."""

    async def scenario(platform: Platform) -> None:
        account, service_sid, _ = await _setup(platform)
        scheduled = await _schedule(platform, account, service_sid)
        claimed = await _claim_due(platform, scheduled)
        [started] = await delivery.start_sending(platform, claimed)
        times = await message_progress.status_times(platform, started.message)
        assert set(times) == {MessageStatus.ACCEPTED, MessageStatus.QUEUED, MessageStatus.SENDING}
        assert scheduled.created_at <= times[MessageStatus.ACCEPTED] <= times[MessageStatus.QUEUED]
        assert times[MessageStatus.QUEUED] <= times[MessageStatus.SENDING]
        stored = await messaging.get_message(platform, account, scheduled.sid)
        assert stored is not None
        assert [s.value for s, _ in passed(stored, times)] == ["scheduled", "accepted", "queued", "sending"]

        canceled = await scheduling.cancel(platform, await _schedule(platform, account, service_sid))
        times = await message_progress.status_times(platform, canceled)
        assert times == {MessageStatus.CANCELED: canceled.updated_at}
        assert [s.value for s, _ in passed(canceled, times)] == ["scheduled", "canceled"]

        request = messaging.SendRequest(
            to=unique_number(), from_=None, messaging_service_sid=service_sid, body="now"
        )
        now = await messaging.send_message(platform, account, request)
        assert await message_progress.status_times(platform, now) == {}
        assert [s.value for s, _ in passed(now, {})] == ["accepted"]

    run_on_platform(_soon(platform_settings), scenario)
