"""Throttling of failed authentication attempts, per key (a client address, an account, an email).

Only failures are counted and only failures are refused: a client that presents valid credentials is let in
even while an attacker hammers the same account, so nobody can lock a legitimate user out.

Across processes (one PostgreSQL, several servers), a throttle is given a `SharedFailures`: this process's
own failures stay exact in memory (a sliding window of times), and are also added to `throttle_failures`
in time buckets (a tenth of the window wide). A flush adds everything recorded since the last one and reads
back the totals of those keys, one statement each however many failures it carries, so under a burst
hundreds of failures share one. The caller of a failure awaits `settle()` (its flush) before answering, so
the other processes know of it before the client's next try: a limit of N holds within N plus the failures
in flight at once, however many processes there are. A refusal is answered from this process's view alone,
with no database work, and other processes' failures leave that view as their buckets leave the window
(late by at most a bucket).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from mycpaas.services.platform import Platform
from mycpaas.storage import throttle as store
from mycpaas.storage.database import Connection

log = logging.getLogger("mycpaas.throttle")

BUCKETS_PER_WINDOW = 10
PRUNE_SECONDS = 60.0
RETRY_FLUSH_SECONDS = 1.0


MAX_KEY_CHARS = 255  # throttle_failures.key


def storable(key: str) -> str:
    """The key, or its digest when the shared table could not hold it (longer than its column, U+0000, a
    lone surrogate). Keys are client-chosen text (the username of a Basic header, an email); one the table
    refused would fail every later flush of this process, since a failed flush keeps what it could not write."""
    if len(key) <= MAX_KEY_CHARS and "\x00" not in key:
        try:
            key.encode("utf-8")
            return key
        except UnicodeEncodeError:
            pass
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class FailureCounts(Protocol):
    """Where processes add up their failures: `SharedFailures`, or a stand-in in unit tests."""

    def seconds(self) -> float: ...

    async def exchange(self, deltas: dict[tuple[str, int], int], since: int) -> dict[str, dict[int, int]]: ...


class SharedFailures:
    """The `throttle_failures` rows of one throttle (its scope), written through the group committer."""

    def __init__(self, platform: Platform, scope: str) -> None:
        self.platform = platform
        self.scope = scope
        self._pruned_at = float("-inf")

    def seconds(self) -> float:
        """The database's clock, in seconds since the epoch: buckets mean the same time in every process."""
        return time.time() + self.platform.clock.offset.total_seconds()

    async def exchange(self, deltas: dict[tuple[str, int], int], since: int) -> dict[str, dict[int, int]]:
        """Add this process's failures; return every process's totals of those keys from bucket `since` on."""
        prune = time.monotonic() - self._pruned_at > PRUNE_SECONDS
        if prune:
            self._pruned_at = time.monotonic()
            await self.platform.clock.now()  # re-measures the offset when it is a minute old

        async def work(conn: Connection) -> dict[str, dict[int, int]]:
            await store.add_failures(conn, self.scope, deltas)
            if prune:
                await store.prune(conn, self.scope, since)
            return await store.totals(conn, self.scope, {key for key, _ in deltas}, since)

        return await self.platform.committer.run(work)


