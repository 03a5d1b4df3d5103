"""Use cases of the delivery pipeline: every status change of a message after its creation goes through here.

Changes only move forward (domain/messages.ALLOWED_PREDECESSORS), enforced by a conditional UPDATE, so a late
or repeated event can never regress a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from mycpaas.domain.accounts import AccountStatus
from mycpaas.domain.carriage import OUTCOMES, InboundSms, Outcome, Receipt, Submitted
from mycpaas.domain.clock import utcnow
from mycpaas.domain.jobs import Job
from mycpaas.domain.messages import ALLOWED_PREDECESSORS, Direction, Message, MessageStatus
from mycpaas.domain.segments import split_parts
from mycpaas.domain.sids import Prefix, new_sid
from mycpaas.domain.webhooks import WebhookEvent, incoming_message_event, status_callback_event
from mycpaas.services import webhooks
from mycpaas.services.messaging import SEND_JOB
from mycpaas.services.platform import Platform
from mycpaas.storage import accounts as account_store
from mycpaas.storage import messages as store
from mycpaas.storage import numbers as number_store
from mycpaas.storage import parts, queue
from mycpaas.storage.database import Connection
from mycpaas.storage.parts import SubmittedPart

log = logging.getLogger("mycpaas.delivery")


def is_expired(message: Message) -> bool:
    if message.validity_period is None:
        return False
    return utcnow() > message.created_at + timedelta(seconds=message.validity_period)


Pace = Callable[[Message], float]
"""Seconds a message must wait for its sender's rate limit; 0 = send now (delivery/pacing.py)."""


async def start_sending(
    platform: Platform, jobs: list[Job], pace: Pace | None = None
) -> list[tuple[Job, Message]]:
    """Take a batch of send jobs: the messages still to send move to `sending` together; jobs whose message
    is gone or already past sending are finished, messages whose ValidityPeriod ran out fail with 30001, and
    messages whose sender is over its rate stay queued with their job postponed. Returns what the carrier
    should be given."""
    now = utcnow()
    expired_status, expired_error = OUTCOMES[Outcome.EXPIRED]
    assert expired_error is not None

    async def work(conn: Connection) -> tuple[list[tuple[Job, Message]], bool]:
        found = {m.sid: m for m in await store.get_many(conn, [job.ref for job in jobs])}
        ready: list[tuple[Job, Message]] = []
        done: list[int] = []
        events: list[WebhookEvent | None] = []
        for job in jobs:
            message = found.get(job.ref)
            if message is None or message.status not in (MessageStatus.QUEUED, MessageStatus.SENDING):
                done.append(job.id)
            elif is_expired(message):
                failed = replace(message, error_code=int(expired_error), error_message=expired_error.template)
                if await store.advance_status(
                    conn,
                    message.sid,
                    expired_status,
                    ALLOWED_PREDECESSORS[expired_status],
                    now,
                    error_code=failed.error_code,
                    error_message=failed.error_message,
                ):
                    events.append(status_callback_event(failed, expired_status))
                done.append(job.id)
            elif pace is not None and (hold := pace(message)) > 0:
                await queue.postpone(conn, [job.id], now + timedelta(seconds=hold))
            else:
                ready.append((job, message))
        await store.mark_sending(conn, [m.sid for _, m in ready], now)
        # A message already `sending` was claimed before a crash; its callback was queued then.
        events += [
            status_callback_event(m, MessageStatus.SENDING)
            for _, m in ready
            if m.status is MessageStatus.QUEUED
        ]
        await queue.finish_many(conn, done)
        return ready, await queue.enqueue_events(conn, events, now)

    ready, notify = await platform.committer.run(work)
    if notify:
        platform.wake_webhooks()
    return ready


