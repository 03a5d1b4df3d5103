"""Body-read deadlines for every request of a loop, checked by one timer instead of a timer per read.

asyncio.timeout_at around each body read made and cancelled a TimerHandle per request (heap push, cancel,
later removal): about 2.6% of the API process under bench/http_create.py (py-spy, 2026-12-07), for a deadline
almost never reached. Here a read in progress is one dict entry (its task and its deadline), and while any
read waits a single timer looks at them every `tick` seconds (a tenth of the deadline, at most a second), so a
deadline is enforced up to one tick late. An overdue task is cancelled, and its read (`wait`) turns that
cancellation into `expired`; a cancellation from anywhere else passes through unchanged. Only a task waiting
in `wait` is ever cancelled, so the cancellation lands in the read and nowhere else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any


class BodyDeadlines:
    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        self.loop = loop
        self.tick = min(1.0, seconds / 10)
        self.waiting: dict[asyncio.Task[Any], float] = {}  # tasks in `wait`, and their deadlines
        self.expired: set[asyncio.Task[Any]] = set()  # cancelled by `_check`, the CancelledError not yet seen
        self.timer: asyncio.TimerHandle | None = None

    async def wait(self, read: Awaitable[dict[str, Any]], deadline: float) -> dict[str, Any] | None:
        """`read`'s message, or None if the deadline passed first."""
        task = asyncio.current_task(self.loop)
        assert task is not None
        self.waiting[task] = deadline
        if self.timer is None:
            self.timer = self.loop.call_at(self.loop.time() + self.tick, self._check)
        try:
            return await read
        except asyncio.CancelledError:
            # Ours alone is a timeout; one from elsewhere too (even in the same turn as ours) passes on, as
            # asyncio.timeout_at lets it.
            if task not in self.expired or task.cancelling() > 1:
                raise
            return None
        finally:
            self.waiting.pop(task, None)
            if task in self.expired:  # our cancellation, seen (or swallowed by `read`): it ends here
                self.expired.discard(task)
                task.uncancel()

    def _check(self) -> None:
        now = self.loop.time()
        for task, deadline in list(self.waiting.items()):
            if deadline <= now and task not in self.expired:
                self.expired.add(task)
                task.cancel()
        self.timer = self.loop.call_at(now + self.tick, self._check) if self.waiting else None
