"""What every use case needs: the database, the secret box and the settings; built once by bootstrap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mycpaas.domain.credentials import SecretBox
from mycpaas.settings import Settings
from mycpaas.storage.database import Database
from mycpaas.storage.group_commit import GroupCommitter


@dataclass
class Platform:
    settings: Settings
    db: Database
    secrets: SecretBox
    committer: GroupCommitter = field(init=False)
    # Called after a transaction that enqueued work commits, so an idle worker wakes at once.
    wake_worker: Callable[[], None] = field(default=lambda: None)
    # The same for webhook events.
    wake_webhooks: Callable[[], None] = field(default=lambda: None)
    # Whether pending_receipts may hold a receipt (true until a sweep finds none): while false, recording a
    # submission skips looking for receipts that overtook it.
    receipts_waiting: bool = True

    def __post_init__(self) -> None:
        self.committer = GroupCommitter(self.db)
