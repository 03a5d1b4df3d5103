"""Phone numbers and sender IDs: parsing what callers send into the forms the platform stores."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

_ALPHANUMERIC_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
_SHORT_CODE = re.compile(r"[0-9]{3,8}")  # ASCII digits only: \d also matches other scripts' digits
_E164_SHAPE = re.compile(r"\+[1-9]\d{1,14}")
# +1 and ten ASCII digits: libphonenumber finds every such number possible and formats it unchanged
# (tests/unit/test_addresses.py checks it against the library); the library's parse was 2.5% of the API
# process under bench/http_create.py, whose destinations, as real ones, rarely repeat (py-spy, 2026-12-07).
_NANP = re.compile(r"\+1[0-9]{10}")


def _undo_form_plus(value: str) -> str:
    """`curl -d To=+49...` sends a raw `+`, which form decoding turns into a space. Restore it."""
    stripped = value.strip()
    if value.startswith(" ") and stripped[:1].isdigit():
        return "+" + stripped
    return stripped


@lru_cache(maxsize=65536)
def parse_e164(value: str) -> str | None:
    """Return the E.164 form of `value`, or None if it is not a possible phone number.

    Cached: libphonenumber's parse costs tens of microseconds, and senders and recipients repeat."""
    candidate = _undo_form_plus(value)
    candidate = re.sub(r"[\s().-]", "", candidate)
    if _NANP.fullmatch(candidate):
        return candidate
    if not _E164_SHAPE.fullmatch(candidate):
        return None
    try:
        parsed = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def parse_sender(value: str) -> str | None:
    """A sender may be an E.164 number, a short code or an alphanumeric sender ID."""
    number = parse_e164(value)
    if number:
        return number
    candidate = value.strip()
    if _SHORT_CODE.fullmatch(candidate) or _ALPHANUMERIC_SENDER.fullmatch(candidate):
        return candidate
    return None


def is_alphanumeric_sender(value: str) -> bool:
    return bool(_ALPHANUMERIC_SENDER.fullmatch(value)) and not _SHORT_CODE.fullmatch(value)


def is_nanp(number: str) -> bool:
    return number.startswith("+1")


def national_format(number: str) -> str:
    """The friendly name Twilio gives a number by default, e.g. "(808) 925-5327"."""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse(number, None), phonenumbers.PhoneNumberFormat.NATIONAL
        )
    except phonenumbers.NumberParseException:
        return number


@lru_cache(maxsize=4096)
def region_of(number: str) -> str:
    """The ISO country of an E.164 number ("US"), or "" for short codes, sender IDs and unknown numbers."""
    if not number.startswith("+"):
        return ""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return ""
    # A number outside any assigned range still has a country code; its main country is the best guess.
    region = phonenumbers.region_code_for_number(parsed) or phonenumbers.region_code_for_country_code(
        parsed.country_code or 0
    )
    return region if region and region != "ZZ" else ""
