"""Group commit: concurrent small write transactions share one commit.

Each caller hands in a unit of work and is answered only after the transaction holding it has committed, so
"answered" still means "durable". Under load, dozens of message creations cost one BEGIN/COMMIT instead of one
each; when idle, a unit commits alone at once. If a batch fails, its units are retried one transaction each so
that one bad unit cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mycpaas.storage.database import Connection, Database

T = TypeVar("T")
Work = Callable[[Connection], Awaitable[Any]]

MAX_BATCH = 256


class GroupCommitter:
    def __init__(self, db: Database, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.max_batch = max_batch
        self._pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def run(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop())
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            if self._pending:
                self._wakeup.set()
            if batch:
                await self._commit(batch)

    async def _commit(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        try:
            async with self.db.write() as conn:
                results = [await work(conn) for work, _ in batch]
        except Exception:
            if len(batch) == 1:
                work, future = batch[0]
                await self._commit_alone(work, future)
                return
            for work, future in batch:
                await self._commit_alone(work, future)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)

    async def _commit_alone(self, work: Work, future: asyncio.Future[Any]) -> None:
        try:
            async with self.db.write() as conn:
                result = await work(conn)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)
