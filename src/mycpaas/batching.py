"""Batching: items handed in by concurrent callers are processed together, each caller answered alone.

One mechanism serves every batched write of the platform: the group committer (many small transactions
share one commit), the delivery worker's submit responses and receipts, and the webhook dispatcher's
outcomes. A caller of `add` resumes only when the batch holding its item has been processed (for a write:
committed), with its own result, or with its own exception: if a batch fails, each of its items is processed
alone, so one bad item cannot fail its neighbours. While one batch is processed the next fills up, so under
load a handful of statements serve hundreds of items, and when idle an item is processed at once.

Measured (bench/http_create.py --no-group-commit, results in bench/results/http_create.txt): sharing commits
is what lets message creation keep up under concurrency on SQLite, whose writes are serialised.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """`process` takes a batch and returns one result per item, in order. `linger` seconds are waited before
    a batch is taken when the first item arrives idle, so that a burst finishing together shares it: on SQLite
    a commit runs inline and blocks the loop, so nothing else can join a batch while one is written."""

    def __init__(
        self,
        process: Callable[[list[T]], Awaitable[Sequence[R]]],
        max_batch: int = 256,
        linger: float = 0.0,
    ) -> None:
        self._process = process
        self.max_batch = max_batch
        self.linger = linger
        self._items: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None

    async def add(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._items.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        return await future

    async def close(self) -> None:
        """Wait for what was handed in to be processed (the callers may have gone: a stop cancelled them)."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._task)

    async def _drain(self) -> None:
        if self.linger:
            await asyncio.sleep(self.linger)
        while self._items:
            batch, self._items = self._items[: self.max_batch], self._items[self.max_batch :]
            try:
                results = await self._process([item for item, _ in batch])
            except Exception:
                for item, future in batch:
                    await self._alone(item, future)
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)

    async def _alone(self, item: T, future: asyncio.Future[R]) -> None:
        try:
            [result] = await self._process([item])
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(result)
