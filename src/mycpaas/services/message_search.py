"""The message log's word index on SQLite, kept off the hot path: every second the serving process indexes
the messages created since, up to BATCH a transaction, oldest first (storage/message_log.index_batch).

An index written by a trigger in each create's transaction cost about 150 us of CPU per create (each small
transaction wrote and merged an FTS5 segment: bench/results/create_ab.txt, 2026-12-07); in batches of a
thousand a message costs tens of microseconds once, outside the request. Searches stay complete meanwhile:
messages newer than the index are matched row by row (a short walk by id). PostgreSQL needs none of this:
its GIN index takes inserts into a pending list that it merges in bulk by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from mycpaas.domain.clock import utcnow
from mycpaas.services.platform import Platform
from mycpaas.storage import message_log

log = logging.getLogger("mycpaas.search")

BATCH = 1000
INTERVAL_SECONDS = 1.0


async def index_pending(platform: Platform, batch: int = BATCH) -> int:
    """Index every message created since the last call, `batch` per transaction; how many."""
    total = 0
    while True:
        async with platform.db.write() as conn:
            done = await message_log.index_batch(conn, batch, utcnow())
        total += done
        if done < batch:
            return total
        await asyncio.sleep(0)  # let requests in between two batches


class SearchIndexer:
    """The loop, in a SQLite server (one process serves a SQLite database)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _loop(self) -> None:
        while True:
            try:
                await index_pending(self.platform)
            except Exception:
                log.exception("indexing messages for search failed", extra={"action": "search_index_failed"})
            await asyncio.sleep(INTERVAL_SECONDS)
