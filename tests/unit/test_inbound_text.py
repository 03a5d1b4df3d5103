"""The text of an inbound message from its parts (domain/alphabets.assemble) and the fingerprint that tells a
redelivered deliver_sm from a new one (delivery/carriers/smpp.fingerprint)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from mycpaas.delivery.carriers.smpp import fingerprint
from mycpaas.domain.alphabets import assemble, decode
from mycpaas.smpp.encoding import DataCoding, encode
from mycpaas.smpp.pdu import Command, Pdu, PduError, Tag, int_tlv
from mycpaas.smpp.pdu import decode as pdu_decode

GSM, UCS2 = int(DataCoding.SMSC_DEFAULT), int(DataCoding.UCS2)


@pytest.mark.parametrize(
    ("text", "coding", "cut"),
    [
        ("x" * 152 + "€ and more", GSM, 153),  # part 1 ends with the escape
        ("{" * 80, GSM, 1),  # every cut inside an escape pair
        ("y" * 66 + "😀 tail", UCS2, 134),  # part 1 ends with the high surrogate
        ("😀" * 3, UCS2, 3),  # a cut inside a code unit, even
    ],
)
def test_parts_cut_inside_a_pair_read_whole_once_joined(text: str, coding: int, cut: int) -> None:
    data = encode(text, DataCoding(coding))
    first, second = data[:cut], data[cut:]
    assert decode(first, coding) + decode(second, coding) != text  # what decoding each part alone gave
    for at in range(len(data) + 1):  # wherever the parts are cut, and into three as well
        assert assemble([(data[:at], coding), (data[at:], coding)]) == text, at
        assert assemble([(data[:at], coding), (data[at : at + 3], coding), (data[at + 3 :], coding)]) == text


def test_runs_break_at_a_change_of_alphabet_a_missing_part_and_text_kept_from_before() -> None:
    gsm_tail = encode("x" * 3, DataCoding.SMSC_DEFAULT) + b"\x1b"
    wide = "ü😀".encode("utf-16-be")
    assert assemble([(gsm_tail, GSM), (wide, UCS2)]) == "xxx ü😀"  # a dangling escape is a space (23.038)
    assert assemble([(b"\x1b", GSM), None, (b"\x65", GSM)]) == " e"  # nothing joins across a gap
    assert assemble(["kept as text, ", (b"\x1b\x65", GSM)]) == "kept as text, €"
    assert assemble([(b"a\x00b", 3), ("\x00".encode("utf-16-be"), UCS2)]) == "ab"  # NUL padding is dropped
    assert assemble([(b"\x1b", 0xF0), (b"\x3c", 0)]) == "["  # one alphabet (gsm7) across two data_codings


def deliver_sm(sequence: int, **tlvs: bytes) -> Pdu:
    fields: dict[str, int | str | bytes] = {
        "source_addr": "447700900555",
        "destination_addr": "15005550006",
        "source_addr_ton": 1,
        "esm_class": 0x40,
        "data_coding": 0,
        "short_message": bytes((5, 0, 3, 7, 2, 1)) + b"Hello",
    }
    return Pdu(Command.DELIVER_SM, sequence, 0, fields, {int(Tag[k]): v for k, v in tlvs.items()})


def test_a_fingerprint_ignores_the_sequence_number_and_tlv_order_but_nothing_else() -> None:
    account = "test@127.0.0.1:2775"
    base = fingerprint(account, deliver_sm(1))
    assert fingerprint(account, deliver_sm(99)) == base  # redelivered with another sequence number
    a = deliver_sm(1, SAR_MSG_REF_NUM=int_tlv(7, 2), SAR_TOTAL_SEGMENTS=int_tlv(2, 1))
    b = deliver_sm(2, SAR_TOTAL_SEGMENTS=int_tlv(2, 1), SAR_MSG_REF_NUM=int_tlv(7, 2))
    assert fingerprint(account, a) == fingerprint(account, b)
    assert fingerprint("other@127.0.0.1:2775", deliver_sm(1)) != base  # another SMSC account
    honest = deliver_sm(1)
    honest.tlvs[0x0204] = int_tlv(8, 2)  # user_message_reference: the handset's TP-MR
    assert fingerprint(account, honest) != base
    for name, value in [("source_addr", "447700900556"), ("data_coding", 8), ("esm_class", 0)]:
        changed = deliver_sm(1)
        changed.fields[name] = value
        assert fingerprint(account, changed) != base, name
    other_part = deliver_sm(1)
    other_part.fields["short_message"] = bytes((5, 0, 3, 7, 2, 2)) + b"Hello"
    assert fingerprint(account, other_part) != base


@given(st.binary(max_size=300))
@example(bytes(16) + b"\xff" + b"x" * 255)  # a 255-octet short_message: decodes, but our encoder refuses it
def test_every_deliver_sm_that_decodes_has_a_fingerprint(body: bytes) -> None:
    """A fingerprint that raised would refuse the MO, and the SMSC would deliver it again for ever."""
    data = struct.pack(">IIII", 16 + len(body), Command.DELIVER_SM, 0, 1) + body
    try:
        pdu = pdu_decode(data)
    except PduError:
        return
    assert len(fingerprint("test@127.0.0.1:2775", pdu)) == 64
