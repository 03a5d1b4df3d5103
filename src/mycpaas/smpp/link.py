"""A link keeps one SMPP session bound: connect, bind, and after any loss reconnect with backoff.

Callers ask for the current session with `session()`, which waits (up to a limit) while the link is down, so a
short outage slows submissions instead of failing them. `stop()` unbinds cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random

from mycpaas.smpp.session import BindConfig, CommandFailed, DeliverHandler, Session, SessionClosed, Timers

log = logging.getLogger("mycpaas.smpp")

MIN_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
STABLE_SECONDS = 30.0  # a session up this long resets the backoff


class LinkDown(SessionClosed):
    """No bound session became available in time."""


class Link:
    def __init__(
        self,
        name: str,
        config: BindConfig,
        on_deliver: DeliverHandler,
        window: int = 10,
        timers: Timers | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._on_deliver = on_deliver
        self._window = window
        self._timers = timers or Timers()
        self._session: Session | None = None
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False  # the last bind attempt failed: callers should not wait for this link
        self.last_error: str | None = None  # the latest bind failure or loss, for the operator
        self.errors = 0  # how many there were (a new one is reported once)

    @property
    def bound(self) -> bool:
        return self._session is not None and not self._session.closed

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def wait_bound(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a bound session; whether there is one."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), timeout)
        return self.bound

    async def session(self, wait: float) -> Session:
        """The bound session, waiting up to `wait` seconds for one while the link is reconnecting; raises
        LinkDown at once if the last bind attempt failed, so a failover does not wait for a dead SMSC."""
        if self._session is not None and not self._session.closed:
            return self._session
        if self._failing:
            raise LinkDown(f"link {self.name} is down")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), wait)
        if self._session is None or self._session.closed:
            raise LinkDown(f"link {self.name} is down")
        return self._session

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._session is not None:
            await self._session.unbind()

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                session = await Session.open(self.config, self._on_deliver, self._window, self._timers)
            except (OSError, TimeoutError, SessionClosed, CommandFailed) as exc:
                failures += 1
                self._failing = True
                self._error(f"bind failed: {type(exc).__name__}: {exc}")
                delay = random.uniform(
                    MIN_BACKOFF_SECONDS,
                    min(MAX_BACKOFF_SECONDS, MIN_BACKOFF_SECONDS * 2 ** min(failures, 10)),
                )
                log.warning(
                    "SMPP link %s: bind failed (%s); retrying in %.1f s",
                    self.name,
                    exc,
                    delay,
                    extra={"action": "smpp_bind_failed"},
                )
                await asyncio.sleep(delay)
                continue
            self._failing = False
            self._session = session
            self._up.set()
            log.info(
                "SMPP link %s bound as %s to %s",
                self.name,
                self.config.bind_type.value,
                session.peer_system_id or "?",
                extra={"action": "smpp_bound"},
            )
            bound_at = asyncio.get_running_loop().time()
            try:
                await session.wait_closed()
            finally:
                self._up.clear()
            # A session that lasted is a fresh start; one that dropped at once (an SMSC that accepts binds
            # and then closes) keeps the backoff growing instead of reconnecting in a tight loop.
            if asyncio.get_running_loop().time() - bound_at >= STABLE_SECONDS:
                failures = 0
            else:
                failures += 1
            self._error("session lost")
            delay = random.uniform(0, min(MAX_BACKOFF_SECONDS, MIN_BACKOFF_SECONDS * 2 ** min(failures, 10)))
            log.warning(
                "SMPP link %s lost; reconnecting in %.1f s",
                self.name,
                delay,
                extra={"action": "smpp_link_lost"},
            )
            await asyncio.sleep(delay)

    def _error(self, text: str) -> None:
        self.last_error = text
        self.errors += 1
