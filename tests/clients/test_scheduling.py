"""Scheduled messages through the official twilio-python client, on SQLite and PostgreSQL: scheduling with a
Messaging Service, the message going at SendAt (reached during the test: this module's server takes SendAt
from now on, MYCPAAS_SCHEDULE_MIN_LEAD_SECONDS=0), cancel, a service deleted with scheduled messages, a
restart with one pending (it goes after the restart, once), and every refusal with Twilio's code. Raw bodies
are validated against the 2010-04-01 schema."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.clients.conftest import unique_number, wait_for
from tests.conftest import BACKENDS, dispose_server, make_server, remember_secret
from tests.receiver import Receiver
from tests.schemas import assert_valid, list_validator, resource_validator
from tests.server import ServerProcess

MESSAGE = resource_validator("api.v2010.account.message")
MESSAGE_LIST = list_validator("/2010-04-01/Accounts/{AccountSid}/Messages.json")


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    instance = make_server(
        tmp_path_factory.mktemp(f"scheduling-{request.param}"),
        request.param,
        env={"MYCPAAS_SCHEDULE_MIN_LEAD_SECONDS": "0"},
    )
    yield instance
    dispose_server(instance)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


@pytest.fixture(autouse=True)
def _no_edge_or_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    monkeypatch.delenv("TWILIO_REGION", raising=False)


def sdk(server: ServerProcess, username: str | None = None, password: str | None = None) -> Client:
    client = Client(username or server.account_sid, password or server.auth_token)
    client.api.base_url = server.url
    client.messaging.base_url = server.url
    return client


def pool(client: Client) -> tuple[str, str]:
    """A new service with one number of the account's: (MG…, the number)."""
    number = client.incoming_phone_numbers.create(phone_number=unique_number())
    service = client.messaging.v1.services.create(friendly_name="later")
    client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=number.sid)
    return str(service.sid), str(number.phone_number)


