"""The message log's word index on SQLite, kept off the hot path: every second the serving process indexes
the messages created since, up to BATCH a transaction, oldest first (storage/message_log.index_batch), on a
worker thread (Database.write_on_thread).

An index written by a trigger in each create's transaction cost about 150 us of CPU per create (each small
transaction wrote and merged an FTS5 segment: bench/results/create_ab.txt, 2026-12-07); in batches a
message costs tens of microseconds once, outside the request. The batches ran on the event loop at first, and
a batch of a thousand held every request for tens of milliseconds: the create load's p99 went from 31-34 ms to
101-169 ms (bench/results/create_ab.txt, 18:07 and 18:16 runs). On a thread the loop keeps serving while
SQLite steps (the GIL is released), and only writes wait, for one batch of BATCH at most; smaller batches
cost more per message (each transaction writes an FTS5 segment that later merges).
Searches stay complete meanwhile: messages newer than the index are matched row by row (a short walk by id).
PostgreSQL needs none of this: its GIN index takes inserts into a pending list that it merges in bulk itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from mycpaas.domain.clock import utcnow
from mycpaas.services.platform import Platform
from mycpaas.storage import message_log

log = logging.getLogger("mycpaas.search")

BATCH = 250
INTERVAL_SECONDS = 1.0


async def index_pending(platform: Platform, batch: int = BATCH) -> int:
    """Index every message created since the last call, `batch` per transaction; how many."""
    total = 0
    while True:
        done = await platform.db.write_on_thread(partial(message_log.index_batch, limit=batch, now=utcnow()))
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
