"""Spacing sends at a fixed rate: a carrier's messages per second, or a sender number's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Pacer:
    """Each caller reserves the next free slot, `1 / per_second` after the previous one; 0 means no limit.
    Reserving (instead of sleeping and retrying) keeps the order of callers and never lets two share a slot."""

    def __init__(self, per_second: float) -> None:
        self.interval = 0.0
        self._next = 0.0
        self.set_rate(per_second)

    def set_rate(self, per_second: float) -> None:
        """Change the rate from the next reservation on (a connector's share when its binds change)."""
        self.interval = 1.0 / per_second if per_second > 0 else 0.0

    def reserve(self, now: float) -> float:
        """Seconds from `now` until the caller's slot (0 when there is no limit and no pause)."""
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot - now

    def pause(self, seconds: float) -> None:
        """Hold every later caller back by `seconds` from now (an SMSC said it is throttling us)."""
        self._next = max(self._next, asyncio.get_running_loop().time() + seconds)

    def free_at(self) -> float:
        return self._next

    async def wait(self) -> None:
        delay = self.reserve(asyncio.get_running_loop().time())
        if delay > 0:
            await asyncio.sleep(delay)


class SenderPacing:
    """Per-From-number rate limits (messages per second by sender kind), first come first served.

    Each sender has one timeline of slots `1 / rate` apart. A message gets the next slot; if that is within
    `patience` seconds it is admitted and waits for it, otherwise it stays queued and its job is postponed to
    that slot, which is kept for it. So a backlogged sender neither holds the worker's concurrency nor gets
    re-claimed over and over, and a new message cannot overtake the backlog.
    """

    def __init__(self, rate_for: Callable[[str], float], patience: float = 1.0) -> None:
        self._rate_for = rate_for
        self._patience = patience
        self._next: dict[str, float] = {}
        self._intervals: dict[str, float] = {}
        self._kept: dict[str, float] = {}  # message SID -> the slot its postponed job will come back for
        self._last: dict[str, float] = {}  # when the sender's latest admitted message goes

    def admit(self, message_sid: str, sender: str, now: float) -> tuple[bool, float]:
        """(True, seconds to wait) when admitted; (False, seconds to postpone the job by) otherwise."""
        interval = self._intervals.get(sender)
        if interval is None:
            if len(self._intervals) > 100_000:
                self._forget_idle(now)
            rate = self._rate_for(sender)
            interval = self._intervals[sender] = 1.0 / rate if rate > 0 else 0.0
        if not interval:
            return True, 0.0
        slot = self._kept.pop(message_sid, None)
        if slot is None:
            slot = max(now, self._next.get(sender, 0.0))
            self._next[sender] = slot + interval
        if slot - now > self._patience:
            self._kept[message_sid] = slot
            return False, slot - now
        # Jobs come back a little late (the worker polls), and two late ones must still go `interval` apart.
        goes = max(now, slot, self._last.get(sender, 0.0) + interval)
        self._last[sender] = goes
        return True, goes - now

    def _forget_idle(self, now: float) -> None:
        for sender in [s for s, at in self._next.items() if at < now]:
            del self._next[sender]
            self._intervals.pop(sender, None)
            self._last.pop(sender, None)
        for sid in [sid for sid, at in self._kept.items() if at < now - 3600]:
            del self._kept[sid]
