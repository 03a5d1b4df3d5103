"""Batching for the delivery hot path: items from concurrent callers are written together.

Each caller of `add` resumes only when the batch holding its item has been processed (for receipts: durably
recorded, so the deliver_sm may be acknowledged), or gets the batch's exception. While one batch is being
written the next one fills up, so under load a handful of statements serve hundreds of messages, and when idle
an item is written at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    def __init__(self, process: Callable[[list[T]], Awaitable[None]], max_batch: int = 500) -> None:
        self._process = process
        self._max_batch = max_batch
        self._items: list[tuple[T, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def add(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._items.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        await future

    async def _drain(self) -> None:
        while self._items:
            batch, self._items = self._items[: self._max_batch], self._items[self._max_batch :]
            try:
                await self._process([item for item, _ in batch])
            except Exception:
                # One bad item must not fail its neighbours: each is tried alone, and only its own
                # caller hears of its failure.
                for item, future in batch:
                    await self._alone(item, future)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)

    async def _alone(self, item: T, future: asyncio.Future[None]) -> None:
        try:
            await self._process([item])
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
        else:
            if not future.done():
                future.set_result(None)
