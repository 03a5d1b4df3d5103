"""Resource identifiers: a two-letter prefix and 32 lowercase hex digits. The only place prefixes live."""

from __future__ import annotations

import re
import secrets
from enum import StrEnum


class Prefix(StrEnum):
    ACCOUNT = "AC"
    MESSAGE = "SM"
    PHONE_NUMBER = "PN"
    API_KEY = "SK"
    MEDIA = "ME"
    MESSAGING_SERVICE = "MG"
    ALPHA_SENDER = "AI"  # a Messaging Service's alphanumeric sender ID
    NOTIFICATION = "NO"  # a webhook attempt record


_SID = re.compile(r"(?P<prefix>[A-Z]{2})[0-9a-fA-F]{32}")


def new_sid(prefix: Prefix) -> str:
    return f"{prefix}{secrets.token_hex(16)}"


def is_sid(value: str, prefix: Prefix) -> bool:
    match = _SID.fullmatch(value)  # not .match: see tests/unit/test_trailing_newline.py
    return match is not None and match.group("prefix") == prefix.value
