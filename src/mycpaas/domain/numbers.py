"""A phone number owned by an account, and where its inbound messages go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(slots=True)
class IncomingNumber:
    sid: str
    account_sid: str
    phone_number: str
    friendly_name: str
    sms_url: str
    sms_method: str
    sms_fallback_url: str
    sms_fallback_method: str
    status_callback: str
    status_callback_method: str
    voice_url: str | None
    voice_method: str
    voice_fallback_url: str | None
    voice_fallback_method: str
    voice_caller_id_lookup: bool
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True, frozen=True)
class NumberOwner:
    """What sending from a number needs to know of it: whose it is (Twilio's 21606) and its StatusCallback."""

    account_sid: str
    status_callback: str
