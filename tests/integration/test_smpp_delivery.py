"""Delivery over SMPP end to end: the official twilio client creates messages on a real server, which routes
them over SMPP 3.4 to the node SMSC simulator (node-smpp does the protocol); receipts move them to their final
status with signed status callbacks; an MO reaches the number's webhook and its LaML reply goes back out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from tests.conftest import BACKENDS
from tests.integration.smpp_support import (
    message,
    own_number,
    sdk,
    smpp_server,
    wait_final,
    wait_until,
)
from tests.integration.webhook_support import statuses, unique_path
from tests.receiver import Answer, Receiver, is_valid
from tests.server import ServerProcess
from tests.smsc_support import Smsc


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


@pytest.fixture
def smsc(tmp_path: Path) -> Iterator[Smsc]:
    with Smsc(tmp_path / "smsc", DLR_DELAY_MS=20) as instance:
        yield instance


@pytest.fixture(scope="module", params=BACKENDS)
def uk_fr(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, Smsc]]:
    """Per backend, a simulator and a server that routes +44 (UDH) and +33 (SAR) to it; shared by the tests
    whose messages go to destinations of their own."""
    tmp = tmp_path_factory.mktemp(f"smpp-delivery-{request.param}")
    with Smsc(tmp / "smsc", DLR_DELAY_MS=20) as smsc:
        carriers = [
            ("uk", smsc, ("--prefix", "+44")),
            ("fr", smsc, ("--prefix", "+33", "--concatenation", "sar")),
        ]
        with smpp_server(tmp / "server", request.param, carriers) as server:
            yield server, smsc


def _create_or_none(client: Client, **params: Any) -> Any:
    try:
        return client.messages.create(**params)
    except TwilioRestException as exc:
        assert exc.code == 21611
        return None


def parts_for(smsc: Smsc, destination: str) -> list[dict[str, Any]]:
    return [m for m in smsc.messages() if m["destination_addr"] == destination.lstrip("+")]


def test_messages_reach_the_smsc_in_the_right_encoding_and_parts(
    uk_fr: tuple[ServerProcess, Smsc], receiver: Receiver
) -> None:
    server, smsc = uk_fr
    client = sdk(server)
    with server.client() as http:
        sender = own_number(server, http)
    callback = unique_path("smpp-status")
    bodies = {
        "+447700900111": "Hello {world} with € and [brackets]",
        "+447700900112": "{" * 100 + "a" * 100,  # 200 septets, escape pairs at the cut
        "+447700900113": "😀" * 40 + "x" * 10,  # UCS-2 with surrogate pairs at the cut
        "+33612345678": "SAR " * 80,  # GSM, 320 septets: 3 parts as SAR TLVs
    }
    created = {
        to: client.messages.create(to=to, from_=sender, body=body, status_callback=receiver.url(callback))
        for to, body in bodies.items()
    }
    assert [m.num_segments for m in created.values()] == ["1", "2", "2", "3"]
    final = wait_final(server, server.client(), [m.sid for m in created.values()])
    assert [m["status"] for m in final] == ["delivered"] * 4

    for to, body in bodies.items():
        parts = parts_for(smsc, to)
        assert "".join(p["text"] for p in parts) == body, to
        assert len(parts) == int(created[to].num_segments or 0)
        assert all(p["registered_delivery"] == 1 and p["source_addr"] == sender.lstrip("+") for p in parts)
    [gsm] = parts_for(smsc, "+447700900111")
    assert gsm["data_coding"] == 0 and gsm["udh"] is None and gsm["esm_class"] == 0
    escapes = parts_for(smsc, "+447700900112")
    assert [p["udh"]["concat"]["seq"] for p in escapes] == [1, 2]
    assert len({p["udh"]["concat"]["ref"] for p in escapes}) == 1
    assert not any(bytes.fromhex(p["short_message_hex"]).endswith(b"\x1b") for p in escapes)
    emoji = parts_for(smsc, "+447700900113")
    assert {p["data_coding"] for p in emoji} == {8}
    assert all(len(bytes.fromhex(p["short_message_hex"])) <= 140 for p in emoji)
    sar = parts_for(smsc, "+33612345678")
    assert [(p["sar"]["total_segments"], p["sar"]["segment_seqnum"]) for p in sar] == [
        (3, 1),
        (3, 2),
        (3, 3),
    ]
    assert all(p["udh"] is None and p["esm_class"] & 0x40 == 0 for p in sar)

    # Every change went out as a signed status callback, in order, per message.
    for sent in created.values():
        arrived = receiver.wait_for(
            lambda got, sid=sent.sid: sum(r.params.get("MessageSid") == sid for r in got) >= 3,
            path=callback,
        )
        mine = [r for r in arrived if r.params.get("MessageSid") == sent.sid]
        assert statuses(mine) == ["sending", "sent", "delivered"]
        assert all(is_valid(server.auth_token, r, receiver.url(callback)) for r in mine)


def test_receipts_and_refusals_end_as_twilio_does(uk_fr: tuple[ServerProcess, Smsc]) -> None:
    server, _ = uk_fr
    client = sdk(server)
    with server.client() as http:
        sender = own_number(server, http)
    cases = {
        "+447700900000": ("delivered", None),
        "+447700910002": ("undelivered", 30003),  # receipt UNDELIV
        "+447700910004": ("undelivered", 30003),  # receipt EXPIRED
        "+447700910005": ("undelivered", 30007),  # receipt REJECTD
        "+447700910001": ("failed", 30005),  # submit_sm_resp ESME_RINVDSTADR
    }
    sids = [client.messages.create(to=to, from_=sender, body="outcome").sid for to in cases]
    final = wait_final(server, server.client(), sids)
    assert [(m["status"], m["error_code"]) for m in final] == list(cases.values())
    assert all(m["error_message"] for m in final[1:])
    # No receipt at all: it stays `sent`, as on Twilio.
    silent = client.messages.create(to="+447700910003", from_=sender, body="no receipt")
    wait_until(lambda: message(server, server.client(), silent.sid)["status"] == "sent", what="sent")


def test_an_inbound_message_reaches_the_webhook_and_its_reply_goes_out_over_smpp(
    uk_fr: tuple[ServerProcess, Smsc], receiver: Receiver
) -> None:
    """UCS-2 in 3 parts with a UDH and GSM with SAR TLVs, reassembled (on SQLite and PostgreSQL); the LaML
    reply goes out through the +44 connector."""
    server, smsc = uk_fr
    path = unique_path("smpp-mo")
    receiver.script(path, Answer(200, "<Response><Message>Got it: привет</Message></Response>"))
    with server.client() as http:
        number = own_number(server, http, SmsUrl=receiver.url(path))
    text = "Здравствуйте, это длинное сообщение. " * 5  # UCS-2, 3 parts with a UDH
    assert smsc.mo("447700900555", number.lstrip("+"), text, ucs2=True)["parts"] == 3
    smsc.mo("447700900556", number.lstrip("+"), "SAR inbound " * 20, sar=True)
    [first, second] = receiver.wait_for(lambda got: len(got) >= 2, path=path)
    by_sender = {r.params["From"]: r for r in (first, second)}
    assert by_sender["+447700900555"].params["Body"] == text
    assert by_sender["+447700900556"].params["Body"] == "SAR inbound " * 20
    assert by_sender["+447700900555"].params["To"] == number
    assert all(is_valid(server.auth_token, r, receiver.url(path)) for r in (first, second))
    # Every MO part was acknowledged only after it was stored, and acknowledged once.
    wait_until(lambda: len(parts_for(smsc, "+447700900555")) == 1, what="the LaML reply at the SMSC")
    [reply] = parts_for(smsc, "+447700900555")
    assert reply["text"] == "Got it: привет" and reply["data_coding"] == 8
    assert reply["source_addr"] == number.lstrip("+")


def test_routes_fail_over_and_unroutable_destinations_fail(tmp_path: Path) -> None:
    with (
        Smsc(tmp_path / "primary", DLR_DELAY_MS=20) as primary,
        Smsc(tmp_path / "backup", DLR_DELAY_MS=20) as backup,
    ):
        carriers = [
            ("primary", primary, ("--prefix", "+44", "--priority", "1")),
            ("backup", backup, ("--prefix", "+44", "--priority", "2")),
        ]
        with smpp_server(tmp_path / "server", "sqlite", carriers) as server:
            client = sdk(server)
            with server.client() as http:
                sender = own_number(server, http)
            first = client.messages.create(to="+447700900201", from_=sender, body="via primary")
            wait_final(server, server.client(), [first.sid])
            assert parts_for(primary, "+447700900201") and not parts_for(backup, "+447700900201")

            primary.stop()
            wait_until(
                lambda: "link primary: bind failed" in server.log_text(), what="the primary to be down"
            )
            second = client.messages.create(to="+447700900202", from_=sender, body="via backup")
            assert wait_final(server, server.client(), [second.sid])[0]["status"] == "delivered"
            assert parts_for(backup, "+447700900202")

            nowhere = client.messages.create(to="+33612345679", from_=sender, body="no route")
            [failed] = wait_final(server, server.client(), [nowhere.sid])
            assert (failed["status"], failed["error_code"]) == ("failed", 30008)


def test_sender_rate_queue_limit_and_validity(tmp_path: Path, smsc: Smsc) -> None:
    env = {"MYCPAAS_SENDER_MPS_LONG_CODE": "2", "MYCPAAS_SENDER_QUEUE_SECONDS": "4"}  # 8 may be queued
    with smpp_server(tmp_path / "server", "sqlite", [("sim", smsc, ())], **env) as server:
        client = sdk(server)
        with server.client() as http:
            sender = own_number(server, http)
        accepted, refused = [], []
        for n in range(14):
            try:
                accepted.append(
                    client.messages.create(to=f"+4477009003{n:02d}", from_=sender, body=f"paced {n}")
                )
            except TwilioRestException as exc:
                refused.append(exc)
        assert refused and all(exc.code == 21611 and exc.status == 400 for exc in refused)
        assert len(accepted) >= 8  # eight queued, plus whatever left while the loop ran
        # A message that cannot leave within its ValidityPeriod fails with 30001 instead of going late.
        late = wait_until(
            lambda: _create_or_none(
                client, to="+447700900399", from_=sender, body="too late", validity_period=1
            ),
            what="room in the sender's queue",
        )
        final = wait_final(server, server.client(), [m.sid for m in accepted] + [late.sid], timeout=30)
        assert [m["status"] for m in final[:-1]] == ["delivered"] * len(accepted)
        assert (final[-1]["status"], final[-1]["error_code"]) == ("failed", 30001)
        times = sorted(m["submitted_ms"] for m in smsc.messages() if m["source_addr"] == sender.lstrip("+"))
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= 400, f"two messages of one long code went {min(gaps)} ms apart at 2/s"

        # The remaining validity goes to the SMSC as a relative validity_period.
        kept = client.messages.create(to="+447700900398", from_=sender, body="valid", validity_period=600)
        wait_final(server, server.client(), [kept.sid])
        [part] = parts_for(smsc, "+447700900398")
        assert part["validity_period"].endswith("R") and part["validity_period"].startswith("000000000")


def test_a_transmitter_and_a_receiver_bind_share_receipts(
    tmp_path: Path, smsc: Smsc, receiver: Receiver
) -> None:
    """Receipts correlate per SMSC account: one sent on the transmitter comes back on the receiver bind."""
    carriers = [("tx", smsc, ("--bind", "transmitter")), ("rx", smsc, ("--bind", "receiver"))]
    with smpp_server(tmp_path / "server", "sqlite", carriers) as server:
        client = sdk(server)
        with server.client() as http:
            sender = own_number(server, http)
        sids = [
            client.messages.create(to=f"+44770090070{n}", from_=sender, body=f"split {n}").sid
            for n in range(3)
        ]
        assert [m["status"] for m in wait_final(server, server.client(), sids)] == ["delivered"] * 3
        binds = {b["bind_type"] for b in smsc.stats()["binds"]}
        assert binds == {"transmitter", "receiver"}
