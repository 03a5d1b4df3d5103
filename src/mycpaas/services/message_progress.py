"""How far a message has come, for pages that follow it while it moves: each status it passed with its time,
and a cheap mark of what changed since a page was drawn.

The database is the truth: every process of a server (`serve --workers N`) moves messages and records webhook
attempts, so a page asks the database again rather than listening to the process that happens to serve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mycpaas.domain.accounts import Account
from mycpaas.domain.messages import Message, MessageStatus
from mycpaas.services.platform import Platform
from mycpaas.storage import messages as store
from mycpaas.storage import webhooks as webhook_store


@dataclass(frozen=True, slots=True)
class Progress:
    """A message as stored now, and the id of its latest webhook attempt (0: none): together they change
    whenever anything a message's page shows does (its status and fields move `updated_at`)."""

    message: Message
    latest_attempt_id: int

    @property
    def mark(self) -> tuple[object, ...]:
        return (self.message.status.value, self.message.updated_at.isoformat(), self.latest_attempt_id)


async def progress(platform: Platform, account: Account, sid: str) -> Progress | None:
    """The account's message and its latest attempt, in one read (two indexed lookups); None if the message
    is not the account's."""
    async with platform.db.read() as conn:
        message = await store.get_message(conn, sid)
        if message is None or message.account_sid != account.sid:
            return None
        return Progress(message, await webhook_store.latest_attempt_id(conn, sid))


async def status_times(platform: Platform, message: Message) -> dict[MessageStatus, datetime]:
    """When the message reached each status it passed after its first (domain/status_times.py)."""
    async with platform.db.read() as conn:
        return await store.status_times(conn, message.sid)
