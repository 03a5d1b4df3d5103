"""The overview's pre-aggregated counts (message_counts, webhook_counts) equal a GROUP BY over the real tables
after a mix of what the platform does to messages, on SQLite and on PostgreSQL: creates (one and several
segments, Unicode), deliveries, undelivered and failed receipts, inbound messages, a redacted and a deleted
message, status callbacks answered and refused. The oracle is the messages and webhook_attempts tables as
the database groups them, not the code that keeps the counts."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from tests.integration.helpers import own_number, send, wait_final
from tests.receiver import Answer, Receiver
from tests.server import ServerProcess

_COUNTS = "SELECT account_sid, hour, status, error_code, messages, segments FROM message_counts"
_WEBHOOK_COUNTS = "SELECT account_sid, hour, outcome, attempts FROM webhook_counts"
_SQLITE_MESSAGES = (
    "SELECT account_sid, strftime('%Y-%m-%d %H:00:00', created_at), status, coalesce(error_code, 0), "
    "count(*), sum(num_segments) FROM messages GROUP BY 1, 2, 3, 4"
)
_SQLITE_ATTEMPTS = (
    "SELECT account_sid, strftime('%Y-%m-%d %H:00:00', created_at), outcome, count(*) "
    "FROM webhook_attempts GROUP BY 1, 2, 3"
)
_PG_MESSAGES = (
    "SELECT account_sid, date_trunc('hour', created_at), status, coalesce(error_code, 0), count(*), "
    "sum(num_segments) FROM messages GROUP BY 1, 2, 3, 4"
)
_PG_ATTEMPTS = "SELECT account_sid, date_trunc('hour', created_at), outcome, count(*) FROM webhook_attempts GROUP BY 1, 2, 3"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


def _hour(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value)[:19])


def _normal(rows: list[Any], counters: int) -> set[tuple[Any, ...]]:
    """Rows keyed by their hour as a datetime; zero counts (a key every message left) left out."""
    return {
        (row[0], _hour(row[1]), *row[2:-counters], *(int(n) for n in row[-counters:]))
        for row in rows
        if int(row[-counters]) != 0
    }


def _tables(server: ServerProcess) -> tuple[list[Any], list[Any], list[Any], list[Any]]:
    """(message_counts, GROUP BY messages, webhook_counts, GROUP BY webhook_attempts), read in one snapshot."""
    if server.database_url.startswith("sqlite"):
        connection = sqlite3.connect(server.database_url.removeprefix("sqlite:///"))
        try:
            connection.execute("BEGIN")
            found = [
                connection.execute(sql).fetchall()
                for sql in (_COUNTS, _SQLITE_MESSAGES, _WEBHOOK_COUNTS, _SQLITE_ATTEMPTS)
            ]
            connection.execute("ROLLBACK")
            return found[0], found[1], found[2], found[3]
        finally:
            connection.close()

    async def read() -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        connection = await asyncpg.connect(server.database_url)
        try:
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                found = [
                    [tuple(row) for row in await connection.fetch(sql)]
                    for sql in (_COUNTS, _PG_MESSAGES, _WEBHOOK_COUNTS, _PG_ATTEMPTS)
                ]
                return found[0], found[1], found[2], found[3]
        finally:
            await connection.close()

    return asyncio.run(read())


def test_counts_equal_a_group_by_over_the_tables(fresh_server: ServerProcess, receiver: Receiver) -> None:
    server = fresh_server
    answered = receiver.script("/ok", Answer(204))
    refused = receiver.script("/refuse", Answer(500))
    inbound = receiver.script("/sms", Answer(200, "<Response/>"))
    sids: list[str] = []
    with server.client() as client:
        sender = own_number(server, client)
        mine = own_number(server, client, SmsUrl=inbound)
        mix = [
            {"To": "+15558675310", "Body": "hello", "StatusCallback": answered},
            {"To": "+15558675311", "Body": "x" * 400, "StatusCallback": answered},
            {"To": "+15558675312", "Body": "Grüße 😀 " * 20, "StatusCallback": refused},
            {"To": "+15005550010", "Body": "undelivered", "StatusCallback": answered},
            {"To": "+15005550013", "Body": "undelivered too"},
            {"To": "+15005550014", "Body": "failed", "StatusCallback": refused},
            {"To": mine, "Body": "to my own number: a received message too"},
            {"To": "+15558675313", "Body": "to be deleted"},
            {"To": "+15558675314", "Body": "to be redacted"},
        ]
        for data in mix:
            response = send(server, client, From=sender, **data)
            assert response.status_code == 201, response.text
            sids.append(response.json()["sid"])
        finals = [wait_final(server, client, sid)["status"] for sid in sids]
        assert finals.count("delivered") == 6 and "undelivered" in finals and "failed" in finals
        inbound_received = receiver.wait_for(lambda found: len(found) >= 1, path="/sms")
        assert inbound_received
        assert client.delete(f"{server.accounts_path()}/Messages/{sids[7]}.json").status_code == 204
        redacted = client.post(f"{server.accounts_path()}/Messages/{sids[8]}.json", data={"Body": ""})
        assert redacted.status_code == 200, redacted.text
    receiver.wait_for(lambda found: len(found) >= 4, path="/ok")
    receiver.wait_for(lambda found: len(found) >= 2, path="/refuse")

    counts, grouped, webhook_counts, attempts = _tables(server)
    assert _normal(counts, 2) == _normal(grouped, 2)
    assert {row[2] for row in _normal(counts, 2)} >= {"delivered", "undelivered", "failed", "received"}
    assert all(int(row[5]) == 0 for row in counts if int(row[4]) == 0)  # a key left by every message is empty
    assert _normal(webhook_counts, 1) == _normal(attempts, 1)
    assert {row[2] for row in _normal(webhook_counts, 1)} >= {"delivered", "retrying"}
