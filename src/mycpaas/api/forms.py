"""Twilio form fields -> typed values: booleans, phone-number filters and DateSent filters."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from mycpaas.api.http import MultiDict
from mycpaas.domain.addresses import parse_sender
from mycpaas.domain.clock import as_utc
from mycpaas.domain.messages import MessageFilter, MessageStatus
from mycpaas.errors import ErrorCode, InvalidRequest

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_US_DATETIME = re.compile(r"(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2})(?: ([A-Z]{3}))?")
_US_ZONES = {
    "UTC": 0,
    "GMT": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
}


def boolean(form: MultiDict, name: str) -> bool:
    return (form.get(name) or "").strip().lower() == "true"


def _invalid(name: str, value: str) -> InvalidRequest:
    return InvalidRequest(ErrorCode.INVALID_PARAMETER, reason=f"{name} is not a valid date: {value[:64]}")


def _parse_moment(name: str, raw: str) -> tuple[datetime, bool]:
    """(UTC datetime, whether only a date was given).

    Every parser here raises ValueError for an impossible date (2026-02-30, year 0, month 13) and
    OverflowError when a time zone shifts a moment past year 1 or 9999: both are the client's mistake.
    """
    value = raw.strip()
    try:
        return _parse(value)
    except (ValueError, OverflowError, TypeError, IndexError):
        raise _invalid(name, value) from None


def _parse(value: str) -> tuple[datetime, bool]:
    if _DATE_ONLY.fullmatch(value):
        return datetime.strptime(value, "%Y-%m-%d"), True
    try:
        return as_utc(datetime.fromisoformat(value.replace("Z", "+00:00"))), False
    except ValueError:
        pass
    if match := _US_DATETIME.fullmatch(value):
        month, day, year, hour, minute, second, zone = match.groups()
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
        return moment - timedelta(hours=_US_ZONES.get(zone or "UTC", 0)), False
    return as_utc(parsedate_to_datetime(value)), False


def _end(moment: datetime, step: timedelta) -> datetime | None:
    """`moment + step` as an exclusive upper bound, or None (no bound) past 9999-12-31, the last day a
    datetime holds: "before the end of 9999-12-31" is every message."""
    try:
        return moment + step
    except OverflowError:
        return None


def message_filter(query: MultiDict) -> tuple[MessageFilter, list[tuple[str, str]]]:
    """The filter to apply, and the filter parameters to echo in page URIs (in a stable order)."""
    where = MessageFilter()
    echoed: list[tuple[str, str]] = []
    for name in ("To", "From"):
        raw = query.get(name)
        if raw:
            value = parse_sender(raw) or raw.strip()
            setattr(where, "to_number" if name == "To" else "from_number", value)
            echoed.append((name, value))
    day = query.get("DateSent")
    if day:
        moment, date_only = _parse_moment("DateSent", day)
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0) if date_only else moment
        where.sent_at_or_after = start
        where.sent_before = _end(start, timedelta(days=1) if date_only else timedelta(seconds=1))
        echoed.append(("DateSent", day))
    after = query.get("DateSent>")
    if after:
        moment, _ = _parse_moment("DateSent>", after)
        where.sent_at_or_after = max(where.sent_at_or_after or moment, moment)
        echoed.append(("DateSent>", after))
    before = query.get("DateSent<")
    if before:
        moment, date_only = _parse_moment("DateSent<", before)
        step = timedelta(days=1) if date_only else timedelta(microseconds=1)
        end = _end(moment, step)
        if end is not None:
            where.sent_before = min(where.sent_before or end, end)
        echoed.append(("DateSent<", before))
    status = (query.get("Status") or "").strip()
    if status:  # SignalWire's extension; Twilio has no such filter
        if status not in MessageStatus.__members__.values():
            names = ", ".join(MessageStatus)
            raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason=f"Status must be one of {names}")
        where.status = MessageStatus(status)
        echoed.append(("Status", status))
    return where, echoed
