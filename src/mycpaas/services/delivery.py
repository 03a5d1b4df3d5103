"""Use cases of sending: a claimed send job takes its message to `sending`, then to `sent` (or `failed`) as
the carrier answers. Receipts are services/receipts.py, inbound messages services/inbound.py.

Every write about a send job is made under the job's claim (storage/queue.py): a runner that lost its claim
may still record what the carrier already accepted (`sent`, the parts' ids: safe to repeat, and the message
is never sent again for it), but it cannot finish, retry or postpone the job.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import mycpaas.metrics as metrics
from mycpaas.domain.carriage import Outcome, Submitted
from mycpaas.domain.clock import utcnow
from mycpaas.domain.jobs import Job
from mycpaas.domain.messages import ALLOWED_PREDECESSORS, Message, MessageStatus
from mycpaas.domain.senders import kept_payload, kept_slot, sender_kind, take_slot
from mycpaas.domain.webhooks import WebhookEvent, status_callback_event
from mycpaas.services import receipts, scheduling, service_sending
from mycpaas.services.platform import Platform
from mycpaas.storage import messages as store
from mycpaas.storage import parts, queue, senders
from mycpaas.storage import webhooks as webhook_store
from mycpaas.storage.database import Connection


def is_expired(message: Message, now: datetime) -> bool:
    """Whether the message's ValidityPeriod, counted from its creation, ended before `now` (the batch's clock,
    the same one a scheduled message's release counted its wait with)."""
    if message.validity_period is None:
        return False
    return now > message.created_at + timedelta(seconds=message.validity_period)


IDLE_SENDER = timedelta(hours=1)


@dataclass(slots=True, frozen=True)
class Sending:
    """A message to hand to the carrier, at `at` on the database's clock if its sender is rate-limited (its
    slot: the caller waits for it, however long committing took)."""

    job: Job
    message: Message
    at: datetime | None = None


async def start_sending(platform: Platform, jobs: list[Job]) -> list[Sending]:
    """Take a batch of claimed send jobs: the messages still to send move to `sending` together (those sent
    through a Messaging Service with no sender yet get one first: services/service_sending.py); jobs whose
    message is gone or already past sending are finished, messages whose ValidityPeriod ran out fail with
    30001, and messages whose sender is over its rate stay queued with their job postponed to the slot kept
    for it. Returns what the carrier should be given; every other job of the batch is ended.

    A rate-limited sender's slots come from its timeline in `sender_slots`, locked by this transaction and
    timed on the database's clock, so two delivery processes together keep the sender's rate (and its
    queue, which 21611 limits when messages are created, drains at that rate)."""
    now = utcnow()
    expired_status, expired_values = receipts.outcome_values(Outcome.EXPIRED)

    def interval(sender: str) -> timedelta:
        rate = platform.settings.sender_mps(sender_kind(sender))
        return timedelta(seconds=1.0 / rate) if rate > 0 else timedelta(0)

    async def work(conn: Connection) -> tuple[list[Sending], frozenset[str]]:
        ours = set(await queue.owned(conn, jobs))  # a claim that lapsed since is another runner's to start
        found = {m.sid: m for m in await store.get_many(conn, [job.ref for job in jobs if job.id in ours])}
        candidates: list[tuple[Job, Message]] = []
        unassigned: list[tuple[Job, Message]] = []
        done: list[Job] = []
        events: list[WebhookEvent | None] = []
        for job in (job for job in jobs if job.id in ours):
            message = found.get(job.ref)
            if message is not None and message.status is MessageStatus.SCHEDULED:
                message = await scheduling.release(conn, message, now)  # its SendAt has come
            if message is None or (
                message.status not in (MessageStatus.QUEUED, MessageStatus.SENDING)
                and not service_sending.awaits_sender(message)
            ):
                done.append(job)
            elif is_expired(message, now):
                if await store.advance_status(
                    conn,
                    message.sid,
                    expired_status,
                    ALLOWED_PREDECESSORS[expired_status],
                    now,
                    **expired_values,
                ):
                    events.append(status_callback_event(replace(message, **expired_values), expired_status))  # type: ignore[arg-type]
                    metrics.message_finished(expired_status.value, expired_values.get("error_code"))
                done.append(job)
            elif service_sending.awaits_sender(message):
                unassigned.append((job, message))
            else:
                candidates.append((job, message))
        if unassigned:
            # Messages sent through a Messaging Service get their sender now, then go on like the others.
            assigned = await service_sending.assign_senders(
                conn, platform.settings, [m for _, m in unassigned], now
            )
            events += assigned.events
            queued = {m.sid: m for m in assigned.queued}
            for job, message in unassigned:
                if message.sid in queued:
                    candidates.append((job, queued[message.sid]))
                else:
                    done.append(job)
        clock = await platform.clock.now()
        # Each sender's interval once per batch (classifying the number per message was 0.6% of the server's
        # CPU under the create load with the worker on); unlimited senders (rate 0) touch no timeline.
        intervals = {sender: interval(sender) for sender in {m.from_number or "" for _, m in candidates}}
        lines = await senders.lock(
            conn, {sender for sender, every in intervals.items() if every > timedelta(0)}
        )
        ready: list[Sending] = []
        postponed: list[tuple[Job, datetime, str | None]] = []
        for job, message in candidates:
            line = lines.get(message.from_number or "")
            if line is None:
                ready.append(Sending(job, message))
                continue
            admitted, at = take_slot(
                line, intervals[message.from_number or ""], clock, kept_slot(job.payload)
            )
            if admitted:
                ready.append(Sending(job, message, at))
            else:
                postponed.append((job, at, kept_payload(at)))
        await senders.save(conn, lines)
        await queue.postpone_each(conn, postponed)
        await store.mark_sending(conn, [s.message.sid for s in ready], now)
        # A message already `sending` was claimed before a crash; its callback was queued then.
        events += [
            status_callback_event(s.message, MessageStatus.SENDING)
            for s in ready
            if s.message.status is MessageStatus.QUEUED
        ]
        await queue.finish(conn, done)
        return ready, await webhook_store.queue_events(conn, events, now)

    ready, notify = await platform.committer.run(work)
    if notify:
        platform.wake_webhooks(notify)
    return ready


