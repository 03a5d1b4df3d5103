"""GSM 03.38 / Latin-1 / UCS-2 codec for short_message, checked against smpplib's GSM table as an outside view."""

from __future__ import annotations

import random
from typing import Literal

import pytest
from smpplib import consts, gsm

from mycpaas.domain.segments import GSM7_BASIC, GSM7_EXTENSION
from mycpaas.smpp.encoding import GSM7_EXTENSION_TABLE, GSM7_TABLE, DataCoding, choose, decode, encode

ALL_GSM = "".join(ch for ch in GSM7_TABLE if ch != "\x1b") + "".join(GSM7_EXTENSION_TABLE.values())
# smpplib's table has '`' where 23.038 has '§' (0x5F) and lacks the form feed (escape 0x0A).
SMPPLIB_AGREES = [ch for ch in ALL_GSM if ch not in "§\f"]


def test_tables_agree_with_the_segment_counter() -> None:
    assert len(GSM7_TABLE) == 128 and GSM7_TABLE[0x1B] == "\x1b"
    assert frozenset(GSM7_TABLE) - {"\x1b"} == GSM7_BASIC
    assert frozenset(GSM7_EXTENSION_TABLE.values()) == GSM7_EXTENSION
    assert len(GSM7_EXTENSION_TABLE) == len(GSM7_EXTENSION) == 10


def test_data_coding_values_match_smpp_3_4() -> None:
    assert DataCoding.SMSC_DEFAULT == consts.SMPP_ENCODING_DEFAULT
    assert DataCoding.IA5 == consts.SMPP_ENCODING_IA5
    assert DataCoding.LATIN1 == consts.SMPP_ENCODING_ISO88591
    assert DataCoding.UCS2 == consts.SMPP_ENCODING_ISO10646
    assert {DataCoding.BINARY, DataCoding.BINARY_ALT} == {
        consts.SMPP_ENCODING_BINARY,
        consts.SMPP_ENCODING_BINARY2,
    }


@pytest.mark.parametrize("ch", list(ALL_GSM))
def test_every_gsm_character_round_trips(ch: str) -> None:
    data = encode(ch, DataCoding.SMSC_DEFAULT)
    assert len(data) == (2 if ch in GSM7_EXTENSION else 1)
    assert all(b < 0x80 for b in data)
    assert decode(data, 0) == ch


@pytest.mark.parametrize("ch", SMPPLIB_AGREES)
def test_gsm_bytes_agree_with_smpplib(ch: str) -> None:
    assert encode(ch, DataCoding.SMSC_DEFAULT) == gsm.gsm_encode(ch)
    assert decode(gsm.gsm_encode(ch), 0) == ch


def test_whole_alphabet_round_trips_as_one_string() -> None:
    text = ALL_GSM * 3
    assert decode(encode(text, DataCoding.SMSC_DEFAULT), DataCoding.SMSC_DEFAULT) == text
    assert encode("€[a]", DataCoding.SMSC_DEFAULT) == b"\x1b\x65\x1b\x3ca\x1b\x3e"


@pytest.mark.parametrize("ch", ["ç", "`", "\t", "ж", "😀", "’"])
def test_gsm_encoding_refuses_what_gsm_lacks(ch: str) -> None:
    with pytest.raises(ValueError):
        encode("ok" + ch, DataCoding.SMSC_DEFAULT)


def test_gsm_decoding_tolerates_carrier_oddities() -> None:
    assert decode(b"\x1b\x41", 0) == "A"  # undefined escape: the basic character
    assert decode(b"a\x1b", 0) == "a "  # lone trailing escape: a space
    assert decode(b"\x1b\x1bz", 0) == " z"  # escape to an undefined further table: a space
    assert decode(b"a\xffb\x1b\x90", 0) == "a?b?"  # octets outside the 7-bit range


@pytest.mark.parametrize("coding", [0xF0, 0xF1, 0xF2, 0xF3])
def test_message_class_codings_decode_as_gsm(coding: int) -> None:
    assert decode(encode("Hi €", DataCoding.SMSC_DEFAULT), coding) == "Hi €"


@pytest.mark.parametrize("coding", [2, 4, 0xF4, 0xF5, 0xF6, 0xF7])
def test_eight_bit_codings_decode_octet_for_octet(coding: int) -> None:
    assert decode(bytes(range(256)), coding) == bytes(range(256)).decode("latin-1")


def test_ia5_latin1_and_unknown_codings() -> None:
    assert decode(b"hello", 1) == "hello"
    assert decode("café".encode("latin-1"), 3) == "café"
    assert decode(b"\xe9\x00", 0x42) == "é\x00"
    assert encode("café", DataCoding.LATIN1) == b"caf\xe9"
    assert encode("hi", DataCoding.IA5) == b"hi"
    with pytest.raises(ValueError):
        encode("café", DataCoding.IA5)
    with pytest.raises(ValueError):
        encode("hi", DataCoding.BINARY)


def test_ucs2_round_trip_and_damage() -> None:
    text = "Привет 😀 中文"
    data = encode(text, DataCoding.UCS2)
    assert data == text.encode("utf-16-be")
    assert decode(data, 8) == text
    assert decode(data + b"\x00", 8) == text  # odd trailing byte dropped
    assert decode(b"\xd8\x3d\x00a", 8) == "\ufffda"  # high surrogate without its low half
    assert decode(b"\xdc\x00\x00a", 8) == "\ufffda"  # low surrogate alone
    assert decode(b"\x00a\xd8\x3d", 8) == "a\ufffd"  # truncated pair at the end
    assert decode(b"", 8) == ""


def test_decode_never_raises() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(12)))
        assert isinstance(decode(data, rng.randrange(256)), str)


@pytest.mark.parametrize(
    ("text", "preferred", "expected"),
    [
        ("hello {world}", "gsm7", DataCoding.SMSC_DEFAULT),
        ("hello {world}", "ucs2", DataCoding.UCS2),
        ("hello {world}", "latin1", DataCoding.LATIN1),
        ("ΔΣ in GSM only", "latin1", DataCoding.UCS2),
        ("ΔΣ in GSM only", "gsm7", DataCoding.SMSC_DEFAULT),
        ("façade", "latin1", DataCoding.LATIN1),
        ("façade", "gsm7", DataCoding.UCS2),
        ("façade", "ucs2", DataCoding.UCS2),
        ("€ and ç", "latin1", DataCoding.UCS2),
        ("😀", "latin1", DataCoding.UCS2),
        ("😀", "gsm7", DataCoding.UCS2),
    ],
)
def test_choose(text: str, preferred: Literal["gsm7", "latin1", "ucs2"], expected: DataCoding) -> None:
    assert choose(text, preferred) is expected
    encode(text, expected)  # the chosen coding always encodes
