"""What kind of sender a From is, since carriers limit each kind to its own rate (Twilio's rules: a long
code 1 message per second, toll-free 3, a short code 100)."""

from __future__ import annotations

TOLL_FREE_AREA_CODES = frozenset({"800", "833", "844", "855", "866", "877", "888"})


def sender_kind(from_number: str) -> str:
    """One of "long_code", "toll_free", "short_code", "alphanumeric"."""
    digits = from_number.removeprefix("+")
    if not digits.isdigit():
        return "alphanumeric"
    if not from_number.startswith("+") and len(digits) <= 8:
        return "short_code"
    if digits.startswith("1") and digits[1:4] in TOLL_FREE_AREA_CODES:
        return "toll_free"
    return "long_code"
