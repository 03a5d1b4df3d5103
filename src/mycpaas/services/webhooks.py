"""Use cases of webhooks: events enqueued with their cause, claimed by the dispatcher, settled after each
attempt, and inbound replies turned into messages.

An event's job is inserted in the same transaction as the status change or inbound message that caused it,
so a crash between the two cannot lose a callback. Jobs of one message run in id order: the dispatcher holds a
later event back until every earlier one has settled (`Dispatch.before`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import mycpaas.metrics as metrics
from mycpaas.domain.accounts import AccountStatus
from mycpaas.domain.clock import utcnow
from mycpaas.domain.jobs import Job
from mycpaas.domain.messages import Direction, Message
from mycpaas.domain.webhooks import (
    EVENT_KINDS,
    AttemptOutcome,
    WebhookAttempt,
    WebhookEvent,
)
from mycpaas.errors import ErrorCode, InvalidRequest
from mycpaas.services import messaging
from mycpaas.services.platform import Platform
from mycpaas.storage import accounts as account_store
from mycpaas.storage import messages as message_store
from mycpaas.storage import messaging_services as service_store
from mycpaas.storage import queue
from mycpaas.storage import webhooks as store
from mycpaas.storage.database import Connection

log = logging.getLogger("mycpaas.webhooks")


def skipped(event: WebhookEvent, reason: str) -> WebhookAttempt:
    """The record of an event that is not sent (e.g. a status the message had already passed)."""
    return WebhookAttempt.of(event, 0, AttemptOutcome.SKIPPED, error_message=reason)


async def record_skipped(conn: Connection, attempts: Sequence[WebhookAttempt]) -> None:
    await store.insert_attempts(conn, attempts)


@dataclass(slots=True)
class Dispatch:
    job: Job
    event: WebhookEvent
    auth_token: str = field(repr=False)
    before: tuple[int, ...]  # ids of earlier jobs of the same message, all of which must settle first


async def prepare(platform: Platform, claimed: Sequence[Job]) -> tuple[list[Dispatch], list[Job]]:
    """Load what sending claimed webhook jobs needs: the event, the signing token and the ordering. Jobs that
    cannot be sent (unreadable, account gone or closed) are finished here, under their claims. Returns the
    dispatches, and the jobs that must wait (their account's token cannot be read now)."""
    events = {job.id: _event(job) for job in claimed}
    async with platform.db.read() as conn:
        accounts = await account_store.get_accounts_with_tokens(
            conn, {event.account_sid for event in events.values() if event is not None}
        )
        pending = await queue.pending_ids(conn, EVENT_KINDS, sorted({job.ref for job in claimed}))
    sendable: list[tuple[Job, WebhookEvent]] = []
    unsendable: list[Job] = []
    for job in claimed:
        event = events[job.id]
        found = accounts.get(event.account_sid) if event else None
        if event and found and found[0].status is not AccountStatus.CLOSED:
            sendable.append((job, event))
        else:
            unsendable.append(job)
    if unsendable:  # rare: a write transaction only then
        async with platform.db.write() as conn:
            await queue.finish(conn, unsendable)
    tokens: dict[str, str | None] = {}
    dispatches: list[Dispatch] = []
    waiting: list[Job] = []
    for job, event in sendable:
        if event.account_sid not in tokens:
            account, stored = accounts[event.account_sid]
            try:
                tokens[event.account_sid] = platform.secrets.decrypt(stored.primary_sealed, account.sid)
            except Exception:
                # Only this account's jobs wait; the rest of the batch goes on.
                log.error(
                    "cannot read the signing token of %s", account.sid, extra={"action": "webhook_no_token"}
                )
                tokens[event.account_sid] = None
        token = tokens[event.account_sid]
        if token is None:
            waiting.append(job)
            continue
        before = tuple(i for i in pending.get(job.ref, ()) if i < job.id)
        dispatches.append(Dispatch(job, event, token, before))
    return dispatches, waiting


def _event(job: Job) -> WebhookEvent | None:
    try:
        return WebhookEvent.from_json(job.payload or "")
    except (ValueError, TypeError, KeyError):
        log.error("webhook job %s has an unreadable payload", job.id, extra={"action": "webhook_bad_job"})
        return None


@dataclass(slots=True)
class Settlement:
    """What one turn of a webhook job leaves behind: its attempt records and the job's fate."""

    job: Job  # its outcome is written only under the claim this job holds
    attempts: list[WebhookAttempt] = field(default_factory=list)
    retry_at: datetime | None = None  # try again then; otherwise the job is finished
    follow_up: WebhookEvent | None = None  # e.g. the same inbound message for the SmsFallbackUrl
    error: str = ""
    counted: bool = False  # its attempts are in the metrics (a batch retried item by item counts them once)

    @property
    def job_id(self) -> int:
        return self.job.id


async def settle(platform: Platform, settlements: Sequence[Settlement]) -> list[None]:
    """Write the outcomes of many attempts in one transaction, each job's only under its claim."""
    if not settlements:
        return []
    now = utcnow()

    async def work(conn: Connection) -> None:
        await store.insert_attempts(conn, [a for s in settlements for a in s.attempts])
        finished = await queue.finish(conn, [s.job for s in settlements if s.retry_at is None])
        for settlement in settlements:
            if settlement.retry_at is not None:
                await queue.retry(conn, settlement.job, settlement.retry_at, settlement.error)
        # A follow-up (the fallback request) is queued once, by the runner whose claim finished the job.
        await store.queue_events(conn, (s.follow_up for s in settlements if s.job.id in finished), now)

    await platform.committer.run(work)
    return [None] * len(settlements)


class JobTakenOver(Exception):
    """The job was finished or claimed elsewhere while this process worked on it."""


@dataclass(frozen=True, slots=True)
class ReplyRequest:
    to: str | None
    from_: str | None
    body: str
    media: tuple[str, ...]
    status_callback: str | None


async def settle_with_replies(
    platform: Platform, settlement: Settlement, event: WebhookEvent, replies: Sequence[ReplyRequest]
) -> list[Message]:
    """Create the messages an inbound message's LaML asked for, and finish its job, in one transaction: a
    crash cannot send a reply twice or lose it. A reply that fails validation is recorded, not sent. A reply
    to a message a Messaging Service received carries the service's sid when it goes from the same number, and
    the service's status callback when the reply names none (as a message sent through the service would)."""
    service_sid = event.params.get("MessagingServiceSid")
    async with platform.db.read() as conn:
        found = await account_store.get_account(conn, event.account_sid)
        service = await service_store.get_service(conn, service_sid) if service_sid else None
    messages: list[Message] = []
    if found is not None:
        account = found[0]
        for reply in replies:
            request = messaging.SendRequest(
                to=reply.to or event.params.get("From"),
                from_=reply.from_ or event.params.get("To"),
                messaging_service_sid=None,
                body=reply.body,
                media_urls=list(reply.media),
                status_callback=reply.status_callback,
                direction=Direction.OUTBOUND_REPLY,
            )
            try:
                reply_message = await messaging.compose(platform, account, request)
            except InvalidRequest as refused:
                attempt = skipped(event, f"reply not sent: {refused.message}")
                attempt.error_code = int(refused.code)
                settlement.attempts.append(attempt)
                continue
            # A reply from the pool number that received the message is the service's, as at Twilio.
            if service and reply_message.from_number == event.params.get("To"):
                reply_message.messaging_service_sid = service.sid
                if not reply.status_callback and service.status_callback:
                    reply_message.status_callback = service.status_callback
            messages.append(reply_message)
    now = utcnow()

    async def work(conn: Connection) -> None:
        await message_store.insert_new(conn, messages)
        if not await queue.finish(conn, [settlement.job]):
            # Another runner took the job over (our lease ran out): roll back, so its replies go out once.
            raise JobTakenOver(settlement.job.id)
        await store.insert_attempts(conn, settlement.attempts)
        await store.queue_events(conn, [settlement.follow_up], now)

    await platform.committer.run(work)
    for message in messages:
        metrics.message_created(message.direction.value, message.num_segments)
    if messages:
        platform.wake_worker()
    return messages


async def list_attempts(
    platform: Platform, message: Message, page_size: int, page_token: str | None
) -> list[WebhookAttempt]:
    """A message's webhook attempts, oldest first. Page tokens are `PA<sid of the last attempt seen>`."""
    async with platform.db.read() as conn:
        after_id = None
        if page_token:
            after_id = (
                await store.cursor_id(conn, message.sid, page_token[2:])
                if page_token.startswith("PA")
                else None
            )
            if after_id is None:
                raise InvalidRequest(ErrorCode.INVALID_PAGE_TOKEN)
        return await store.list_for_message(conn, message.sid, page_size, after_id)
