"""Scheduled messages (`ScheduleType=fixed` with `SendAt`): the request's scheduling parameters checked against
Twilio's rules and window. Pure: the caller gives the clock and the minimum lead (a setting, so tests need not
wait Twilio's five minutes)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from mycpaas.domain.clock import as_utc
from mycpaas.errors import ErrorCode, InvalidRequest

SCHEDULE_TYPES = ("fixed",)
MAX_LEAD = timedelta(days=35)  # Twilio's: 3,024,000 seconds
DEFAULT_MIN_LEAD_SECONDS = 300.0  # Twilio's: SendAt at least 5 minutes after the request


# ISO 8601's extended form: a date, optionally a time (seconds and fraction optional) and Z or an offset.
_ISO_8601 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?)?"
)


def parse_send_at(raw: str) -> datetime | None:
    """An ISO 8601 timestamp (`2026-01-02T03:04:05Z`, an offset, or none for UTC) as naive UTC; None if it
    is not one. Twilio asks for `YYYY-MM-DDTHH:MM:SSZ`; twilio-python and twilio-node send exactly that.
    The pattern comes first: `datetime.fromisoformat` alone also takes week dates and the basic form. A time
    whose UTC falls outside datetime's years 1-9999 (`0001-01-01T00:00:00+01:00`) is none either."""
    text = raw.strip()
    if not _ISO_8601.fullmatch(text):
        return None
    try:
        return as_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        return None


def requested_send_time(
    schedule_type: str | None, send_at: str | None, has_service: bool, now: datetime, min_lead_seconds: float
) -> datetime | None:
    """When a message should go: None to send it now, else SendAt, checked in Twilio's order.

    SendAt without ScheduleType schedules nothing (ScheduleType is how a request says it means to schedule),
    as at Twilio. Codes: an unknown ScheduleType 20422; SendAt missing 35111; no Messaging Service 35118;
    SendAt not ISO 8601, in the past or sooner than the minimum lead 35114; more than 35 days ahead 35115."""
    if not schedule_type:
        return None
    if schedule_type not in SCHEDULE_TYPES:
        raise InvalidRequest(
            ErrorCode.INVALID_PARAMETER, reason=f"ScheduleType must be one of {', '.join(SCHEDULE_TYPES)}"
        )
    if not (send_at or "").strip():
        raise InvalidRequest(ErrorCode.SEND_AT_MISSING)
    if not has_service:
        raise InvalidRequest(ErrorCode.SCHEDULING_REQUIRES_SERVICE)
    when = parse_send_at(send_at or "")
    if when is None:
        raise InvalidRequest(
            ErrorCode.SEND_AT_NOT_SUPPORTED, reason="SendAt must be an ISO 8601 time, YYYY-MM-DDTHH:MM:SSZ"
        )
    if when < now + timedelta(seconds=min_lead_seconds):
        raise InvalidRequest(
            ErrorCode.SEND_AT_NOT_SUPPORTED,
            reason=f"SendAt must be at least {min_lead_seconds:g} seconds in the future",
        )
    if when > now + MAX_LEAD:
        raise InvalidRequest(
            ErrorCode.SEND_AT_TOO_FAR, reason="SendAt must be at most 35 days (3024000 seconds) in the future"
        )
    return when
