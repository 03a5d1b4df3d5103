"""The change signal: how every process learns, within a second, of changes made by any other.

Processes keep state derived from the database: open SMPP binds built from the carrier connectors, the
authentication cache (services/auth.py) and the cache of From numbers' owners (services/messaging.py). A change
made anywhere (the API, the dashboard, the CLI, another server process) raises its topic's version in the same
transaction (`write`, or `announce` inside one); each process's `ChangeWatcher` polls the versions, one small
indexed read every `POLL_SECONDS`, and calls the callbacks of the topics that moved. Polling a row works the
same on SQLite and PostgreSQL (and on distributed PostgreSQL variants without LISTEN/NOTIFY), costs nothing at
commit time, and needs no connection held open.

So a cache in another process answers from the old rows for at most one poll (0.25 s) after the commit. The
process that makes the change must not wait even that long (a token rotated through the API, then the old
token refused by the next request): `write` empties this process's caches right after its commit
(`Platform.changed`), not before it, where a concurrent request could read the old rows again and keep them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from mycpaas.domain.clock import utcnow
from mycpaas.services.platform import CARRIERS, CREDENTIALS, NUMBERS, Platform
from mycpaas.storage import changes as store
from mycpaas.storage.database import Connection

log = logging.getLogger("mycpaas.changes")

__all__ = ["CARRIERS", "CREDENTIALS", "NUMBERS", "ChangeWatcher", "announce", "write"]

POLL_SECONDS = 0.25

Callback = Callable[[], Awaitable[None]]


async def announce(conn: Connection, topic: str) -> None:
    """Tell every process that `topic` changed, once the caller's transaction commits."""
    await store.bump(conn, topic, utcnow())


@contextlib.asynccontextmanager
async def write(platform: Platform, *topics: str) -> AsyncIterator[Connection]:
    """A write transaction that announces `topics` if its body completes, and once it has committed tells this
    process at once (its caches are emptied before the caller answers anyone)."""
    async with platform.db.write() as conn:
        yield conn
        for topic in topics:
            await announce(conn, topic)
    for topic in topics:
        platform.changed(topic)


class ChangeWatcher:
    def __init__(self, platform: Platform, poll_seconds: float = POLL_SECONDS) -> None:
        self.platform = platform
        self.poll_seconds = poll_seconds
        self.versions: dict[str, int] = {}
        self._callbacks: dict[str, list[Callback]] = {}
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, topic: str, callback: Callback) -> None:
        """Call `callback` (in this process) after each change of `topic` seen from now on."""
        self._callbacks.setdefault(topic, []).append(callback)

    async def start(self) -> None:
        self.versions = await self._read()
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def check(self) -> list[str]:
        """Read the versions now and run the callbacks of the topics that moved; returns those topics."""
        seen = await self._read()
        moved = [topic for topic, version in seen.items() if version != self.versions.get(topic, 0)]
        self.versions = seen
        for topic in moved:
            log.info(
                "change seen: %s is at version %d",
                topic,
                seen[topic],
                extra={"action": "change_seen", "topic": topic, "version": seen[topic]},
            )
            self.platform.changed(topic)
            for callback in self._callbacks.get(topic, []):
                try:
                    await callback()
                except Exception:
                    log.exception("following a change of %s failed", topic, extra={"action": "change_failed"})
        return moved

    async def _read(self) -> dict[str, int]:
        async with self.platform.db.read() as conn:
            return await store.versions(conn)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.check()
            except Exception:
                log.exception("reading the change signal failed", extra={"action": "change_poll_failed"})