class FailureThrottle:
    def __init__(
        self,
        max_failures: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        shared: FailureCounts | None = None,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._shared = shared
        self._clock = shared.seconds if shared is not None else clock
        self._width = window_seconds / BUCKETS_PER_WINDOW
        self._failures: dict[str, deque[float]] = {}  # this process's, exact
        self._others: dict[str, dict[int, int]] = {}  # key -> bucket -> other processes' failures, last read
        self._pending: dict[tuple[str, int], int] = {}  # (key, bucket) -> failures not yet written
        self._written: dict[tuple[str, int], int] = {}  # (key, bucket) -> this process's failures written
        self._due: asyncio.Future[None] | None = None  # resolved by the flush that writes what is pending
        self._flusher: asyncio.Task[None] | None = None

    def _recent(self, key: str, now: float) -> deque[float]:
        window = self._failures.setdefault(key, deque())
        while window and window[0] <= now - self.window_seconds:
            window.popleft()
        return window

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds until the most throttled key may fail again, or None if none is throttled."""
        limited = self.limited(keys)
        return limited[1] if limited is not None else None

    def limited(self, keys: Iterable[str]) -> tuple[str, int] | None:
        """The most throttled key and the seconds until it may fail again, or None if none is throttled:
        the refusal names the limit that was hit."""
        now = self._clock()
        waits = [(wait, key) for key in keys if (wait := self._wait(storable(key), now)) is not None]
        if not waits:
            return None
        wait, key = max(waits)
        return key, int(wait) + 1

    def _wait(self, key: str, now: float) -> float | None:
        """Seconds until enough of the key's failures have left the window for one more, if it is throttled."""
        expiries = [(at + self.window_seconds, 1) for at in self._recent(key, now)]
        if others := self._others.get(key):
            for bucket in [b for b in others if (b + 1) * self._width + self.window_seconds <= now]:
                del others[bucket]
            expiries += [((b + 1) * self._width + self.window_seconds, n) for b, n in others.items()]
        over = sum(n for _, n in expiries) - self.max_failures
        if over < 0:
            return None
        for expiry, n in sorted(expiries):
            over -= n
            if over < 0:
                return expiry - now
        return None  # unreachable: the last expiry takes `over` below zero

    def record_failure(self, keys: Iterable[str]) -> None:
        now = self._clock()
        for key in map(storable, keys):
            self._recent(key, now).append(now)
            self._count(key, now, 1)
        if len(self._failures) > 100_000:
            self._forget_idle(now)

    def withdraw(self, keys: Iterable[str]) -> None:
        """Take back the latest failure of each key (an attempt counted in advance that succeeded)."""
        for key in map(storable, keys):
            if window := self._failures.get(key):
                self._count(key, window.pop(), -1)

    async def settle(self) -> None:
        """Wait until the failures recorded so far are in the shared table, and the totals of their keys
        read back (at once without a shared table, or when the database cannot be reached)."""
        if self._due is not None:
            await asyncio.shield(self._due)

    def _count(self, key: str, at: float, n: int) -> None:
        if self._shared is None:
            return
        slot = (key, math.floor(at / self._width))
        self._pending[slot] = self._pending.get(slot, 0) + n
        if self._due is None:
            self._due = asyncio.get_running_loop().create_future()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        assert self._shared is not None
        while (due := self._due) is not None:
            self._due = None
            pending, self._pending = self._pending, {}
            since = math.floor((self._clock() - self.window_seconds) / self._width)
            try:
                totals = await self._shared.exchange(pending, since)
            except Exception:
                log.warning("shared failure counts unreachable", exc_info=True, extra={"action": "throttle"})
                for slot, n in pending.items():
                    self._pending[slot] = self._pending.get(slot, 0) + n
                due.set_result(None)  # answer from this process's view meanwhile
                await asyncio.sleep(RETRY_FLUSH_SECONDS)
                if self._pending and self._due is None:
                    self._due = asyncio.get_running_loop().create_future()
                continue
            for slot, n in pending.items():
                self._written[slot] = self._written.get(slot, 0) + n
            if len(self._written) > 4096:
                self._written = {slot: n for slot, n in self._written.items() if slot[1] >= since}
            for key, buckets in totals.items():
                self._others[key] = {
                    bucket: rest
                    for bucket, total in buckets.items()
                    if (rest := total - self._written.get((key, bucket), 0)) > 0
                }
            due.set_result(None)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, w in self._failures.items() if not w or w[-1] <= now - self.window_seconds]:
            del self._failures[key]
        oldest = math.floor((now - self.window_seconds) / self._width)
        for slot in [slot for slot in self._written if slot[1] < oldest]:
            del self._written[slot]
        for key in [k for k, buckets in self._others.items() if all(b < oldest for b in buckets)]:
            del self._others[key]
