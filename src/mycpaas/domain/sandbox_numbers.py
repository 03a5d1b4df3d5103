"""Twilio's test "magic numbers": errors at the API, the same for every account.

They lie in the 555-0100 block that no real subscriber holds, so code written against Twilio's test
credentials gets the same answers here. The sandbox carrier's own numbers for delivery outcomes live with the
carrier (delivery/carriers/sandbox.py).
"""

from __future__ import annotations

from mycpaas.errors import ErrorCode

MAGIC_VALID_FROM = "+15005550006"

MAGIC_FROM_ERRORS: dict[str, ErrorCode] = {
    "+15005550001": ErrorCode.FROM_INVALID,
    "+15005550007": ErrorCode.FROM_NOT_OWNED,
    "+15005550008": ErrorCode.QUEUE_FULL,
}

MAGIC_TO_ERRORS: dict[str, ErrorCode] = {
    "+15005550001": ErrorCode.TO_INVALID,
    "+15005550002": ErrorCode.TO_UNREACHABLE,
    "+15005550003": ErrorCode.REGION_NOT_ENABLED,
    "+15005550004": ErrorCode.TO_UNSUBSCRIBED,
    "+15005550009": ErrorCode.TO_NOT_MOBILE,
}
