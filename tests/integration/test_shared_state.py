"""No state only one process knows (issue 12, item 5): two real `mycpaas serve` processes on one fresh
PostgreSQL database, holding one server secret, count failed authentications and sign-ins together, pace a
sender together (and refuse with 21611 together), and neither dispatcher lets a hanging origin hold up
another account's callbacks.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import cycle
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import ALL_SERVERS, remember_secret
from tests.dashboard_support import create_user
from tests.databases import create_postgres_database, drop_postgres_database
from tests.integration.auth_support import random_token
from tests.integration.dashboard_security.support import Browser, close_browsers
from tests.integration.helpers import own_number, send, wait_final
from tests.integration.webhook_support import subaccount, unique_path
from tests.receiver import Answer, Receiver
from tests.server import ServerProcess

LIMIT = 6
RATE = 2.0
ENV = {
    "MYCPAAS_AUTH_MAX_FAILURES": str(LIMIT),
    "MYCPAAS_AUTH_FAILURE_WINDOW_SECONDS": "60",
    "MYCPAAS_SIGN_IN_MAX_FAILURES": str(LIMIT),
    "MYCPAAS_SENDER_MPS_LONG_CODE": str(RATE),
    "MYCPAAS_SENDER_QUEUE_SECONDS": "3",  # 6 messages of a long code may be queued
    "MYCPAAS_WEBHOOK_ORIGIN_CONCURRENCY": "4",  # per process: both dispatchers can fill theirs
    "MYCPAAS_WEBHOOK_TIMEOUT_SECONDS": "40",  # a hanging origin's requests outlast every deadline here
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes of every role on one fresh PostgreSQL database. The tests share them: each uses
    keys of its own (a client address, a From number, a callback origin)."""
    with two_servers(tmp_path_factory.mktemp("shared-state"), ENV) as servers:
        yield servers


@contextmanager
def two_servers(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes on one fresh database; the second is given the first one's secret file."""
    url = create_postgres_database()
    first = ServerProcess(tmp_path / "a", url, env=env)
    ALL_SERVERS.append(first)
    servers = [first]
    try:
        first.start()
        remember_secret(first.auth_token)
        (tmp_path / "b").mkdir()
        shutil.copy(first.data_dir / "secret.key", tmp_path / "b" / "secret.key")
        second = ServerProcess(
            tmp_path / "b",
            url,
            env=env,
            account_sid=first.account_sid,
            auth_token=first.auth_token,
        )
        ALL_SERVERS.append(second)
        servers.append(second)
        second.start()
        yield first, second
    finally:
        for server in reversed(servers):
            close_browsers(server)
            server.stop()
        drop_postgres_database(url)


def test_failed_authentications_spread_over_two_processes_are_throttled_together(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = pair
    statuses = []
    for server in [a, b] * (2 * LIMIT):
        token = random_token()
        with server.client(server.account_sid, token) as client:
            response = client.get(f"{server.accounts_path()}/Messages.json")
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.json()["code"] == 20429 and int(response.headers["retry-after"]) >= 1
    failed = statuses.index(429)
    print(f"{failed} failures before the first 429, limit {LIMIT}, two processes")
    assert set(statuses[:failed]) == {401}
    # Within 2N is the promise; since each failure is shared before its answer, one client's tries get N,
    # plus one for the process that last read the total before the other's latest (2N: counted apart).
    assert LIMIT <= failed <= LIMIT + 1, statuses
    assert set(statuses[failed:]) == {429}, statuses  # both processes refuse from then on
    for server in (a, b):  # no lockout: the right token still works in both
        with server.client() as client:
            assert client.get(f"{server.accounts_path()}/Messages.json").status_code == 200


def test_failed_sign_ins_spread_over_two_processes_are_throttled_together(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = pair
    email = "owner@example.com"
    create_user(a, email)
    browsers = cycle([Browser(a, "127.0.0.2"), Browser(b, "127.0.0.2")])
    statuses = []
    for _ in range(2 * LIMIT + 2):
        guess = remember_secret(f"wrong password {random_token()}")
        statuses.append(next(browsers).try_sign_in(email, guess).status_code)
    failed = statuses.index(429)
    print(f"{failed} failed sign-ins before the first 429, limit {LIMIT}, two processes")
    assert set(statuses[:failed]) == {401}
    assert LIMIT <= failed <= LIMIT + 1, statuses  # an attempt is shared before its password is checked
    assert set(statuses[failed:]) == {429}, statuses
    # Another address signs in on either process.
    assert Browser(b, "127.0.0.3").try_sign_in(email).status_code == 303


async def _sent_times(url: str, sender: str) -> list[datetime]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        rows = await conn.fetch(
            "SELECT sent_at FROM messages WHERE from_number = $1 ORDER BY sent_at", sender
        )
    finally:
        await conn.close()
    return [row["sent_at"] for row in rows]


def test_a_sender_is_paced_across_two_delivery_processes(pair: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = pair
    with a.client() as http:
        sender = own_number(a, http)
    pairs = [(a, a.client()), (b, b.client())]
    accepted: list[str] = []
    refused: list[httpx.Response] = []
    for server, client in pairs * 9:
        response = send(server, client, To="+15551260000", From=sender, Body="paced")
        if response.status_code == 201:
            accepted.append(response.json()["sid"])
        else:
            refused.append(response)
    # The queue limit is the database's count: both API processes refuse past it.
    assert refused and {(r.status_code, r.json()["code"]) for r in refused} == {(400, 21611)}
    assert len(accepted) >= 6
    for sid in accepted:
        assert wait_final(a, pairs[0][1], sid, timeout=60)["status"] == "delivered"
    print(f"{len(accepted)} accepted, {len(refused)} refused with 21611")
    times = asyncio.run(_sent_times(a.database_url, sender))
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(times, times[1:], strict=False)]
    # At 2/s the slots are 0.5 s apart on one timeline; two timelines would send pairs at once.
    print("gaps between sends (s):", [round(gap, 3) for gap in gaps])
    assert len(times) == len(accepted) and min(gaps) >= 0.25, gaps
    assert (times[-1] - times[0]).total_seconds() >= (len(times) - 1) / RATE * 0.9, gaps


def test_a_hanging_origin_holds_up_no_other_account_in_either_dispatcher(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    a, b = pair
    dead, healthy = Receiver(), Receiver()
    try:
        dead_url = dead.script(unique_path("hangs"), Answer(200, delay=60))
        # Alphanumeric senders, which this server does not pace, to a non-NANP number.
        with a.client() as parent:
            for _ in range(20):
                created = send(a, parent, To="+447700900001", From="Stuck", Body="x", StatusCallback=dead_url)
                assert created.status_code == 201, created.text
            sub_sid, sub_token = subaccount(a, parent)
        # The dead origin holds a dispatcher's whole per-origin share (4), or both dispatchers' if each claimed
        # some of its jobs (which one claims what depends on timing).
        dead.wait_for(lambda found: len(found) >= 4, timeout=20)
        path = unique_path("healthy")
        with b.client(sub_sid, sub_token) as client:
            for _ in range(5):
                created = send(
                    b,
                    client,
                    sub_sid,
                    To="+447700900002",
                    From="Healthy",
                    Body="y",
                    StatusCallback=healthy.url(path),
                )
                assert created.status_code == 201, created.text
        # Every healthy callback (sent, delivered... three per message) arrives while the dead origin's
        # requests still hang (they time out only after 40 s).
        healthy.wait_for(lambda found: len(found) >= 15, path=path, timeout=20)
        assert len(dead.received()) <= 8  # 4 per dispatcher; the rest wait in the queue
    finally:
        dead.close()
        healthy.close()