async def forget_idle_senders(platform: Platform) -> None:
    """Drop the timelines of senders with no slot in the last hour: every slot kept for a postponed job is
    before its timeline's next one, so none is lost."""
    before = await platform.clock.now() - IDLE_SENDER
    async with platform.db.write() as conn:
        await senders.forget_idle(conn, before)


async def record_submitted(
    platform: Platform,
    accepted: list[tuple[Message, Submitted, Job]],
    overtaken: receipts.Overtaken | None = None,
) -> None:
    """sending -> sent, the parts' carrier ids recorded and the jobs finished (under their claims), for a
    batch, in one transaction and a handful of statements. Receipts that overtook the submit responses (kept
    in pending_receipts) are applied in the same transaction, unless none is waiting (`overtaken`, this
    process's hint, and one look at the table for those that other processes kept)."""
    now = utcnow()

    async def work(conn: Connection) -> frozenset[str]:
        carrier_ids = {message.sid: submitted.part_ids[0] for message, submitted, _ in accepted}
        await parts.insert_parts_of(
            conn,
            [(message.sid, submitted.carrier, submitted.part_ids) for message, submitted, _ in accepted],
            now,
        )
        # Each message's carrier_message_id is the first part's id of the submission just recorded (the one
        # with the newest part rows if a batch held a message twice), set with the status (one UPDATE on SQLite).
        sent = await store.record_sent(conn, carrier_ids, ALLOWED_PREDECESSORS[MessageStatus.SENT], now)
        events: list[WebhookEvent | None] = [status_callback_event(m, MessageStatus.SENT) for m in sent]
        await queue.finish(conn, [job for _, _, job in accepted])
        # The hint is this process's; a receipt kept by another process (which received it on its bind of
        # the account) is found by the cheap look at the table.
        if overtaken is None or overtaken.waiting or await parts.any_pending(conn):
            events += await _apply_overtaken(conn, accepted, now)
        return await webhook_store.queue_events(conn, events, now)

    if notify := await platform.committer.run(work):
        platform.wake_webhooks(notify)


async def _apply_overtaken(
    conn: Connection, accepted: list[tuple[Message, Submitted, Job]], now: datetime
) -> list[WebhookEvent | None]:
    """Apply the kept receipts of a batch's messages: one look-up per carrier for the whole batch (a look-up per
    message was a statement per message whenever any receipt was kept), then each receipt found as before."""
    ours: dict[str, dict[str, str]] = {}  # carrier -> id reading -> message sid
    for message, submitted, _ in accepted:
        for lookup in submitted.lookup_ids or submitted.part_ids:
            ours.setdefault(submitted.carrier, {})[lookup] = message.sid
    events: list[WebhookEvent | None] = []
    for carrier, lookups in ours.items():
        sids = set(lookups.values())
        applied: list[int] = []
        for receipt in await parts.pending_for(conn, carrier, list(lookups)):
            part = await receipts.part_for(conn, receipt.carrier, receipt.ids, alternates=True)
            if part is not None and part.message_sid in sids:
                events += await receipts.settle_part(conn, part, Outcome(receipt.outcome), now)
                applied.append(receipt.id)
        await parts.forget_pending(conn, applied)
    return events


async def record_failed(
    platform: Platform, message: Message, outcome: Outcome, job: Job, accepted: Submitted | None = None
) -> None:
    """The carrier refused the message (or it could not be sent at all): failed, with the outcome's code,
    its callback queued and its job finished (under its claim), in one transaction. Parts the carrier took
    before refusing a later one are recorded, so their receipts are matched (and, arriving after the
    failure, recorded as late) instead of waiting unmatched for ever. A change the message has already moved
    past is not applied and its callback is recorded as skipped; so is one whose job this runner no longer holds
    (only the accepted parts are recorded then)."""
    status, values = receipts.outcome_values(outcome)
    status = MessageStatus.FAILED
    now = utcnow()

    async def work(conn: Connection) -> frozenset[str]:
        if accepted is not None and accepted.part_ids:
            await parts.insert_parts(conn, message.sid, accepted.carrier, accepted.part_ids, now)
        event = status_callback_event(replace(message, **values), status)  # type: ignore[arg-type]
        # Under a lost claim (the job claimed elsewhere since, or already ended), the runner that holds it
        # decides the message's fate; this report is kept in the attempt log as late, like any other.
        changed = await queue.finish(conn, [job]) and await store.advance_status(
            conn, message.sid, status, ALLOWED_PREDECESSORS[status], now, **values
        )
        if changed:
            metrics.message_finished(status.value, values.get("error_code"))
            return await webhook_store.queue_events(conn, [event], now)
        if event is not None:
            await receipts.skip_late(conn, event)
        return frozenset()

    if notify := await platform.committer.run(work):
        platform.wake_webhooks(notify)


async def awaiting_receipts(platform: Platform, through: str) -> list[Message]:
    """Messages still awaiting a receipt from the carrier named `through` (the name its parts were recorded
    under)."""
    async with platform.db.read() as conn:
        return await store.list_awaiting_receipt(conn, through)
