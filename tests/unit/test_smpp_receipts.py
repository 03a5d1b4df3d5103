"""Delivery receipt text, message_state words, and message id normalisation across hex and decimal."""

from __future__ import annotations

import random
import string

import pytest

from mycpaas.smpp.receipts import (
    MessageState,
    ReceiptText,
    message_id_forms,
    normalize_message_id,
    parse_receipt,
    stat_from_state,
)

EMPTY = ReceiptText(None, None, None, None, None, None, None, None)


def test_appendix_b_receipt_with_10_digit_dates() -> None:
    r = parse_receipt(
        "id:1234567890 sub:001 dlvrd:001 submit date:2401311200 done date:2401311201 stat:DELIVRD err:000 "
        "text:Hello world"
    )
    assert r == ReceiptText(
        "1234567890", "DELIVRD", "000", "2401311200", "2401311201", "001", "001", "Hello world"
    )


def test_12_digit_dates_and_any_order() -> None:
    r = parse_receipt("stat:UNDELIV err:001 done date:240131120159 id:abc submit date:240131120000")
    assert (r.message_id, r.stat, r.err) == ("abc", "UNDELIV", "001")
    assert (r.submit_date, r.done_date) == ("240131120000", "240131120159")
    assert r.sub is r.dlvrd is r.text is None


def test_jasmin_format() -> None:
    r = parse_receipt(
        "id:5f0b4c2e-6a41-4d3f-9c1e-2b7a8d9e0f12 submit date:2401311200 done date:2401311201 stat:DELIVRD err:000"
    )
    assert r.message_id == "5f0b4c2e-6a41-4d3f-9c1e-2b7a8d9e0f12"
    assert (r.stat, r.err, r.submit_date, r.done_date) == ("DELIVRD", "000", "2401311200", "2401311201")
    assert r.sub is r.dlvrd is r.text is None


def test_uppercase_keys_and_underscored_dates() -> None:
    r = parse_receipt(
        "ID:77 SUB:1 DLVRD:1 Submit_Date:2401311200 DONE DATE:garbage! STAT:EXPIRED ERR:ff Text:x"
    )
    assert r == ReceiptText("77", "EXPIRED", "ff", "2401311200", "garbage!", "1", "1", "x")


def test_text_takes_the_rest_including_colons_and_keywords() -> None:
    r = parse_receipt("id:9 stat:DELIVRD text:Meet at 10:30 id:fake stat:REJECTD ok")
    assert (r.message_id, r.stat) == ("9", "DELIVRD")
    assert r.text == "Meet at 10:30 id:fake stat:REJECTD ok"


def test_missing_and_empty_input() -> None:
    assert parse_receipt("") == EMPTY
    assert parse_receipt("no receipt here") == EMPTY
    assert parse_receipt("stat:ACCEPTD") == ReceiptText(None, "ACCEPTD", None, None, None, None, None, None)
    assert parse_receipt("id: stat:ENROUTE").message_id == ""


def test_garbage_never_raises() -> None:
    rng = random.Random(11)
    pieces = [
        *string.printable,
        "id:",
        "stat:",
        "text:",
        "submit date:",
        "done date",
        "\x00",
        "é",
        "😀",
        ":",
        " ",
    ]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randrange(40)))
        assert isinstance(parse_receipt(text), ReceiptText)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0001A2B", "1a2b"),
        ("1a2b", "1a2b"),
        ("  00FF\x00\x00", "ff"),
        ("0000", "0"),
        ("0", "0"),
        ("", ""),
        (" \x00 ", ""),
        ("ABC-DEF", "abc-def"),
    ],
)
def test_normalize_message_id(raw: str, expected: str) -> None:
    assert normalize_message_id(raw) == expected


def test_message_id_forms() -> None:
    assert normalize_message_id("0001A2B") == normalize_message_id("1a2b")
    assert message_id_forms("255") == ("255", "ff", "597")  # decimal 255 = 0xff; hex 255 = 597
    assert message_id_forms("00FF") == ("ff", "255")
    assert message_id_forms("0") == ("0",)
    assert message_id_forms("uuid-like-id") == ("uuid-like-id",)
    assert message_id_forms("") == ()
    assert message_id_forms("9" * 200) == ("9" * 200,)  # too long to be a number an SMSC sends


def test_hex_and_decimal_reports_of_one_id_meet() -> None:
    value = 0x1F3A9C4  # one id, reported in hex by submit_sm_resp and in decimal by the receipt
    stored = normalize_message_id(f"{value:010X}")
    assert stored in message_id_forms(str(value))
    stored = normalize_message_id(str(value))
    assert stored in message_id_forms(f"{value:X}")


@pytest.mark.parametrize(
    ("state", "word"),
    [(1, "ENROUTE"), (2, "DELIVRD"), (3, "EXPIRED"), (4, "DELETED"), (5, "UNDELIV"), (6, "ACCEPTD"),
     (7, "UNKNOWN"), (8, "REJECTD"), (0, "UNKNOWN"), (99, "UNKNOWN")],
)  # fmt: skip
def test_stat_from_state(state: int, word: str) -> None:
    assert stat_from_state(state) == word


def test_message_state_values() -> None:
    assert [s.value for s in MessageState] == list(range(1, 9))
    assert stat_from_state(MessageState.DELIVERED) == "DELIVRD"