def in_seconds(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def raw_message(server: ServerProcess, sid: str) -> Any:
    with server.client() as http:
        response = http.get(f"{server.accounts_path(server.account_sid)}/Messages/{sid}.json")
    assert response.status_code == 200, response.text
    assert_valid(MESSAGE, response.json())
    return response.json()


def listed_with_status(server: ServerProcess, status: str) -> list[str]:
    """The sids of the list's first page filtered by Status (SignalWire's extension), each checked to have it."""
    with server.client() as http:
        path = f"{server.accounts_path(server.account_sid)}/Messages.json"
        response = http.get(path, params={"Status": status, "PageSize": "1000"})
        refused = http.get(path, params={"Status": "later"})
    assert (refused.status_code, refused.json()["code"]) == (400, 20422)
    assert_valid(MESSAGE_LIST, response.json())
    assert "Status=" + status in response.json()["uri"]
    assert {m["status"] for m in response.json()["messages"]} <= {status}
    return [m["sid"] for m in response.json()["messages"]]


def refused(call: Any) -> tuple[int, int, str]:
    with pytest.raises(TwilioRestException) as error:
        call()
    return error.value.status, error.value.code, error.value.msg


def statuses(receiver: Receiver, path: str) -> list[str]:
    return [r.params["MessageStatus"] for r in receiver.received(path)]


def test_a_scheduled_message_goes_at_send_at(server: ServerProcess, receiver: Receiver) -> None:
    client = sdk(server)
    service_sid, sender = pool(client)
    path = f"/status/{service_sid}"
    send_at = in_seconds(10)  # twilio-python sends SendAt to the second: a lead well over one
    to = unique_number()
    message = client.messages.create(
        to=to,
        messaging_service_sid=service_sid,
        body="see you soon",
        schedule_type="fixed",
        send_at=send_at,
        status_callback=receiver.url(path),
        validity_period=10,  # counted from SendAt, not from the creation (else it would expire at once)
    )
    assert (message.status, message.from_, message.messaging_service_sid) == ("scheduled", None, service_sid)
    assert (message.date_sent, message.num_segments) == (None, "0")  # as Twilio shows a scheduled message
    body = raw_message(server, message.sid)
    assert body["status"] in ("scheduled", "queued", "sending", "sent", "delivered")  # its time may have come

    with server.client() as http:
        listed = http.get(f"{server.accounts_path(server.account_sid)}/Messages.json", params={"To": to})
    assert_valid(MESSAGE_LIST, listed.json())
    assert [m["sid"] for m in listed.json()["messages"]] == [message.sid]

    delivered = wait_for(
        lambda: client.messages(message.sid).fetch(), lambda m: m.status == "delivered", timeout=60
    )
    assert (delivered.from_, delivered.num_segments) == (sender, "1")  # the pool's number
    assert delivered.date_sent is not None and delivered.date_sent >= send_at.replace(microsecond=0)
    receiver.wait_for(lambda found: "delivered" in [r.params["MessageStatus"] for r in found], path=path)
    assert statuses(receiver, path) == ["queued", "sending", "sent", "delivered"]


def test_cancel_a_scheduled_message(server: ServerProcess, receiver: Receiver) -> None:
    client = sdk(server)
    service_sid, _ = pool(client)
    path = f"/status/{service_sid}"
    message = client.messages.create(
        to=unique_number(),
        messaging_service_sid=service_sid,
        body="never mind",
        schedule_type="fixed",
        send_at=in_seconds(3600),
        status_callback=receiver.url(path),
    )
    assert message.sid in listed_with_status(server, "scheduled")
    # Redacting it would leave an empty message to go at SendAt: refused as for a message in flight.
    assert refused(lambda: client.messages(message.sid).update(body=""))[:2] == (400, 30400)
    assert raw_message(server, message.sid)["body"] == "never mind"
    canceled = client.messages(message.sid).update(status="canceled")
    assert (canceled.status, canceled.date_sent) == ("canceled", None)
    assert raw_message(server, message.sid)["status"] == "canceled"
    assert message.sid not in listed_with_status(server, "scheduled")
    assert message.sid in listed_with_status(server, "canceled")
    receiver.wait_for(lambda found: len(found) >= 1, path=path)
    assert statuses(receiver, path) == ["canceled"]

    # Twilio's 30409: no longer scheduled (canceled already), or never scheduled.
    assert refused(lambda: client.messages(message.sid).update(status="canceled"))[:2] == (400, 30409)
    sender = client.incoming_phone_numbers.create(phone_number=unique_number()).phone_number
    now = client.messages.create(to=unique_number(), from_=sender, body="now")
    assert refused(lambda: client.messages(now.sid).update(status="canceled"))[:2] == (400, 30409)


def test_deleting_a_service_cancels_its_scheduled_messages(server: ServerProcess) -> None:
    client = sdk(server)
    service_sid, _ = pool(client)
    pending = [
        client.messages.create(
            to=unique_number(),
            messaging_service_sid=service_sid,
            body=f"pending {n}",
            schedule_type="fixed",
            send_at=in_seconds(3600),
        )
        for n in range(2)
    ]
    assert client.messaging.v1.services(service_sid).delete()
    assert [client.messages(m.sid).fetch().status for m in pending] == ["canceled", "canceled"]


def test_every_refusal_has_twilios_code(server: ServerProcess) -> None:
    client = sdk(server)
    service_sid, sender = pool(client)
    empty = client.messaging.v1.services.create(friendly_name="no numbers").sid
    sub = client.api.v2010.accounts.create(friendly_name="another")
    remember_secret(sub.auth_token)
    theirs = sdk(server, sub.sid, sub.auth_token).messaging.v1.services.create(friendly_name="theirs").sid

    def schedule(**kw: Any) -> Any:
        params = {"to": unique_number(), "body": "x", "messaging_service_sid": service_sid, **kw}
        return lambda: client.messages.create(**params)

    assert refused(schedule(schedule_type="fixed"))[:2] == (400, 35111)
    assert refused(schedule(schedule_type="fixed", send_at="", from_=sender))[:2] == (400, 35111)
    no_service = schedule(
        schedule_type="fixed", send_at=in_seconds(3600), from_=sender, messaging_service_sid=None
    )
    assert refused(no_service)[:2] == (400, 35118)
    assert refused(schedule(schedule_type="fixed", send_at=in_seconds(-60)))[:2] == (400, 35114)
    for not_iso in (
        "tomorrow",
        "12/24/2030 10:00",
        "Wed, 19 Jun 2030 22:04:00 -0000",
        "2030-13-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # out of datetime's range once in UTC
        "9999-12-31T23:59:59-23:59",
    ):
        assert refused(schedule(schedule_type="fixed", send_at=not_iso))[:2] == (400, 35114), not_iso
    assert refused(schedule(schedule_type="fixed", send_at=in_seconds(36 * 86400)))[:2] == (400, 35115)
    assert refused(schedule(schedule_type="recurring", send_at=in_seconds(3600)))[:2] == (400, 20422)
    assert refused(schedule(schedule_type="fixed", send_at=in_seconds(3600), messaging_service_sid="MGnope"))[
        :2
    ] == (400, 21705)
    for unknown in ("MG" + "0" * 32, theirs):
        status, code, _ = refused(
            schedule(schedule_type="fixed", send_at=in_seconds(3600), messaging_service_sid=unknown)
        )
        assert (status, code) == (400, 21701), unknown
    assert refused(schedule(schedule_type="fixed", send_at=in_seconds(3600), messaging_service_sid=empty))[
        :2
    ] == (
        400,
        21704,
    )

    # SendAt without ScheduleType schedules nothing: the message goes now, as at Twilio.
    now = client.messages.create(to=unique_number(), from_=sender, body="now", send_at=in_seconds(3600))
    assert now.status == "queued"
    # Scheduled with both From and the service: it goes from that From.
    with_from = client.messages.create(
        to=unique_number(),
        from_=sender,
        messaging_service_sid=service_sid,
        body="x",
        schedule_type="fixed",
        send_at=in_seconds(3600),
    )
    assert (with_from.status, with_from.from_) == ("scheduled", sender)


def test_a_scheduled_message_survives_a_restart_and_goes_once(
    server: ServerProcess, receiver: Receiver
) -> None:
    client = sdk(server)
    service_sid, sender = pool(client)
    path = f"/status/{service_sid}"
    # The server must stop before the send time; on a slow machine it may not have, so a longer lead is tried.
    for lead in (5, 15, 45):
        send_at = in_seconds(lead)
        message = client.messages.create(
            to=unique_number(),
            messaging_service_sid=service_sid,
            body="after the restart",
            schedule_type="fixed",
            send_at=send_at,
            status_callback=receiver.url(path),
        )
        server.stop()
        if datetime.now(UTC) < send_at and statuses(receiver, path) == []:
            break
        server.start()
        wait_for(lambda sid=message.sid: client.messages(sid).fetch(), lambda m: m.status == "delivered")
        path = f"/status/{service_sid}/{lead}"  # a fresh callback path for the next try
    else:
        pytest.fail("the server never stopped before a send time 45 s ahead")
    try:
        while datetime.now(UTC) <= send_at:  # its time passes while no process runs
            time.sleep(0.1)
    finally:
        server.start()
    delivered = wait_for(
        lambda: client.messages(message.sid).fetch(), lambda m: m.status == "delivered", timeout=60
    )
    assert delivered.from_ == sender
    receiver.wait_for(lambda found: "delivered" in [r.params["MessageStatus"] for r in found], path=path)
    assert statuses(receiver, path) == ["queued", "sending", "sent", "delivered"]
