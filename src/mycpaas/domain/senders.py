"""What kind of sender a From is, since carriers limit each kind to its own rate (Twilio's rules: a long
code 1 message per second, toll-free 3, a short code 100), and how a rate-limited sender's messages take
their turns (the timeline itself is a row of `sender_slots`, shared by every delivery process)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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


def queue_limit(rate: float, queue_seconds: float) -> int | None:
    """Twilio's rule: a sender may have as many messages queued as it sends in `queue_seconds` at its `rate`
    (then 21611); None for an unlimited sender (rate 0)."""
    return max(1, int(rate * queue_seconds)) if rate > 0 else None


PATIENCE = timedelta(seconds=1)  # a message whose slot is further off than this is postponed, not held
_KEPT = "slot="


@dataclass(slots=True)
class Timeline:
    """A rate-limited sender's slots, on the database's clock, shared by every delivery process: the next
    free slot and when its latest admitted message goes (None: never used)."""

    next_at: datetime | None = None
    last_at: datetime | None = None


def take_slot(
    line: Timeline, interval: timedelta, now: datetime, kept: datetime | None
) -> tuple[bool, datetime]:
    """A message's turn, first come first served: the next free slot (or the one `kept` for it when its job
    was postponed, so a newcomer cannot overtake a backlog). (True, when it goes) if that is within
    `PATIENCE`: the caller waits and sends; otherwise (False, the slot), and its job comes back then."""
    slot = kept
    if slot is None:
        slot = max(now, line.next_at or now)
        line.next_at = slot + interval
    if slot - now > PATIENCE:
        return False, slot
    # Jobs come back a little late (runners poll), and two late ones must still go `interval` apart.
    goes = max(now, slot, line.last_at + interval if line.last_at else now)
    line.last_at = goes
    return True, goes


def kept_payload(slot: datetime) -> str:
    """A postponed send job's payload: the slot kept for it."""
    return _KEPT + slot.isoformat()


def kept_slot(payload: str | None) -> datetime | None:
    if payload is None or not payload.startswith(_KEPT):
        return None
    try:
        return datetime.fromisoformat(payload.removeprefix(_KEPT))
    except ValueError:
        return None
