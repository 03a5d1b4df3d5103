"""Sending through a Messaging Service (`MessagingServiceSid` on Messages create) with the official twilio-python
client, on SQLite and PostgreSQL: the `accepted` answer, the sender the delivery worker picks (sticky, area-code
geomatch, spread over the pool, the alpha sender outside +1), a pool number released mid-way, the service's
status callback, and every refusal in Twilio's order. Responses are validated against the 2010-04-01 schema.
The queue-limit failure (21611) needs rate-limited senders: tests/integration/test_service_sender_queues.py."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from twilio.rest import Client

from tests.clients.conftest import FINAL_STATUSES, unique_number, wait_for
from tests.clients.test_messaging_services import rest_error, sdk
from tests.conftest import remember_secret
from tests.receiver import Receiver
from tests.schemas import assert_valid, resource_validator
from tests.server import ServerProcess

MESSAGE = resource_validator("api.v2010.account.message")


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


def number_in(area: str) -> str:
    return f"+1{area}2{secrets.randbelow(10**6):06d}"


def pooled_service(client: Client, numbers: list[str], **settings: Any) -> tuple[Any, dict[str, str]]:
    """A service whose pool holds new numbers of the account: (the service, E.164 -> PN sid)."""
    service = client.messaging.v1.services.create(friendly_name=f"pool-{secrets.token_hex(3)}", **settings)
    sids = {}
    for phone_number in numbers:
        sid = client.incoming_phone_numbers.create(phone_number=phone_number).sid
        client.messaging.v1.services(service.sid).phone_numbers.create(phone_number_sid=sid)
        sids[phone_number] = sid
    return service, sids


def create_raw(server: ServerProcess, **form: str) -> dict[str, Any]:
    """A create through plain HTTP, for the raw body the schema validates."""
    with server.client() as http:
        response = http.post(f"/2010-04-01/Accounts/{server.account_sid}/Messages.json", data=form)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert_valid(MESSAGE, body)
    return body


def finals(client: Client, sids: list[str]) -> list[Any]:
    return [
        wait_for(lambda sid=sid: client.messages(sid).fetch(), lambda m: m.status in FINAL_STATUSES)
        for sid in sids
    ]


def test_sticky_sender_over_a_pool_of_three(server: ServerProcess, receiver: Receiver) -> None:
    client = sdk(server)
    path = f"/mg-status-{secrets.token_hex(4)}"
    service, pool = pooled_service(
        client,
        [unique_number() for _ in range(3)],
        sticky_sender=True,
        area_code_geomatch=False,
        status_callback=receiver.url(path),
    )
    destinations = [unique_number() for _ in range(5)]
    first = create_raw(server, To=destinations[0], MessagingServiceSid=service.sid, Body="sticky 0")
    assert (first["status"], first["from"], first["num_segments"]) == ("accepted", None, "0")
    assert first["messaging_service_sid"] == service.sid
    sent = [first["sid"]]
    for n in range(1, 20):
        message = client.messages.create(
            to=destinations[n % 5], messaging_service_sid=service.sid, body=f"sticky {n}"
        )
        assert (message.status, message.from_, message.num_segments) == ("accepted", None, "0")
        sent.append(message.sid)

    done = finals(client, sent)
    assert {m.status for m in done} == {"delivered"}, [(m.status, m.error_code) for m in done]
    senders: dict[str, set[str]] = {}
    for message in done:
        senders.setdefault(message.to, set()).add(message.from_)
        assert message.messaging_service_sid == service.sid and message.num_segments == "1"
    assert all(len(used) == 1 for used in senders.values()), senders
    assert set().union(*senders.values()) == set(pool), "the five destinations are spread over all three"

    # The service's status callback applies (the message gave none): queued once the sender is picked,
    # then as always; no callback for `accepted`.
    got = receiver.wait_for(lambda found: len(found) >= 4 * 20, path=path)
    mine = [r.params for r in got if r.params["MessageSid"] == first["sid"]]
    assert [p["MessageStatus"] for p in mine] == ["queued", "sending", "sent", "delivered"]
    assert {p["MessagingServiceSid"] for p in mine} == {service.sid}
    assert {p["From"] for p in mine} == {next(m.from_ for m in done if m.sid == first["sid"])}


def test_a_released_pool_number_gives_its_destinations_to_another(server: ServerProcess) -> None:
    client = sdk(server)
    service, pool = pooled_service(client, [unique_number() for _ in range(3)], area_code_geomatch=False)
    to = unique_number()
    before = finals(client, [client.messages.create(to=to, messaging_service_sid=service.sid, body="a").sid])
    [stuck] = {m.from_ for m in before}
    # Released with messages still to pick a sender: none of them fails.
    later = [
        client.messages.create(to=to, messaging_service_sid=service.sid, body=f"b{n}").sid for n in range(4)
    ]
    client.incoming_phone_numbers(pool[stuck]).delete()
    more = [
        client.messages.create(to=to, messaging_service_sid=service.sid, body=f"c{n}").sid for n in range(4)
    ]
    done = finals(client, later + more)
    assert {m.status for m in done} == {"delivered"}
    assert {m.from_ for m in done} <= set(pool)
    moved = {m.from_ for m in done[len(later) :]}
    assert len(moved) == 1 and stuck not in moved, "the destination sticks to one of the remaining numbers"


def test_area_code_geomatch_and_spreading(server: ServerProcess) -> None:
    client = sdk(server)
    areas = ["212", "303", "415"]
    service, pool = pooled_service(client, [number_in(a) for a in areas], sticky_sender=False)
    by_area = {phone[2:5]: phone for phone in pool}
    sids = [
        client.messages.create(to=number_in(a), messaging_service_sid=service.sid, body=a).sid
        for a in areas * 2
    ]
    done = finals(client, sids)
    assert [m.from_ for m in done] == [by_area[m.to[2:5]] for m in done]
    # No number of the To's area code: any of the pool, spread over all of it.
    spread, _ = pooled_service(
        client, [number_in(a) for a in areas], sticky_sender=False, area_code_geomatch=False
    )
    sids = [
        client.messages.create(to=number_in("646"), messaging_service_sid=spread.sid, body="s").sid
        for _ in range(6)
    ]
    done = finals(client, sids)
    assert {m.status for m in done} == {"delivered"}
    assert len({m.from_ for m in done}) == 3


def test_alpha_sender_outside_plus_one_and_a_given_from(server: ServerProcess) -> None:
    client = sdk(server)
    [phone] = numbers = [unique_number()]
    service, _ = pooled_service(client, numbers)
    client.messaging.v1.services(service.sid).alpha_senders.create(alpha_sender="Acme")
    abroad = client.messages.create(to="+447700900123", messaging_service_sid=service.sid, body="hello")
    home = client.messages.create(to=unique_number(), messaging_service_sid=service.sid, body="hello")
    # Both From and MessagingServiceSid: `accepted` like any message through a service (Twilio's), its From
    # kept; it goes from that From (in the pool, checked again when it goes).
    given = create_raw(server, To=unique_number(), From=phone, MessagingServiceSid=service.sid, Body="x")
    assert (given["status"], given["from"], given["num_segments"], given["messaging_service_sid"]) == (
        "accepted",
        phone,
        "0",
        service.sid,
    )
    done = finals(client, [abroad.sid, home.sid, given["sid"]])
    assert [(m.status, m.from_) for m in done] == [
        ("delivered", "Acme"),
        ("delivered", phone),
        ("delivered", phone),
    ]


def test_refusals_in_twilios_order(server: ServerProcess) -> None:
    client = sdk(server)
    owned = unique_number()
    service, _ = pooled_service(client, [owned])
    outside = client.incoming_phone_numbers.create(phone_number=unique_number()).phone_number
    empty = client.messaging.v1.services.create(friendly_name="empty")
    alpha_only = client.messaging.v1.services.create(friendly_name="alpha only")
    client.messaging.v1.services(alpha_only.sid).alpha_senders.create(alpha_sender="Acme")
    sub = client.api.accounts.create(friendly_name=f"mg-send-{secrets.token_hex(3)}")
    sub_client = sdk(server, sub.sid, remember_secret(sub.auth_token))
    unknown = "MG" + secrets.token_hex(16)

    def refused(**kw: Any) -> tuple[int, int]:
        return rest_error(lambda: client.messages.create(**{"body": "x", "to": unique_number(), **kw}))

    assert refused(messaging_service_sid="MG123") == (400, 21705)
    assert refused(messaging_service_sid=unknown) == (400, 21701)
    assert refused(messaging_service_sid=empty.sid) == (400, 21704)
    assert refused(messaging_service_sid=alpha_only.sid) == (400, 21703)  # an alpha sender never serves +1
    assert refused(messaging_service_sid=service.sid, from_=outside) == (400, 21711)
    # A subaccount cannot send through its parent's service.
    sub_send = sub_client.messages.create
    assert rest_error(lambda: sub_send(to=unique_number(), messaging_service_sid=service.sid, body="x")) == (
        400,
        21701,
    )
    # Twilio's order: To before the service, the service before the From's ownership, then the content checks.
    assert rest_error(lambda: client.messages.create(to="", messaging_service_sid="MG1", body="x")) == (
        400,
        21604,
    )
    assert refused(to="12", messaging_service_sid=unknown) == (400, 21211)
    assert refused(messaging_service_sid=unknown, from_="+15551239876") == (400, 21701)
    assert refused(messaging_service_sid=service.sid, from_="+15551239876") == (400, 21606)
    assert refused(messaging_service_sid=unknown, body="x" * 1601) == (400, 21701)
    assert refused(messaging_service_sid=service.sid, body="x" * 1601) == (400, 21617)
    assert refused(messaging_service_sid=service.sid, validity_period=0) == (400, 21624)
    # An alpha sender outside +1 is a sender: accepted.
    abroad = client.messages.create(to="+33612345678", messaging_service_sid=alpha_only.sid, body="bonjour")
    assert finals(client, [abroad.sid])[0].from_ == "Acme"
