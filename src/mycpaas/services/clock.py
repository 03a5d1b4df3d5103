"""The database's clock, for leases and timeouts that several processes (on several machines) must agree on.

A job's or a bind's lease is written by one process and judged by another: if each used its own clock, a
machine running a few seconds fast would take over leases that are still held. So lease times are read
from the database's clock. Asking the database for every timestamp would cost a round trip per claim, so
the offset between this machine's clock and the database's is measured (one query, halfway through its
round trip) and re-measured every minute; reading the time is then free.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from mycpaas.domain.clock import utcnow
from mycpaas.storage.database import Database

RESYNC_SECONDS = 60.0


class DatabaseClock:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._offset = timedelta(0)
        self._synced_at = float("-inf")

    async def now(self) -> datetime:
        """The database's current time (naive UTC), re-measuring the offset when it is a minute old."""
        if time.monotonic() - self._synced_at > RESYNC_SECONDS:
            await self.sync()
        return utcnow() + self._offset

    async def sync(self) -> None:
        before = utcnow()
        server = await self._db.server_time()
        after = utcnow()
        self._offset = server - (before + (after - before) / 2)
        self._synced_at = time.monotonic()

    @property
    def offset(self) -> timedelta:
        """How far the database's clock is ahead of this machine's (negative: behind)."""
        return self._offset
