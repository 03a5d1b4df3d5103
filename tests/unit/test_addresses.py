"""Parsing To/From values: E.164 numbers (incl. curl's '+' turned into a space), short codes, sender IDs."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from mycpaas.domain.addresses import (
    is_alphanumeric_sender,
    is_nanp,
    national_format,
    parse_e164,
    parse_sender,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+14155552671", "+14155552671"),
        ("+491234567890", "+491234567890"),
        ("  +14155552671  ", "+14155552671"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+1.415.555.2671", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
        # `curl -d To=+491234567890` sends a raw '+', which form decoding turns into a space.
        (" 491234567890", "+491234567890"),
        (" 14155552671", "+14155552671"),
        (" 1 415 555 2671", "+14155552671"),
    ],
)
def test_parse_e164_accepts(raw: str, expected: str) -> None:
    assert parse_e164(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        " ",
        "+",
        "14155552671",  # no '+' and no leading space: not E.164
        "4155552671",
        "+0123456789",  # country codes never start with 0
        "+1415555",  # too short for NANP
        "+1415555267100",  # too long for NANP
        "+4412345678901234",  # longer than 15 digits
        "tel:+14155552671",
        "+1 415 555 2671 ext 5",
        "+1415555267a",
        "MyBrand",
        "12345",
        "whatsapp:+14155552671",
    ],
)
def test_parse_e164_rejects(raw: str) -> None:
    assert parse_e164(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+14155552671", "+14155552671"),
        (" 14155552671", "+14155552671"),  # E.164 wins, with the curl '+' restored
        ("12345", "12345"),  # short codes: 3 to 8 digits
        ("123", "123"),
        ("12345678", "12345678"),
        ("MyBrand", "MyBrand"),  # alphanumeric sender IDs: 1 to 11 letters, digits and spaces
        ("My Brand 1", "My Brand 1"),
        ("A", "A"),
        ("ABCDEFGHIJK", "ABCDEFGHIJK"),
        ("2FA", "2FA"),
        (" MyBrand ", "MyBrand"),
    ],
)
def test_parse_sender_accepts(raw: str, expected: str) -> None:
    assert parse_sender(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12",  # too short for a short code
        "123456789",  # too long for a short code, and not E.164
        "12345678901",  # digits only: neither a short code nor a sender ID
        "ABCDEFGHIJKL",  # 12 characters
        "Hello-World",
        "Brand!",
        "Bränd",  # sender IDs are ASCII
        "١٢٣٤٥",  # Arabic-Indic digits are not a short code
        "+1415555",
    ],
)
def test_parse_sender_rejects(raw: str) -> None:
    assert parse_sender(raw) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("MyBrand", True), ("2FA", True), ("12345", False), ("+14155552671", False), ("Hello-World", False)],
)
def test_is_alphanumeric_sender(value: str, expected: bool) -> None:
    assert is_alphanumeric_sender(value) is expected


def test_is_nanp() -> None:
    assert is_nanp("+14155552671")
    assert not is_nanp("+442079460958")


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+18089255327", "(808) 925-5327"),
        ("+442079460958", "020 7946 0958"),
        ("not a number", "not a number"),
    ],
)
def test_national_format(number: str, expected: str) -> None:
    assert national_format(number) == expected


def test_the_plus_one_shortcut_answers_as_libphonenumber() -> None:
    """parse_e164 answers +1 and ten digits without the library; the library must agree on every such number."""
    rng = random.Random(15)
    numbers = [f"+1{d}{rng.randrange(10**9):09d}" for d in range(10) for _ in range(300)]
    numbers += ["+10000000000", "+19999999999", "+15005550006", "+12125551234"]
    for number in numbers:
        parsed = phonenumbers.parse(number, None)
        assert phonenumbers.is_possible_number(parsed), number
        assert phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) == number
        assert parse_e164(number) == number