async def _change(
    platform: Platform,
    message: Message,
    status: MessageStatus,
    job_id: int | None,
    **values: object,
) -> None:
    """One status change of one message, its callback queued and its job finished, in one transaction.
    A change the message has already moved past is not applied and its callback is recorded as skipped."""
    now = utcnow()

    async def work(conn: Connection) -> bool:
        changed = await store.advance_status(
            conn, message.sid, status, ALLOWED_PREDECESSORS[status], now, **values
        )
        event = status_callback_event(replace(message, **values), status)  # type: ignore[arg-type]
        if job_id is not None:
            await queue.finish(conn, job_id)
        if changed:
            return await queue.enqueue_events(conn, [event], now)
        if event is not None:
            await _skip_late(conn, event)
        return False

    if await platform.committer.run(work):
        platform.wake_webhooks()


async def _skip_late(conn: Connection, event: WebhookEvent) -> None:
    current = await store.get_message(conn, event.message_sid)
    where = current.status.value if current else "deleted"
    reason = f"status {event.message_status} arrived after the message was {where}; no callback sent"
    await webhooks.record_skipped(conn, [webhooks.skipped(event, reason)])


async def record_submitted(platform: Platform, message: Message, submitted: Submitted, job_id: int) -> None:
    await record_submitted_many(platform, [(message, submitted, job_id)])


async def record_submitted_many(platform: Platform, accepted: list[tuple[Message, Submitted, int]]) -> None:
    """sending -> sent, the parts' carrier ids recorded and the jobs done, for a batch, in one transaction and
    a handful of statements. Receipts that overtook the submit responses (kept in pending_receipts) are
    applied in the same transaction."""
    now = utcnow()

    async def work(conn: Connection) -> bool:
        carrier_ids = {message.sid: submitted.part_ids[0] for message, submitted, _ in accepted}
        sent = await store.advance_many_returning(
            conn,
            list(carrier_ids),
            MessageStatus.SENT,
            ALLOWED_PREDECESSORS[MessageStatus.SENT],
            now,
            sent_at=now,
        )
        await store.set_carrier_ids(conn, list(carrier_ids.items()))
        events: list[WebhookEvent | None] = [
            status_callback_event(replace(m, carrier_message_id=carrier_ids[m.sid]), MessageStatus.SENT)
            for m in sent
        ]
        for message, submitted, _ in accepted:
            await parts.insert_parts(conn, message.sid, submitted.carrier, submitted.part_ids, now)
        await queue.finish_many(conn, [job_id for _, _, job_id in accepted])
        if platform.receipts_waiting:
            for message, submitted, _ in accepted:
                lookups = submitted.lookup_ids or submitted.part_ids
                for receipt in await parts.pending_for(conn, submitted.carrier, lookups):
                    part = await _part_for(conn, receipt.carrier, receipt.ids, alternates=True)
                    if part is not None and part.message_sid == message.sid:
                        events += await _settle(conn, part, Outcome(receipt.outcome), now)
                        await parts.forget_pending(conn, [receipt.id])
        return await queue.enqueue_events(conn, events, now)

    if await platform.committer.run(work):
        platform.wake_webhooks()


async def record_failed(
    platform: Platform, message: Message, outcome: Outcome, job_id: int, accepted: Submitted | None = None
) -> None:
    """The carrier refused the message (or it could not be sent at all): failed, with the outcome's code.
    Parts the carrier took before refusing a later one are recorded, so their receipts are matched (and,
    arriving after the failure, recorded as late) instead of waiting unmatched for ever."""
    _, error = OUTCOMES[outcome]
    values: dict[str, object] = {}
    if error is not None:
        values.update(error_code=int(error), error_message=error.template)
    if accepted is not None and accepted.part_ids:
        await platform.committer.run(
            lambda conn: parts.insert_parts(conn, message.sid, accepted.carrier, accepted.part_ids, utcnow())
        )
    await _change(platform, message, MessageStatus.FAILED, job_id, **values)


def _final_outcome(outcomes: list[Outcome]) -> Outcome:
    """A multipart message is delivered when every part is; otherwise it ends as its first failed part."""
    return next((o for o in outcomes if o is not Outcome.DELIVERED), Outcome.DELIVERED)


