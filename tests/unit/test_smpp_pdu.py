"""The PDU codec against an independent one (smpplib, LGPL, test-only): what we encode, smpplib reads the
same; what smpplib encodes, we read the same; and no byte string makes the decoder raise anything but
PduError."""

from __future__ import annotations

import contextlib
import random

import pytest
import smpplib.smpp

from mycpaas.smpp.pdu import Command, Pdu, PduError, Status, Tag, decode, int_tlv, response_to


class _Client:
    def next_sequence(self) -> int:
        return 42


def _smpplib(data: bytes) -> object:
    return smpplib.smpp.parse_pdu(data, client=_Client())


def test_submit_sm_reads_the_same_in_smpplib() -> None:
    pdu = Pdu(
        Command.SUBMIT_SM,
        9,
        fields={
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": "15005550006",
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": "447700900123",
            "esm_class": 0x40,
            "registered_delivery": 1,
            "data_coding": 8,
            "validity_period": "000001000000000R",
            "short_message": bytes((5, 0, 3, 7, 2, 1)) + "hé😀".encode("utf-16-be"),
        },
        tlvs={Tag.SAR_MSG_REF_NUM: int_tlv(7, 2)},
    )
    theirs = _smpplib(pdu.encode())
    assert theirs.command == "submit_sm"  # type: ignore[attr-defined]
    assert theirs.sequence == 9  # type: ignore[attr-defined]
    assert theirs.source_addr == b"15005550006"  # type: ignore[attr-defined]
    assert theirs.destination_addr == b"447700900123"  # type: ignore[attr-defined]
    assert theirs.esm_class == 0x40 and theirs.data_coding == 8  # type: ignore[attr-defined]
    assert theirs.registered_delivery == 1  # type: ignore[attr-defined]
    assert theirs.validity_period == b"000001000000000R"  # type: ignore[attr-defined]
    assert theirs.short_message == pdu.fields["short_message"]  # type: ignore[attr-defined]
    assert theirs.sar_msg_ref_num == 7  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", ["bind_transceiver", "bind_transmitter", "bind_receiver"])
def test_binds_read_the_same_in_smpplib(command: str) -> None:
    pdu = Pdu(
        getattr(Command, command.upper()),
        1,
        fields={"system_id": "test", "password": "secret", "system_type": "VMA", "interface_version": 0x34},
    )
    theirs = _smpplib(pdu.encode())
    assert theirs.command == command  # type: ignore[attr-defined]
    assert (theirs.system_id, theirs.password, theirs.system_type) == (b"test", b"secret", b"VMA")  # type: ignore[attr-defined]
    assert theirs.interface_version == 0x34  # type: ignore[attr-defined]


def test_we_read_what_smpplib_writes() -> None:
    made = smpplib.smpp.make_pdu(
        "deliver_sm",
        client=_Client(),
        source_addr="447700900123",
        destination_addr="15005550006",
        esm_class=0x04,
        data_coding=0,
        short_message=b"id:1A2B sub:001 dlvrd:001 stat:DELIVRD err:000",
        receipted_message_id="1A2B",
        message_state=2,
    )
    ours = decode(made.generate())
    assert ours.command == Command.DELIVER_SM and ours.sequence == 42
    assert ours.text("source_addr") == "447700900123"
    assert ours.number("esm_class") == 0x04
    assert ours.octets("short_message").startswith(b"id:1A2B")
    assert ours.tlv_text(Tag.RECEIPTED_MESSAGE_ID) == "1A2B"
    assert ours.tlv_int(Tag.MESSAGE_STATE) == 2


def test_responses() -> None:
    request = Pdu(Command.DELIVER_SM, 77)
    ack = decode(response_to(request, message_id="").encode())
    assert (ack.command, ack.sequence, ack.status) == (Command.DELIVER_SM_RESP, 77, 0)
    theirs = _smpplib(response_to(request, Status.RX_T_APPN).encode())
    assert theirs.command == "deliver_sm_resp" and theirs.status == Status.RX_T_APPN  # type: ignore[attr-defined]
    # An error response may come without a body; that is not malformed.
    bare = decode(bytes.fromhex("00000010800000040000005800000003"))
    assert bare.command == Command.SUBMIT_SM_RESP and bare.status == Status.RTHROTTLED
    # A request with no response of its own gets a generic_nack.
    assert response_to(Pdu(0x00000999, 5), Status.RINVCMDID).command == Command.GENERIC_NACK
    enquire = response_to(Pdu(Command.ENQUIRE_LINK, 3)).encode()
    assert enquire == bytes.fromhex("00000010800000150000000000000003")


@pytest.mark.parametrize(
    ("hexdata", "problem"),
    [
        ("0000000800000004", "shorter than a header"),
        ("0000000f000000040000000000000001", "out of range"),
        ("0000001500000004000000000000000100000000", "does not match"),
        ("00000014800000040000000000000001616263", "not NUL-terminated|does not match"),
        ("0000001480000004000000000000000100021000", "truncated TLV"),
        ("000000168000000400000000000000010002100005ff", "overruns"),
    ],
)
def test_malformed_pdus_raise_pdu_error(hexdata: str, problem: str) -> None:
    with pytest.raises(PduError, match=problem):
        decode(bytes.fromhex(hexdata))


def test_random_bytes_raise_only_pdu_error() -> None:
    rng = random.Random(5)
    valid = Pdu(Command.SUBMIT_SM, 1, fields={"destination_addr": "1", "short_message": b"x" * 40}).encode()
    for _ in range(3000):
        data = bytearray(valid)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        with contextlib.suppress(PduError):
            decode(bytes(data))


def test_encoding_refuses_fields_that_do_not_fit() -> None:
    with pytest.raises(PduError, match="system_id"):
        Pdu(Command.BIND_TRANSCEIVER, 1, fields={"system_id": "x" * 16}).encode()
    with pytest.raises(PduError, match="short_message"):
        Pdu(Command.SUBMIT_SM, 1, fields={"short_message": b"x" * 255}).encode()
