"""When each Auth Token and API key last authenticated a request, and from which client address.

Before promoting a secondary token a user wants to know whether anything still uses the old one. Recording every
use would put a write on every API request, the platform's hottest path; so each process keeps, per credential
(by its keyed digest, never the secret), when it last wrote, and writes again only after `INTERVAL_SECONDS`. A
due write is a clock read and a dict entry on the request path; the upsert runs in a background task through
the group committer, so it joins a batch that commits anyway and the request never waits for it. With N processes
a credential is written at most N times a minute; the upsert keeps the latest use (storage/credential_uses.py).

The digest identifies the token itself, not its slot: a secondary token promoted to primary keeps its last use,
and a retired token's row is removed with it (storage/accounts.retire_token).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from functools import partial

from mycpaas.domain.clock import utcnow
from mycpaas.domain.credentials import CredentialUse
from mycpaas.services.platform import Platform
from mycpaas.storage import accounts as accounts_store
from mycpaas.storage import credential_uses as store

log = logging.getLogger("mycpaas.credential_uses")

INTERVAL_SECONDS = 60.0
# Past this many credentials remembered, those not written within the interval are forgotten (a use of one of
# them is then simply due again). Only credentials that authenticated are ever remembered.
REMEMBERED_CAPACITY = 4096
_NEVER = float("-inf")


class CredentialUses:
    def __init__(self, platform: Platform, interval: float = INTERVAL_SECONDS) -> None:
        self.platform = platform
        self.interval = interval
        self._written: dict[str, float] = {}  # digest -> time.monotonic() of its last write in this process
        self._pending: dict[str, CredentialUse] = {}
        self._flushing: asyncio.Task[None] | None = None

    def note(self, digest: str, client: str) -> None:
        """Called on every successful authentication, cached or not: nothing more than a dict lookup and a
        monotonic clock read unless this credential's interval has passed."""
        now = time.monotonic()
        if now - self._written.get(digest, _NEVER) < self.interval:
            return
        if len(self._written) >= REMEMBERED_CAPACITY:
            self._written = {d: t for d, t in self._written.items() if now - t < self.interval}
        self._written[digest] = now
        # Timed on the database's clock, as every process's writes must compare (services/clock.py).
        self._pending[digest] = CredentialUse(utcnow() + self.platform.clock.offset, client)
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                try:
                    await self.platform.committer.run(partial(store.record, uses=batch))
                except Exception:
                    # Best effort by design: the credential's next use after the interval writes again.
                    log.warning(
                        "recording credential uses failed",
                        exc_info=True,
                        extra={"action": "credential_uses_failed"},
                    )
        finally:
            self._flushing = None

    async def close(self) -> None:
        """Wait for the write under way (before the group committer closes)."""
        if self._flushing is not None:
            await self._flushing


@dataclass(slots=True, frozen=True)
class TokenUses:
    """The last use of an account's primary and secondary Auth Token (None: not used, or not since it was made;
    `has_secondary` says whether there is a secondary token at all)."""

    primary: CredentialUse | None
    secondary: CredentialUse | None
    has_secondary: bool


async def of_tokens(platform: Platform, account_sid: str) -> TokenUses:
    async with platform.db.read() as conn:
        found = await accounts_store.get_account(conn, account_sid)
        if found is None:
            return TokenUses(None, None, False)
        tokens = found[1]
        digests = [d for d in (tokens.primary_digest, tokens.secondary_digest) if d is not None]
        uses = await store.by_digest(conn, digests)
    secondary = tokens.secondary_digest
    return TokenUses(
        primary=uses.get(tokens.primary_digest),
        secondary=uses.get(secondary) if secondary else None,
        has_secondary=secondary is not None,
    )


async def of_keys(platform: Platform, account_sid: str) -> dict[str, CredentialUse]:
    """The last use of each of the account's API keys that has been used, by key SID."""
    async with platform.db.read() as conn:
        return await store.of_keys(conn, account_sid)
