"""What every use case needs: the database, the secret box, the settings, the wake-up signals, and what this
process does at once after a change (the caches of per-request lookups empty themselves).

Built once by bootstrap, before anything that uses it, and never changed afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from mycpaas.domain.credentials import SecretBox
from mycpaas.domain.numbers import NumberOwner
from mycpaas.services.clock import DatabaseClock
from mycpaas.services.lookup_cache import LookupCache
from mycpaas.services.wakeup import Wakeup
from mycpaas.settings import Settings
from mycpaas.storage.database import Database
from mycpaas.storage.group_commit import GroupCommitter

# The change signal's topics (services/changes.py announces them; they live here, where the caches that follow
# them are built). CREDENTIALS: tokens made, promoted or deleted; keys made, renamed or revoked; accounts made,
# renamed, suspended, reactivated or closed. CARRIERS: connectors added, changed, enabled, disabled or removed.
# NUMBERS: phone numbers added, changed (StatusCallback, owner…) or released.
CREDENTIALS = "credentials"
CARRIERS = "carriers"
NUMBERS = "numbers"

NUMBER_OWNERS_CAPACITY = 10_000


@dataclass(frozen=True)
class Platform:
    settings: Settings
    db: Database
    secrets: SecretBox
    committer: GroupCommitter
    # Set after a transaction that enqueued jobs commits, so an idle job runner of that kind claims at once
    # instead of at its next poll (mycpaas/runner.py waits on them).
    sends_ready: Wakeup = field(default_factory=Wakeup)
    webhooks_ready: Wakeup = field(default_factory=Wakeup)
    # Leases and timeouts shared between processes are timed on the database's clock (services/clock.py).
    clock: DatabaseClock = field(init=False)
    # Who owns a From number, and its StatusCallback, per number: read by every create (services/messaging.py),
    # emptied on every change of a number (the NUMBERS topic).
    number_owners: LookupCache[str, NumberOwner] = field(init=False)
    # Numbers the platform does not own, asked about by every inbound offer (the sandbox offers every message it
    # delivers back as inbound: a SELECT per delivered message was 3.2-3.7% of the server's CPU under the create
    # load with the worker on); a cache of their own so that they never push the From numbers out of the one
    # above, emptied on every change of a number too.
    unowned_numbers: LookupCache[str, bool] = field(init=False)
    # Called in this process after a change of a topic (services/changes.py): right after the commit of the
    # transaction that announced it here, and when the ChangeWatcher sees one announced by another process.
    _on_change: dict[str, list[Callable[[], None]]] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clock", DatabaseClock(self.db))
        object.__setattr__(self, "_on_change", {})
        object.__setattr__(self, "number_owners", LookupCache(NUMBER_OWNERS_CAPACITY))
        object.__setattr__(self, "unowned_numbers", LookupCache(NUMBER_OWNERS_CAPACITY))
        self.on_change(NUMBERS, self.number_owners.clear)
        self.on_change(NUMBERS, self.unowned_numbers.clear)

    def on_change(self, topic: str, callback: Callable[[], None]) -> None:
        """Call `callback` (synchronous, quick: it empties a cache) after every change of `topic` from now on."""
        self._on_change.setdefault(topic, []).append(callback)

    def changed(self, topic: str) -> None:
        for callback in self._on_change.get(topic, ()):
            callback()

    def wake_worker(self) -> None:
        self.sends_ready.set()

    def wake_webhooks(self, origins: Iterable[str] | None = None) -> None:
        """After a commit that queued webhook events bound for `origins` (None: for anywhere)."""
        self.webhooks_ready.set(origins)
