"""The overview's figures, from pre-aggregated hourly counts: what the charts and their tables show.

Pure: the counts come from storage/message_counts.py through services/overview.py; nothing here reads a
database or knows of HTML. Every message is shown under its final status, or under one of two groups while it
has none: `in flight` (not handed to the carrier yet, or being received) and `sent` (accepted by the carrier,
no receipt yet).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# The series of the charts, in stacking order; every status a message can have falls in exactly one.
SERIES: tuple[str, ...] = ("delivered", "received", "sent", "in flight", "undelivered", "failed", "canceled")
_SERIES_OF = {
    "delivered": "delivered",
    "read": "delivered",
    "received": "received",
    "sent": "sent",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "canceled",
}
_DELIVERY_OUTCOMES = ("delivered", "undelivered", "failed")


def series_of(status: str) -> str:
    """The chart series a message status is counted under (accepted, scheduled, queued, sending, receiving:
    in flight)."""
    return _SERIES_OF.get(status, "in flight")


@dataclass(frozen=True, slots=True)
class Count:
    """One row of the counts: messages created in `hour` that now have `status` and `error_code` (0: none)."""

    hour: datetime
    status: str
    error_code: int
    messages: int
    segments: int


@dataclass(frozen=True, slots=True)
class Bucket:
    """One bar: messages created from `start` on (an hour or a day), by series."""

    start: datetime
    by_series: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_series.values())


@dataclass(frozen=True, slots=True)
class ErrorCount:
    code: int
    meaning: str
    messages: int


@dataclass(frozen=True, slots=True)
class Link:
    """A connector's link as the overview shows it: up while at least one bind is up."""

    name: str
    enabled: bool
    binds_up: int
    max_binds: int

    @property
    def up(self) -> bool:
        return self.enabled and self.binds_up > 0


@dataclass(frozen=True, slots=True)
class Overview:
    hours: list[Bucket]  # the last 24 hours, oldest first, the current one last
    days: list[Bucket]  # the last 30 days (UTC), oldest first, today last
    messages: int  # over the 30 days
    segments: int
    delivery_rate: float | None  # delivered / (delivered + undelivered + failed), 30 days; None: no outcome
    errors: list[ErrorCount]  # the most frequent error codes over the 30 days
    webhook_attempts: dict[str, int] = field(default_factory=dict)  # by outcome, 30 days
    links: list[Link] = field(default_factory=list)

    @property
    def webhook_success_rate(self) -> float | None:
        """Delivered attempts over those that reached an end (delivered, retrying, failed); skipped ones sent
        nothing."""
        tried = sum(n for outcome, n in self.webhook_attempts.items() if outcome != "skipped")
        return self.webhook_attempts.get("delivered", 0) / tried if tried else None


def window_start(now: datetime) -> datetime:
    """The first hour the overview reads: the start of the day 29 days before today (UTC)."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=29)


def summarise(
    counts: Iterable[Count],
    now: datetime,
    meanings: dict[int, str],
    top_errors: int = 5,
) -> Overview:
    """The overview of counts read from `window_start(now)` on; `meanings` names the error codes."""
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    today = this_hour.replace(hour=0)
    hour_starts = [this_hour - timedelta(hours=n) for n in range(23, -1, -1)]
    day_starts = [today - timedelta(days=n) for n in range(29, -1, -1)]
    hours = {start: dict.fromkeys(SERIES, 0) for start in hour_starts}
    days = {start: dict.fromkeys(SERIES, 0) for start in day_starts}
    messages = segments = 0
    outcomes = dict.fromkeys(_DELIVERY_OUTCOMES, 0)
    errors: dict[int, int] = {}
    # Each hour of the window to its day's bucket, built once: a datetime.replace per row was most of the loop's
    # cost at 7,200 rows (30 days of 10 keys an hour).
    day_of = {start + timedelta(hours=n): by_series for start, by_series in days.items() for n in range(24)}
    for count in counts:
        if count.messages == 0:
            continue
        series = _SERIES_OF.get(count.status, "in flight")
        hour = hours.get(count.hour)
        if hour is not None:
            hour[series] += count.messages
        day = day_of.get(count.hour)
        if day is None:
            continue
        day[series] += count.messages
        messages += count.messages
        segments += count.segments
        if series in outcomes:
            outcomes[series] += count.messages
        if count.error_code:
            errors[count.error_code] = errors.get(count.error_code, 0) + count.messages
    ended = sum(outcomes.values())
    ranked = sorted(errors.items(), key=lambda item: (-item[1], item[0]))[:top_errors]
    return Overview(
        hours=[Bucket(start, by_series) for start, by_series in hours.items()],
        days=[Bucket(start, by_series) for start, by_series in days.items()],
        messages=messages,
        segments=segments,
        delivery_rate=outcomes["delivered"] / ended if ended else None,
        errors=[ErrorCount(code, meanings.get(code, ""), n) for code, n in ranked],
    )
