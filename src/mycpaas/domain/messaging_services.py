"""A Messaging Service (MG…): a pool of senders with its own inbound and status settings, as Twilio's
Messaging v1 API describes it; and the rules its settings and alpha senders follow.

Settings come as Twilio's form parameters (`StickySender=true`, `InboundRequestUrl=…`): the API and the
dashboard both hand them to `parse_settings`, so the two cannot accept different things.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from mycpaas.domain.urls import callback_url_problem
from mycpaas.errors import ErrorCode, InvalidRequest

USECASES = ("notifications", "marketing", "verification", "discussion", "poll", "undeclared")
SCAN_MESSAGE_CONTENT = ("inherit", "enable", "disable")
VALIDITY_PERIOD_MIN, VALIDITY_PERIOD_MAX = 1, 36000  # seconds; Twilio's default is the maximum


@dataclass(slots=True)
class MessagingService:
    sid: str
    account_sid: str
    friendly_name: str
    inbound_request_url: str | None
    inbound_method: str
    fallback_url: str | None
    fallback_method: str
    status_callback: str | None
    sticky_sender: bool
    mms_converter: bool
    smart_encoding: bool
    scan_message_content: str
    fallback_to_long_code: bool
    area_code_geomatch: bool
    validity_period: int
    synchronous_validation: bool
    usecase: str
    use_inbound_webhook_on_number: bool
    created_at: datetime
    updated_at: datetime


def new_service(sid: str, account_sid: str, friendly_name: str, now: datetime) -> MessagingService:
    """A service with Twilio's defaults: sticky sender, geomatch, smart encoding and the MMS converter on."""
    return MessagingService(
        sid=sid,
        account_sid=account_sid,
        friendly_name=friendly_name,
        inbound_request_url=None,
        inbound_method="POST",
        fallback_url=None,
        fallback_method="POST",
        status_callback=None,
        sticky_sender=True,
        mms_converter=True,
        smart_encoding=True,
        scan_message_content="inherit",
        fallback_to_long_code=False,
        area_code_geomatch=True,
        validity_period=VALIDITY_PERIOD_MAX,
        synchronous_validation=False,
        usecase="undeclared",
        use_inbound_webhook_on_number=False,
        created_at=now,
        updated_at=now,
    )


@dataclass(frozen=True, slots=True)
class PoolNumber:
    """A phone number in a service's pool: the number's own sid (PN…) and E.164 address."""

    sid: str
    account_sid: str
    service_sid: str
    phone_number: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AlphaSender:
    sid: str
    account_sid: str
    service_sid: str
    alpha_sender: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ServicePool:
    """A service with every sender it may send from: what choosing a sender needs, read in one go."""

    service: MessagingService
    numbers: tuple[PoolNumber, ...]
    alpha_sender: AlphaSender | None


@dataclass(frozen=True, slots=True)
class StickySender:
    """Which pool number served a destination last (sticky sender): what the dashboard shows of a service."""

    to_number: str
    phone_number_sid: str
    phone_number: str
    last_used_at: datetime


# Form parameter -> (field, kind). Kinds: url (None when empty), method, bool, int, or a tuple of choices.
SETTINGS: dict[str, tuple[str, str | tuple[str, ...]]] = {
    "InboundRequestUrl": ("inbound_request_url", "url"),
    "InboundMethod": ("inbound_method", "method"),
    "FallbackUrl": ("fallback_url", "url"),
    "FallbackMethod": ("fallback_method", "method"),
    "StatusCallback": ("status_callback", "url"),
    "StickySender": ("sticky_sender", "bool"),
    "MmsConverter": ("mms_converter", "bool"),
    "SmartEncoding": ("smart_encoding", "bool"),
    "ScanMessageContent": ("scan_message_content", SCAN_MESSAGE_CONTENT),
    "FallbackToLongCode": ("fallback_to_long_code", "bool"),
    "AreaCodeGeomatch": ("area_code_geomatch", "bool"),
    "ValidityPeriod": ("validity_period", "int"),
    "SynchronousValidation": ("synchronous_validation", "bool"),
    "Usecase": ("usecase", USECASES),
    "UseInboundWebhookOnNumber": ("use_inbound_webhook_on_number", "bool"),
}


def _value(param: str, raw: str, kind: str | tuple[str, ...]) -> object:
    text = raw.strip()
    if isinstance(kind, tuple):
        if text.lower() not in kind:
            raise InvalidRequest(
                ErrorCode.INVALID_PARAMETER, reason=f"{param} must be one of {', '.join(kind)}"
            )
        return text.lower()
    if kind == "url":
        if text and (problem := callback_url_problem(text)):
            raise InvalidRequest(ErrorCode.INVALID_URL, param=param, reason=problem)
        return text or None
    if kind == "method":
        method = text.upper() or "POST"
        if method not in ("GET", "POST"):
            raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason=f"{param} must be GET or POST")
        return method
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason=f"{param} must be true or false")
        return text.lower() == "true"
    if not re.fullmatch(r"[0-9]{1,6}", text) or not VALIDITY_PERIOD_MIN <= int(text) <= VALIDITY_PERIOD_MAX:
        raise InvalidRequest(ErrorCode.VALIDITY_PERIOD_INVALID)
    return int(text)


def parse_settings(params: Mapping[str, str]) -> dict[str, object]:
    """The service fields that `params` (Twilio's form names) set; a bad value is a 400 naming the parameter.

    FriendlyName is the caller's to check (its rule is the account-wide one)."""
    return {
        field: _value(param, params[param], kind)
        for param, (field, kind) in SETTINGS.items()
        if param in params
    }


_ALPHA = re.compile(r"[A-Za-z0-9 +\-_&]{1,11}")


def alpha_sender_problem(value: str) -> str | None:
    """Why `value` is not an alphanumeric sender ID as Twilio takes one: 1–11 of A–Z, a–z, 0–9, space, `-`,
    `+`, `_`, `&`, and not digits only (a string of digits is a phone number or short code)."""
    if not _ALPHA.fullmatch(value):
        return "AlphaSender must be 1 to 11 letters, digits, spaces or any of - + _ &"
    if not any(c.isalpha() for c in value):
        return "AlphaSender must contain at least one letter"
    return None
