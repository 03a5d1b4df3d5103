"""Time as the platform stores it: naive datetimes in UTC (the same on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def as_utc(value: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def rfc2822(value: datetime) -> str:
    """Twilio's date format: RFC 2822 in GMT with a +0000 offset (never "GMT", never locale-dependent)."""
    return format_datetime(as_utc(value).replace(tzinfo=UTC))
