"""Housekeeping: rows kept for a while and then removed, by one periodic loop over a list of tasks.

Each task names rows that are past their retention and removes them in batches of `BATCH` rows, one short
transaction per batch, oldest first, through an index on their age; batches of the tasks take turns, so one
with a large backlog does not hold the others back. A sweep stops after `SWEEP_SECONDS` and goes on at the
next turn, so it neither holds a long transaction nor runs into the next sweep.

Every process that runs a worker role (delivery worker or webhook dispatcher) runs the loop, but only one of
them sweeps about once a minute: the one that takes the turn, a `platform_state` row updated conditionally
(storage/platform_state.take_turn) and timed on the database's clock. The others pay one small UPDATE a
minute. Deletes are idempotent, so a sweep that overlaps another (a turn taken while a slow one still runs)
does no harm.

To add a task, add one line to TASKS: its name (the metric's label), what its rows are (for the log), its
retention from the settings, and a storage function that removes up to `limit` rows older than a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import mycpaas.metrics as metrics
from mycpaas.services.binds import holder_id
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import inbound_seen, parts
from mycpaas.storage import platform_state as state
from mycpaas.storage import webhooks as webhook_store
from mycpaas.storage.database import Connection

log = logging.getLogger("mycpaas.housekeeping")

TURN = "housekeeping"  # the platform_state row whose holder sweeps
INTERVAL_SECONDS = 60.0  # how often each process asks for the turn (spread by ±10%)
# A turn is due when nobody took one for this long: about one sweep a minute, all processes together.
TURN_SECONDS = 48.0
FIRST_TURN_SECONDS = 1.0  # the first ask, soon after start-up (a fresh server sweeps at once)
SWEEP_SECONDS = 30.0
BATCH = 1000

Prune = Callable[[Connection, datetime, int], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Task:
    name: str  # the label of mycpaas_housekeeping_removed_total
    rows: str  # what is removed, for the log line
    retention: Callable[[Settings], timedelta]
    prune: Prune  # removes up to `limit` rows older than the time given; returns how many
    level: int = logging.INFO  # of the sweep's log line when rows were removed


TASKS: tuple[Task, ...] = (
    Task(
        "webhook_attempts",
        "webhook attempts",
        lambda s: timedelta(days=s.webhook_attempt_retention_days),
        webhook_store.prune_attempts,
    ),
    # Receipts that matched nothing for days never will (the part was recorded under another id, or never):
    # dropped, their messages stay as they are. Worth a warning: an SMSC that keeps sending them is misread.
    Task(
        "unmatched_receipts",
        "unmatched delivery receipts",
        lambda s: timedelta(days=s.unmatched_receipt_retention_days),
        parts.prune_pending,
        logging.WARNING,
    ),
    # Fingerprints of inbound deliveries past MYCPAAS_SMPP_MO_DEDUPE_SECONDS stop no redelivery any more.
    Task(
        "inbound_fingerprints",
        "inbound message fingerprints",
        lambda s: timedelta(seconds=s.smpp_mo_dedupe_seconds),
        inbound_seen.prune,
        logging.DEBUG,
    ),
)


async def sweep(
    platform: Platform, tasks: Sequence[Task] = TASKS, seconds: float = SWEEP_SECONDS, batch: int = BATCH
) -> dict[str, int]:
    """Remove what is past its retention, task batches taking turns, for up to `seconds`; log one line per
    task that removed rows and count them. Returns the rows removed per task. A task that fails is logged and
    left until the next sweep."""
    now = await platform.clock.now()
    deadline = time.monotonic() + seconds
    removed = dict.fromkeys((task.name for task in tasks), 0)
    due = list(tasks)
    while due and time.monotonic() < deadline:
        for task in list(due):
            try:
                async with platform.db.write() as conn:
                    count = await task.prune(conn, now - task.retention(platform.settings), batch)
            except Exception:
                log.exception("housekeeping of %s failed", task.rows, extra={"action": "housekeeping_failed"})
                count = 0
            removed[task.name] += count
            if count < batch:
                due.remove(task)
        await asyncio.sleep(0)  # SQLite statements do not yield: let the server's other work run
    for task in tasks:
        metrics.housekept(task.name, removed[task.name])
        if removed[task.name]:
            log.log(
                task.level,
                "housekeeping removed %d %s older than %s",
                removed[task.name],
                task.rows,
                _age(task.retention(platform.settings)),
                extra={"action": "housekeeping_removed", "task": task.name, "removed": removed[task.name]},
            )
    return removed


def _age(retention: timedelta) -> str:
    if retention.days and not retention.seconds:
        return f"{retention.days} day{'s' if retention.days != 1 else ''}"
    return f"{int(retention.total_seconds())} seconds"


async def take_turn(platform: Platform, holder: str, interval: float = TURN_SECONDS) -> bool:
    """Whether this process sweeps now: no process took the turn in the last `interval` seconds."""
    now = await platform.clock.now()
    try:
        async with platform.db.write() as conn:
            return await state.take_turn(conn, TURN, holder, now, now - timedelta(seconds=interval))
    except state.AlreadySet:
        return False  # another process took the very first turn at the same moment


class Housekeeper:
    """The loop: every INTERVAL_SECONDS, take the turn if it is due and sweep."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.holder = holder_id()
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
        await asyncio.sleep(FIRST_TURN_SECONDS)
        while True:
            try:
                if await take_turn(self.platform, self.holder):
                    await sweep(self.platform)
            except Exception:
                log.exception("housekeeping failed", extra={"action": "housekeeping_failed"})
            # Spread a little, so processes started together do not all ask at the same instant.
            await asyncio.sleep(INTERVAL_SECONDS * random.uniform(0.9, 1.1))
