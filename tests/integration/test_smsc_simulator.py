"""The SMSC simulator itself, checked with smpplib as an independent SMPP client: if the simulator were wrong,
every SMPP test built on it would be testing against a fiction."""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from tests.smsc_support import Smsc

RECEIPT = re.compile(
    r"id:(?P<id>\S+) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:(?P<submit>\d+) done date:(?P<done>\d+) "
    r"stat:(?P<stat>\w+) err:(?P<err>\d{3}) text:(?P<text>.*)"
)


@pytest.fixture(scope="module")
def smsc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Smsc]:
    instance = Smsc(tmp_path_factory.mktemp("smsc"), USERS="test:secret,other:pw", DLR_DELAY_MS=5)
    yield instance
    instance.stop()


@pytest.fixture
def client(smsc: Smsc) -> Iterator[smpplib.client.Client]:
    smsc.reset()
    smsc.config(msg_id_format="hex", dlr_date_seconds=0)
    esme = smpplib.client.Client(smsc.host, smsc.port, timeout=5, allow_unknown_opt_params=True)
    esme.connect()
    esme.bind_transceiver(system_id="test", password="secret")
    yield esme
    esme.unbind()
    esme.disconnect()


def read_until(esme: smpplib.client.Client, command: str) -> Any:
    """Read PDUs, answering deliver_sm with ESME_ROK, until one named `command` arrives."""
    while True:
        pdu = esme.read_pdu()
        if pdu.command == "deliver_sm":
            resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=esme)
            resp.sequence = pdu.sequence
            esme.send_pdu(resp)
        if pdu.command == command:
            return pdu


def submit(esme: smpplib.client.Client, to: str, text: bytes = b"hello", **kw: Any) -> Any:
    esme.send_message(
        source_addr_ton=1,
        source_addr_npi=1,
        source_addr="15550100",
        dest_addr_ton=1,
        dest_addr_npi=1,
        destination_addr=to,
        short_message=text,
        data_coding=0,
        **{"registered_delivery": 1, **kw},
    )
    return read_until(esme, "submit_sm_resp")


def raw_exchange(sock: socket.socket, command_id: int, sequence: int, body: bytes = b"") -> tuple[int, int]:
    """Send one PDU by hand and return (command_id, command_status) of the answer."""
    sock.sendall(struct.pack(">IIII", 16 + len(body), command_id, 0, sequence) + body)
    length, answer_id, status, answer_seq = struct.unpack(">IIII", sock.recv(16, socket.MSG_WAITALL))
    sock.recv(length - 16, socket.MSG_WAITALL)
    assert answer_seq == sequence
    return answer_id, status


def test_protocol_states_and_unsupported_commands(smsc: Smsc) -> None:
    submit_body = b"\0\1\1" + b"1555\0" + b"\1\1" + b"1666\0" + bytes(3) + b"\0\0" + bytes(4) + b"\2hi"
    bind_body = b"test\0secret\0\0\x34\0\0\0"
    with socket.create_connection((smsc.host, smsc.port), timeout=5) as sock:
        assert raw_exchange(sock, 0x04, 1, submit_body) == (0x80000004, 0x04)  # ESME_RINVBNDSTS
        assert raw_exchange(sock, 0x09, 2, bind_body) == (0x80000009, 0)
        assert raw_exchange(sock, 0x09, 3, bind_body) == (0x80000009, 0x05)  # ESME_RALYBND
        assert raw_exchange(sock, 0x103, 4) == (0x80000103, 0x03)  # data_sm: ESME_RINVCMDID
        assert raw_exchange(sock, 0xABCD, 5) == (0x80000000, 0x03)  # unknown: generic_nack
        assert raw_exchange(sock, 0x15, 6) == (0x80000015, 0)
        assert raw_exchange(sock, 0x06, 7) == (0x80000006, 0)  # unbind, then the SMSC closes
        assert sock.recv(1) == b""
    with socket.create_connection((smsc.host, smsc.port), timeout=5) as sock:
        sock.sendall(struct.pack(">II", 8, 0x15))  # command_length below the header size
        assert sock.recv(1) == b""
    with socket.create_connection((smsc.host, smsc.port), timeout=5) as sock:
        raw_exchange(sock, 0x09, 1, bind_body)
        assert smsc.drop() == 1
        assert sock.recv(1) == b""


def test_wrong_password_and_unknown_system_id_are_rejected(smsc: Smsc) -> None:
    for system_id, password, status in [("test", "nope", 0x0E), ("ghost", "secret", 0x0F)]:
        esme = smpplib.client.Client(smsc.host, smsc.port, timeout=5, allow_unknown_opt_params=True)
        esme.connect()
        with pytest.raises(smpplib.exceptions.PDUError) as failure:
            esme.bind_transceiver(system_id=system_id, password=password)
        assert failure.value.args[1] == status
        esme.disconnect()


