"""A job runner's wake-up: an event that also remembers which origins the new work is bound for.

Why the origins: the webhook dispatcher leaves the jobs of origins with no room in the queue (`skip_origins`).
When every origin it was woken for is such an origin, a claim finds nothing and, to find nothing, reads every
due row (1.1-1.5 ms on SQLite behind a full line; bench/results/claim_plan.txt), and this happened at every
commit that queued a callback. Told the origins, the runner can wait instead, for a slot to free or for work
bound somewhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable


class Wakeup:
    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._origins: set[str] = set()
        self._anything = False

    def set(self, origins: Iterable[str] | None = None) -> None:
        """Wake the runner. `origins`: where the new work is bound; None when unknown or when the reason is
        not new work (room freed, a retry, a stop), which always leads to a claim."""
        if origins is None:
            self._anything = True
        else:
            self._origins.update(origins)
        self._event.set()

    def take(self) -> tuple[bool, frozenset[str]]:
        """Clear the signal and say why it was set since the last take: (for anything, for these origins)."""
        anything, origins = self._anything, frozenset(self._origins)
        self._event.clear()
        self._anything = False
        self._origins.clear()
        return anything, origins

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()
