"""What every use case needs: the database, the secret box, the settings and the wake-up signals.

Built once by bootstrap, before anything that uses it, and never changed afterwards.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mycpaas.domain.credentials import SecretBox
from mycpaas.services.clock import DatabaseClock
from mycpaas.settings import Settings
from mycpaas.storage.database import Database
from mycpaas.storage.group_commit import GroupCommitter


@dataclass(frozen=True)
class Platform:
    settings: Settings
    db: Database
    secrets: SecretBox
    committer: GroupCommitter
    # Set after a transaction that enqueued jobs commits, so an idle job runner of that kind claims at once
    # instead of at its next poll (mycpaas/runner.py waits on them).
    sends_ready: asyncio.Event = field(default_factory=asyncio.Event)
    webhooks_ready: asyncio.Event = field(default_factory=asyncio.Event)
    # Leases and timeouts shared between processes are timed on the database's clock (services/clock.py).
    clock: DatabaseClock = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clock", DatabaseClock(self.db))

    def wake_worker(self) -> None:
        self.sends_ready.set()

    def wake_webhooks(self) -> None:
        self.webhooks_ready.set()