async def _settle(
    conn: Connection, part: SubmittedPart, outcome: Outcome, now: datetime
) -> list[WebhookEvent | None]:
    """Apply one part's receipt. Returns the callbacks to queue."""
    final = outcome
    if part.total > 1:
        await parts.settle_part(conn, part.id, outcome.value)
        outcomes = await parts.part_outcomes(conn, part.message_sid)
        if any(o is None for o in outcomes):
            return []
        final = _final_outcome([Outcome(o) for o in outcomes if o is not None])
    status, values = _final_values(final)
    changed = await store.advance_returning(
        conn, part.message_sid, status, ALLOWED_PREDECESSORS[status], now, **values
    )
    if changed is not None:
        return [status_callback_event(changed, status)]
    await _skip_late_status(conn, part.message_sid, status, values)
    return []


async def _part_for(
    conn: Connection, carrier: str, ids: tuple[str, ...], alternates: bool
) -> SubmittedPart | None:
    """The part a receipt is for: by the id as reported, then (if allowed) by each other reading in turn."""
    for candidate in ids if alternates else ids[:1]:
        part = await parts.find_part(conn, carrier, (candidate,))
        if part is not None:
            return part
    return None


def _final_values(outcome: Outcome) -> tuple[MessageStatus, dict[str, object]]:
    status, error = OUTCOMES[outcome]
    values: dict[str, object] = {}
    if error is not None:
        values.update(error_code=int(error), error_message=error.template)
    return status, values


async def _skip_late_status(
    conn: Connection, sid: str, status: MessageStatus, values: dict[str, object]
) -> None:
    late = await store.get_message(conn, sid)
    if late is not None:
        event = status_callback_event(replace(late, **values), status)  # type: ignore[arg-type]
        if event is not None:
            await _skip_late(conn, event)


async def apply_receipt(platform: Platform, receipt: Receipt) -> None:
    await apply_receipts(platform, [receipt])


async def apply_receipts(platform: Platform, receipts: list[Receipt]) -> None:
    """Apply a batch of receipts in one transaction; one whose part is not known yet is kept in
    pending_receipts (and retried), so every receipt is durable once this returns and the carrier may
    acknowledge it. Receipts of single-part messages with the same outcome change in one statement."""
    now = utcnow()

    async def work(conn: Connection) -> bool:
        # By the id as reported only: its other readings (hex/decimal) could name another message, so they
        # are tried later, by the sweep, once the id as reported has had time to be recorded.
        known: dict[tuple[str, str], SubmittedPart] = {}
        for carrier in {r.carrier for r in receipts}:
            ids = [r.carrier_message_ids[0] for r in receipts if r.carrier == carrier]
            found = await parts.find_parts(conn, carrier, ids)
            known.update(((carrier, i), part) for i, part in found.items())
        events: list[WebhookEvent | None] = []
        single: dict[Outcome, list[str]] = {}
        unmatched: list[tuple[str, tuple[str, ...], str]] = []
        for receipt in receipts:
            part = known.get((receipt.carrier, receipt.carrier_message_ids[0]))
            if part is None:
                unmatched.append((receipt.carrier, receipt.carrier_message_ids, receipt.outcome.value))
            elif part.total > 1:
                events += await _settle(conn, part, receipt.outcome, now)
            else:
                single.setdefault(receipt.outcome, []).append(part.message_sid)
        for outcome, sids in single.items():
            status, values = _final_values(outcome)
            changed = await store.advance_many_returning(
                conn, sids, status, ALLOWED_PREDECESSORS[status], now, **values
            )
            events += [status_callback_event(m, status) for m in changed]
            for sid in set(sids) - {m.sid for m in changed}:
                await _skip_late_status(conn, sid, status, values)
        if unmatched:
            await parts.keep_pending(conn, unmatched, now)
            platform.receipts_waiting = True
        return await queue.enqueue_events(conn, events, now)

    if await platform.committer.run(work):
        platform.wake_webhooks()


