"""Throttling of failed authentication attempts, per client address and per account.

Only failures are counted and only failures are refused: a client that presents valid credentials is let in
even while an attacker hammers the same account, so nobody can lock a legitimate user out.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable


class FailureThrottle:
    def __init__(
        self, max_failures: int, window_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        window = self._failures.setdefault(key, deque())
        while window and window[0] <= now - self.window_seconds:
            window.popleft()
        return window

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds until the most throttled key may fail again, or None if none is throttled."""
        now = self._clock()
        waits = [
            window[0] + self.window_seconds - now
            for key in keys
            if len(window := self._recent(key, now)) >= self.max_failures
        ]
        return int(max(waits)) + 1 if waits else None

    def record_failure(self, keys: Iterable[str]) -> None:
        now = self._clock()
        for key in keys:
            self._recent(key, now).append(now)
        if len(self._failures) > 100_000:
            self._forget_idle(now)

    def withdraw(self, keys: Iterable[str]) -> None:
        """Take back the latest failure of each key (an attempt counted in advance that succeeded)."""
        for key in keys:
            if window := self._failures.get(key):
                window.pop()

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, w in self._failures.items() if not w or w[-1] <= now - self.window_seconds]:
            del self._failures[key]