def test_submit_gets_an_id_and_a_receipt_with_minute_dates(smsc: Smsc, client: smpplib.client.Client) -> None:
    assert [b["system_id"] for b in smsc.stats()["binds"]] == ["test"]
    resp = submit(client, "15559990", b"Hello \x11world\x11 \x00 home")  # GSM 03.38: 0x11 is _, 0x00 is @
    assert resp.status == 0
    message_id = resp.message_id.decode()
    assert re.fullmatch(r"[0-9A-F]+", message_id)
    receipt = read_until(client, "deliver_sm")
    assert receipt.esm_class == 0x04
    assert receipt.source_addr.decode() == "15559990" and receipt.destination_addr.decode() == "15550100"
    assert receipt.receipted_message_id.decode().rstrip("\0") == message_id
    assert receipt.message_state == 2
    fields = RECEIPT.fullmatch(receipt.short_message.decode())
    assert fields is not None
    assert fields["id"] == message_id and fields["stat"] == "DELIVRD" and fields["err"] == "000"
    assert len(fields["submit"]) == 10 and len(fields["done"]) == 10
    assert fields["text"] == "Hello .world. . home"
    smsc.wait_for(lambda s: s.stats()["receipts_acked"] == 1, what="receipt ack")
    [record] = smsc.messages()
    assert record["message_id"] == message_id and record["text"] == "Hello _world_ @ home"
    assert (
        record["short_message_hex"] == b"Hello \x11world\x11 \x00 home".hex()
        and record["registered_delivery"] == 1
    )
    assert record["receipt_sent"] and record["receipt_acked"]


def test_second_precision_dates_and_decimal_ids(smsc: Smsc, client: smpplib.client.Client) -> None:
    smsc.config(msg_id_format="dec", dlr_date_seconds=1)
    resp = submit(client, "15559990")
    assert re.fullmatch(r"[0-9]+", resp.message_id.decode())
    fields = RECEIPT.fullmatch(read_until(client, "deliver_sm").short_message.decode())
    assert fields is not None and fields["id"] == resp.message_id.decode()
    assert len(fields["submit"]) == 12 and len(fields["done"]) == 12


def test_failure_suffixes_refuse_the_submit(smsc: Smsc, client: smpplib.client.Client) -> None:
    for to, status in [("15550001", 0x0B), ("15550006", 0x58), ("15550007", 0x14), ("15550007", 0x14)]:
        assert submit(client, to).status == status
    assert submit(client, "15550002").status == 0
    fields = RECEIPT.fullmatch(read_until(client, "deliver_sm").short_message.decode())
    assert fields is not None and (fields["stat"], fields["err"]) == ("UNDELIV", "001")
    assert submit(client, "15550007", registered_delivery=0).status == 0  # accepted on the third try
    stats = smsc.stats()
    assert stats["submits"] == 6 and stats["throttled"] == 1 and stats["unique_message_ids"] == 2


def test_mo_from_control_api_arrives(smsc: Smsc, client: smpplib.client.Client) -> None:
    assert smsc.mo("15557777", "15550100", "Ping €5 {ok}")["parts"] == 1
    mo = read_until(client, "deliver_sm")
    assert mo.esm_class == 0 and mo.data_coding == 0
    assert mo.source_addr.decode() == "15557777" and mo.destination_addr.decode() == "15550100"
    assert mo.short_message == b"Ping \x1be5 \x1b(ok\x1b)"
    long = smsc.mo("15557777", "15550100", "Grüße 😀 " * 10, ucs2=True)
    assert long["parts"] == 2
    parts = [read_until(client, "deliver_sm") for _ in range(2)]
    assert all(p.esm_class == 0x40 and p.data_coding == 8 for p in parts)
    body = b"".join(p.short_message[6:] for p in parts)
    assert body.decode("utf-16-be") == "Grüße 😀 " * 10
    smsc.wait_for(lambda s: s.stats()["mo_acked"] == 3, what="MO acks")


def test_receipt_waits_for_a_receiver_and_is_resent_after_a_refusal(smsc: Smsc) -> None:
    smsc.reset()
    sender = smpplib.client.Client(smsc.host, smsc.port, timeout=5, allow_unknown_opt_params=True)
    sender.connect()
    sender.bind_transmitter(system_id="other", password="pw")
    message_id = submit(sender, "15559990").message_id.decode()
    smsc.wait_for(lambda s: s.stats()["queued_deliveries"] == 1, what="queued receipt")
    receiver = smpplib.client.Client(smsc.host, smsc.port, timeout=5, allow_unknown_opt_params=True)
    receiver.connect()
    receiver.bind_receiver(system_id="other", password="pw")
    statuses = iter([0x08, 0])
    receiver.set_message_received_handler(lambda pdu: next(statuses))
    receiver.read_once()  # refused with ESME_RSYSERR: the simulator re-sends after a second
    receiver.read_once()
    smsc.wait_for(lambda s: s.stats()["receipts_acked"] == 1, what="receipt ack")
    attempts = [(d["message_id"], d["attempt"], d["status"]) for d in smsc.deliveries()]
    assert attempts == [(message_id, 1, 0x08), (message_id, 2, 0)]
    for esme in (sender, receiver):
        esme.unbind()
        esme.disconnect()