async def retry_pending_receipts(platform: Platform, limit: int = 500) -> tuple[int, int]:
    """Apply kept receipts whose part has since become known. Returns (applied, still pending)."""
    now = utcnow()

    async def work(conn: Connection) -> tuple[int, int, bool]:
        waiting = await parts.oldest_pending(conn, limit)
        if not waiting:
            platform.receipts_waiting = False
        applied: list[int] = []
        events: list[WebhookEvent | None] = []
        for receipt in waiting:
            # Other readings of the id only after the id as reported had two sweeps to turn up.
            part = await _part_for(conn, receipt.carrier, receipt.ids, alternates=receipt.attempts >= 2)
            if part is not None:
                applied.append(receipt.id)
                events += await _settle(conn, part, Outcome(receipt.outcome), now)
        await parts.forget_pending(conn, applied)
        await parts.count_attempt(conn, [r.id for r in waiting if r.id not in applied])
        notify = await queue.enqueue_events(conn, events, now)
        return len(applied), len(waiting) - len(applied), notify

    applied, still, notify = await platform.committer.run(work)
    if notify:
        platform.wake_webhooks()
    return applied, still


async def record_inbound(platform: Platform, sms: InboundSms) -> Message | None:
    """Keep an inbound message for a number the platform owns; drop anything else (and redeliveries). A part
    of a concatenated message is stored until its last part arrives, then the whole message is kept. The
    write goes through the group committer, which runs one unit at a time: two parts of one message arriving
    together cannot each miss the other (as they could in two concurrent READ COMMITTED transactions)."""
    now = utcnow()
    async with platform.db.read() as conn:
        if await number_store.owner_of(conn, sms.destination) is None:
            return None

    async def work(conn: Connection) -> tuple[Message | None, bool]:
        number = await number_store.find_by_phone_number(conn, sms.destination)
        if number is None:
            return None, False
        found = await account_store.get_account(conn, number.account_sid)
        if found is None or found[0].status is not AccountStatus.ACTIVE:
            return None, False
        if await store.get_by_carrier_id(conn, sms.carrier_message_id) is not None:
            return None, False
        body = sms.text
        if sms.part is not None:
            texts = await parts.add_inbound_part(
                conn, sms.carrier, sms.source, sms.destination, sms.part, sms.text, now
            )
            if texts is None:
                return None, False
            body = "".join(texts)
        segmentation = split_parts(body)
        message = Message(
            sid=new_sid(Prefix.MESSAGE),
            account_sid=number.account_sid,
            direction=Direction.INBOUND,
            from_number=sms.source,
            to_number=sms.destination,
            body=body,
            status=MessageStatus.RECEIVED,
            num_segments=segmentation.count,
            num_media=0,
            encoding=segmentation.encoding.value,
            error_code=None,
            error_message=None,
            status_callback=None,
            validity_period=None,
            messaging_service_sid=None,
            price=None,
            price_unit="USD",
            carrier_message_id=sms.carrier_message_id,
            created_at=now,
            updated_at=now,
            sent_at=now,
        )
        await store.insert_message(conn, message)
        if not number.sms_url:
            return message, False
        event = incoming_message_event(
            message, number.sms_url, number.sms_method, number.sms_fallback_url, number.sms_fallback_method
        )
        return message, await queue.enqueue_events(conn, [event], now)

    message, notify = await platform.committer.run(work)
    if notify:
        platform.wake_webhooks()
    return message


async def awaiting_receipts(platform: Platform) -> list[Message]:
    async with platform.db.read() as conn:
        return await store.list_awaiting_receipt(conn)


async def claim_jobs(platform: Platform, limit: int) -> list[Job]:
    now = utcnow()
    lease = timedelta(seconds=platform.settings.worker_lease_seconds)
    async with platform.db.write() as conn:
        return await queue.claim(conn, [SEND_JOB], now, now + lease, limit)


async def extend_leases(platform: Platform, job_ids: list[int]) -> None:
    if not job_ids:
        return  # an idle worker takes no write lock
    lease = timedelta(seconds=platform.settings.worker_lease_seconds)
    async with platform.db.write() as conn:
        await queue.extend_leases(conn, job_ids, utcnow() + lease)


async def retry_job(platform: Platform, job: Job, delay_seconds: float, error: str) -> None:
    async with platform.db.write() as conn:
        await queue.retry(conn, job.id, utcnow() + timedelta(seconds=delay_seconds), error)
