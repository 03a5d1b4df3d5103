"""Spacing sends at a fixed rate: a carrier's messages per second, or a sender number's."""

from __future__ import annotations

import asyncio


class Pacer:
    """Each caller reserves the next free slot, `1 / per_second` after the previous one; 0 means no limit.
    Reserving (instead of sleeping and retrying) keeps the order of callers and never lets two share a slot."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = 0.0

    def reserve(self, now: float) -> float:
        """Seconds from `now` until the caller's slot."""
        if not self.interval:
            return 0.0
        slot = max(now, self._next)
        self._next = slot + self.interval
        return slot - now

    async def wait(self) -> None:
        delay = self.reserve(asyncio.get_running_loop().time())
        if delay > 0:
            await asyncio.sleep(delay)
