"""Delivery through the sandbox carrier: outcomes, inbound between accounts, and crash safety."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.conftest import remember_secret
from tests.integration.helpers import own_number, send, wait_final
from tests.server import ServerProcess


@pytest.mark.parametrize(
    ("to", "status", "code"),
    [
        ("+15005550010", "undelivered", 30003),
        ("+15005550011", "undelivered", 30005),
        ("+15005550012", "undelivered", 30006),
        ("+15005550013", "undelivered", 30007),
        ("+15005550014", "failed", 30004),
    ],
)
def test_sandbox_outcome_numbers(server: ServerProcess, to: str, status: str, code: int) -> None:
    with server.client() as client:
        sid = send(server, client, To=to, From="+15005550006", Body="x").json()["sid"]
        final = wait_final(server, client, sid)
    assert final["status"] == status
    assert final["error_code"] == code
    assert final["error_message"]


@pytest.mark.server_env(MYCPAAS_SANDBOX_SEND_DELAY_SECONDS="30", MYCPAAS_WORKER_LEASE_SECONDS="1")
def test_validity_period_expiry_fails_with_30001(fresh_server: ServerProcess) -> None:
    """A message still undelivered when its ValidityPeriod runs out fails with 30001, even across a crash."""
    server = fresh_server
    with server.client() as client:
        response = send(
            server, client, To="+15558675310", From="+15005550006", Body="late", ValidityPeriod="1"
        )
        sid = response.json()["sid"]
    server.kill()
    server.env["MYCPAAS_SANDBOX_SEND_DELAY_SECONDS"] = "0.02"
    time.sleep(1.2)
    server.start()
    with server.client() as client:
        final = wait_final(server, client, sid)
    assert final["status"] == "failed"
    assert final["error_code"] == 30001
    assert final["error_message"] == "Queue overflow"


def _create_account(server: ServerProcess, name: str) -> tuple[str, str]:
    output = subprocess.run(
        [sys.executable, "-m", "mycpaas", "accounts", "create", "--friendly-name", name],
        env=server._environment(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sid = output.split("Account SID: ")[1].split()[0]
    token = remember_secret(output.split("Auth Token:  ")[1].split()[0])
    return sid, token


def test_two_accounts_text_each_other_without_a_carrier(server: ServerProcess) -> None:
    other_sid, other_token = _create_account(server, "Other tenant")
    with server.client() as alice, server.client(other_sid, other_token) as bob:
        alice_number = own_number(server, alice)
        bob_number = own_number(server, bob, other_sid)
        sent = send(server, alice, To=bob_number, From=alice_number, Body="Hi Bob").json()
        assert wait_final(server, alice, sent["sid"])["status"] == "delivered"
        deadline = time.monotonic() + 30
        inbound: list[dict] = []
        while not inbound and time.monotonic() < deadline:
            inbound = bob.get(
                f"{server.accounts_path(other_sid)}/Messages.json", params={"To": bob_number}
            ).json()["messages"]
            time.sleep(0.05)
        assert len(inbound) == 1
        message = inbound[0]
        assert message["direction"] == "inbound" and message["status"] == "received"
        assert message["from"] == alice_number and message["body"] == "Hi Bob"
        assert message["account_sid"] == other_sid
        # The inbound copy belongs to Bob only.
        alice_view = alice.get(f"{server.accounts_path()}/Messages/{message['sid']}.json")
        assert alice_view.status_code == 404


# Jobs leased by the killed process become claimable once their lease runs out.
@pytest.mark.server_env(MYCPAAS_WORKER_LEASE_SECONDS="2")
def test_kill_minus_nine_during_a_burst_loses_nothing(fresh_server: ServerProcess) -> None:
    server = fresh_server
    accepted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def burst() -> None:
        with server.client() as client:
            while not stop.is_set():
                try:
                    response = send(server, client, To="+15558675310", From="+15005550006", Body="burst")
                except httpx.HTTPError:
                    return
                if response.status_code == 201:
                    with lock:
                        accepted.append(response.json()["sid"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(burst) for _ in range(8)]
        # Kill once the burst has created messages, however long that takes on a busy machine.
        deadline = time.monotonic() + 60
        while len(accepted) <= 20:
            assert time.monotonic() < deadline, f"only {len(accepted)} messages accepted in 60 s"
            time.sleep(0.05)
        server.kill()
        stop.set()
        for future in futures:
            future.result()
    print(f"{len(accepted)} messages accepted before kill -9")
    server.start()
    with server.client() as client:
        statuses = {}
        for sid in accepted:
            statuses[sid] = wait_final(server, client, sid, timeout=60)["status"]
    missing = [sid for sid, status in statuses.items() if status is None]
    assert not missing, f"{len(missing)} messages that got a 201 were lost"
    assert set(statuses.values()) == {"delivered"}, statuses
