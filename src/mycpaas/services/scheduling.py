"""Scheduled messages: what happens when their time comes, when they are canceled, and when their Messaging
Service goes.

A scheduled message is stored `scheduled` with its send job due at SendAt, in the durable queue
(storage/queue.py), so it survives restarts and its claim fences it to one sending. The job's transaction
(services/delivery.start_sending, under the job's claim) calls `release`, which enters the message into the
normal send path. A cancel deletes the job and moves the message to `canceled` in one transaction; each side
locks the job row first, so when a cancel races the job exactly one of them wins.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime

import mycpaas.metrics as metrics
from mycpaas.domain.audit import Actor, AuditAction
from mycpaas.domain.clock import utcnow
from mycpaas.domain.jobs import SEND_MESSAGE
from mycpaas.domain.messages import Message, MessageStatus
from mycpaas.domain.webhooks import WebhookEvent, status_callback_event
from mycpaas.errors import ErrorCode, InvalidRequest
from mycpaas.services import audit
from mycpaas.services.platform import Platform
from mycpaas.storage import messages as store
from mycpaas.storage import queue
from mycpaas.storage import webhooks as webhook_store
from mycpaas.storage.database import Connection


async def send_time(platform: Platform, message: Message) -> datetime | None:
    """When a scheduled message will go (its job's time); None for any other message."""
    if message.status is not MessageStatus.SCHEDULED:
        return None
    async with platform.db.read() as conn:
        return await store.send_time(conn, message.sid)


async def release(conn: Connection, message: Message, now: datetime) -> Message | None:
    """A scheduled message whose job runs now enters the send path, its ValidityPeriod starting now: it goes
    `accepted`, as a message sent through its service now would, and the caller (start_sending) has the pool
    pick or check its sender in this same transaction (services/service_sending.assign_senders: the account
    must still be active and a From still in the pool, else it fails with its callback). None if it was no
    longer scheduled. `accepted` is where a message waits for its sender, not news: no callback for it."""
    values: dict[str, object] = {}
    if message.validity_period is not None:
        # ValidityPeriod is how long a message may wait in the queue, which it enters now: the period is
        # counted from the message's creation (services/delivery.is_expired), so the wait until now is added.
        # Rounded up, so that the period left is never shorter than asked; `now` is the one is_expired is given.
        waited = math.ceil((now - message.created_at).total_seconds())
        values["validity_period"] = message.validity_period + max(0, waited)
    status = MessageStatus.ACCEPTED
    if not await store.advance_status(conn, message.sid, status, [MessageStatus.SCHEDULED], now, **values):
        return None
    return replace(message, status=status, updated_at=now, **values)  # type: ignore[arg-type]


async def cancel(platform: Platform, message: Message, actor: Actor | None = None) -> Message:
    """`Status=canceled` on a scheduled message: its job goes and it becomes `canceled`, in one transaction
    (with an audit entry when a person, `actor`, did it); 30409 if it is no longer scheduled (its job ran
    first, or it never was)."""
    if message.status is not MessageStatus.SCHEDULED:
        raise InvalidRequest(ErrorCode.NOT_CANCELABLE)
    now = utcnow()
    async with platform.db.write() as conn:
        canceled = await _cancel(conn, message, now)
        if canceled is None:
            raise InvalidRequest(ErrorCode.NOT_CANCELABLE)  # rolls back the job's deletion
        if actor is not None:
            await audit.record(
                conn, message.account_sid, AuditAction.MESSAGE_CANCELED, actor, now, message.sid
            )
        notify = await webhook_store.queue_events(
            conn, [status_callback_event(canceled, canceled.status)], now
        )
    if notify:
        platform.wake_webhooks(notify)
    metrics.message_finished(MessageStatus.CANCELED.value)
    return canceled


async def cancel_for_service(conn: Connection, service_sid: str, now: datetime) -> int:
    """In the transaction that deletes a service: its scheduled messages are canceled (they could no longer
    get a sender). Returns how many; their callbacks are queued with them (the caller wakes the webhooks)."""
    return await _cancel_all(conn, await store.scheduled_of_service(conn, service_sid), now)


async def cancel_for_account(conn: Connection, account_sid: str, now: datetime) -> int:
    """In the transaction that closes an account: its scheduled messages are canceled (a closed account sends
    nothing, and its numbers are released). Returns how many, as `cancel_for_service`."""
    return await _cancel_all(conn, await store.scheduled_of_account(conn, account_sid), now)


async def _cancel_all(conn: Connection, scheduled: list[Message], now: datetime) -> int:
    events: list[WebhookEvent | None] = []
    for message in scheduled:
        canceled = await _cancel(conn, message, now)
        if canceled is not None:
            events.append(status_callback_event(canceled, canceled.status))
    await webhook_store.queue_events(conn, events, now)
    metrics.message_finished(MessageStatus.CANCELED.value, count=len(events))
    return len(events)


async def _cancel(conn: Connection, message: Message, now: datetime) -> Message | None:
    # The job row first: start_sending locks it (queue.owned) before it touches the message, so the two
    # take their locks in the same order and wait for each other instead of deadlocking.
    await queue.delete_for_ref(conn, [SEND_MESSAGE], message.sid)
    if not await store.advance_status(
        conn, message.sid, MessageStatus.CANCELED, [MessageStatus.SCHEDULED], now
    ):
        return None
    return replace(message, status=MessageStatus.CANCELED, updated_at=now)
