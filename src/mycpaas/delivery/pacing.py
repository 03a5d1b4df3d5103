"""Spacing sends at a fixed rate: a carrier's messages per second. (A sender number's rate is kept across
processes by services/delivery.py start_sending, on the `sender_slots` timeline.)"""

from __future__ import annotations

import asyncio


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
