"""Webhook faults: a crash between a status change and its callback, kill -9 while callbacks are in flight,
a customer endpoint that hangs, and private destinations refused in production. Nothing is lost, an event
is never sent under two tokens, and one customer's dead endpoint does not hold up another's."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import dispose_server, make_server
from tests.integration.helpers import own_number, send, wait_final
from tests.integration.webhook_support import (
    first_arrivals,
    statuses,
    subaccount,
    unique_path,
    wait_attempts,
)
from tests.receiver import Answer, Received, Receiver, is_valid
from tests.server import ServerProcess

ORDER = ["sending", "sent", "delivered"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


def by_message(received: list[Received]) -> dict[str, list[Received]]:
    grouped: dict[str, list[Received]] = {}
    for request in received:
        grouped.setdefault(request.params["MessageSid"], []).append(request)
    return grouped


def assert_each_event_once_and_in_order(received: list[Received], sids: list[str]) -> None:
    grouped = by_message(first_arrivals(received))
    assert sorted(grouped) == sorted(sids), "every message's callbacks arrived"
    for sid, requests in grouped.items():
        assert statuses(requests) == ORDER, (sid, statuses(requests))
    tokens_per_event: dict[tuple[str, str], set[str]] = {}
    for request in received:
        key = (request.params["MessageSid"], request.params["MessageStatus"])
        tokens_per_event.setdefault(key, set()).add(request.token)
    assert all(len(tokens) == 1 for tokens in tokens_per_event.values()), (
        "one token per event, across retries"
    )


@pytest.mark.server_env(MYCPAAS_WEBHOOK_DISPATCHER="false")  # status changes commit; their callbacks wait
def test_callbacks_queued_before_a_crash_are_sent_after_the_restart(
    fresh_server: ServerProcess, receiver: Receiver
) -> None:
    server = fresh_server
    path = unique_path("after-crash")
    url = receiver.url(path)
    with server.client() as client:
        sender = own_number(server, client)
        sids = [
            send(server, client, To="+15551240000", From=sender, Body=f"m{i}", StatusCallback=url).json()[
                "sid"
            ]
            for i in range(20)
        ]
        assert {wait_final(server, client, sid)["status"] for sid in sids} == {"delivered"}
    assert receiver.received(path) == []
    server.kill()
    server.env["MYCPAAS_WEBHOOK_DISPATCHER"] = "true"
    server.start()
    receiver.wait_for(lambda found: len(found) >= 60, path=path, timeout=30)
    # Wait for the dispatcher to have recorded every attempt (a second send would be an attempt too), rather
    # than for a fixed quiet time: then exactly one request per event arrived.
    with server.client() as client:
        logs = [wait_attempts(server, client, sid, 3, timeout=30) for sid in sids]
    assert [len(log) for log in logs] == [3] * len(sids), "nothing attempted twice"
    got = receiver.received(path)
    assert len(got) == 60, "nothing sent twice"
    assert_each_event_once_and_in_order(got, sids)
    assert all(is_valid(server.auth_token, request, url) for request in got)


@pytest.mark.server_env(MYCPAAS_WORKER_LEASE_SECONDS="2")
def test_kill_minus_nine_while_callbacks_are_in_flight_loses_none(
    fresh_server: ServerProcess, receiver: Receiver
) -> None:
    server = fresh_server
    path = unique_path("in-flight")
    url = receiver.script(path, Answer(200, delay=0.05))
    with server.client() as client:
        sender = own_number(server, client)

    def create(i: int) -> str | None:
        with server.client() as client:
            try:
                response = send(
                    server, client, To="+15551240001", From=sender, Body=f"m{i}", StatusCallback=url
                )
            except httpx.HTTPError:
                return None
            return response.json()["sid"] if response.status_code == 201 else None

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(create, i) for i in range(60)]
        # Kill while messages are being created and their callbacks sent: once a few callbacks arrived.
        receiver.wait_for(lambda found: len(found) >= 3, path=path, timeout=60)
        server.kill()
        sids = [sid for sid in (f.result() for f in futures) if sid]
    assert sids, "some messages were accepted before the kill"
    arrived_before = len(receiver.received(path))
    server.start()
    with server.client() as client:
        # A message may have committed with its 201 lost to the kill: it counts too (nothing committed is lost).
        listed = client.get(
            f"{server.accounts_path()}/Messages.json", params={"From": sender, "PageSize": 1000}
        ).json()["messages"]
        committed = [m["sid"] for m in listed]
        assert set(sids) <= set(committed)
        sids = committed
        assert {wait_final(server, client, sid, timeout=60)["status"] for sid in sids} == {"delivered"}
    receiver.wait_for(
        lambda found: (
            len(by_message(first_arrivals(found))) >= len(sids)
            and all(len(r) >= 3 for r in by_message(first_arrivals(found)).values())
        ),
        path=path,
        timeout=60,
    )
    print(
        f"{len(sids)} messages, {arrived_before} callbacks before kill -9, {len(receiver.received(path))} in all"
    )
    assert_each_event_once_and_in_order(receiver.received(path), sids)


def test_a_hanging_endpoint_does_not_hold_up_another_accounts_webhooks(
    fresh_server: ServerProcess, receiver: Receiver
) -> None:
    server = fresh_server
    dead = Receiver()
    try:
        dead_path = unique_path("hangs")
        dead_url = dead.script(dead_path, Answer(200, delay=60))
        with server.client() as parent:
            stuck_sender = own_number(server, parent)
            stuck = [
                send(
                    server, parent, To="+15551240002", From=stuck_sender, Body="x", StatusCallback=dead_url
                ).json()["sid"]
                for _ in range(40)
            ]
            sub_sid, sub_token = subaccount(server, parent)
        path = unique_path("healthy")
        url = receiver.url(path)
        with server.client(sub_sid, sub_token) as client:
            sender = own_number(server, client, sub_sid)
            sids = [
                send(
                    server, client, sub_sid, To="+15551240003", From=sender, Body="y", StatusCallback=url
                ).json()["sid"]
                for _ in range(10)
            ]
            # Every healthy callback arrives while the dead endpoint's first requests are still hanging.
            receiver.wait_for(lambda found: len(found) >= 30, path=path, timeout=20)
        assert_each_event_once_and_in_order(receiver.received(path), sids)
        with server.client() as parent:
            assert {wait_final(server, parent, sid)["status"] for sid in stuck} == {"delivered"}
        assert dead.received(dead_path), "the dead endpoint was tried"
    finally:
        server.stop()
        dead.close()


@pytest.mark.parametrize(
    "env", [{"MYCPAAS_ENVIRONMENT": "production"}, {"MYCPAAS_WEBHOOK_PRIVATE_NETWORKS": "refuse"}]
)
def test_private_destinations_are_refused_when_configured(
    tmp_path: Path, receiver: Receiver, env: dict[str, str]
) -> None:
    server = make_server(tmp_path / "server", "sqlite", env=env)
    try:
        path = unique_path("private")
        with server.client() as client:
            sender = own_number(server, client)
            for url in (receiver.url(path), receiver.url(path).replace("127.0.0.1", "localhost")):
                created = send(
                    server, client, To="+15551240004", From=sender, Body="x", StatusCallback=url
                ).json()
                log = wait_attempts(server, client, created["sid"], 3)
                assert {(a["outcome"], a["error_code"]) for a in log} == {("failed", 11210)}
                assert "non-public" in log[0]["error_message"]
        assert receiver.received(path) == []
    finally:
        dispose_server(server)
