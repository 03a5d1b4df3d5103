"""Use cases of delivery receipts: a carrier's report of a part's fate becomes the message's final status.

Changes only move forward (domain/messages.ALLOWED_PREDECESSORS), enforced by a conditional UPDATE, so a late
or repeated receipt can never regress a message; it is recorded in the attempt log as skipped instead.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import mycpaas.metrics as metrics
from mycpaas.domain.carriage import OUTCOMES, Outcome, Receipt
from mycpaas.domain.clock import utcnow
from mycpaas.domain.messages import ALLOWED_PREDECESSORS, MessageStatus
from mycpaas.domain.webhooks import WebhookEvent, status_callback_event
from mycpaas.services import webhooks
from mycpaas.services.platform import Platform
from mycpaas.storage import messages as store
from mycpaas.storage import parts
from mycpaas.storage import webhooks as webhook_store
from mycpaas.storage.database import Connection
from mycpaas.storage.parts import SubmittedPart


class Overtaken:
    """Whether pending_receipts may hold a receipt that overtook its submit_sm_resp: while not, recording a
    submission skips looking for one. Read and changed only inside the transactions that use it (the group
    committer runs them one after another), so a receipt kept by one is seen by the next; True until a sweep
    finds none."""

    __slots__ = ("waiting",)

    def __init__(self) -> None:
        self.waiting = True


def outcome_values(outcome: Outcome) -> tuple[MessageStatus, dict[str, object]]:
    """The status an outcome leads to, and the error code and message it sets."""
    status, error = OUTCOMES[outcome]
    values: dict[str, object] = {}
    if error is not None:
        values.update(error_code=int(error), error_message=error.template)
    return status, values


async def skip_late(conn: Connection, event: WebhookEvent) -> None:
    """Record a callback that is not sent because the message had already moved past its status."""
    current = await store.get_message(conn, event.message_sid)
    where = current.status.value if current else "deleted"
    reason = f"status {event.message_status} arrived after the message was {where}; no callback sent"
    await webhooks.record_skipped(conn, [webhooks.skipped(event, reason)])


async def _skip_late_status(
    conn: Connection, sid: str, status: MessageStatus, values: dict[str, object]
) -> None:
    late = await store.get_message(conn, sid)
    if late is not None:
        event = status_callback_event(replace(late, **values), status)  # type: ignore[arg-type]
        if event is not None:
            await skip_late(conn, event)


def _final_outcome(outcomes: list[Outcome]) -> Outcome:
    """A multipart message is delivered when every part is; otherwise it ends as its first failed part."""
    return next((o for o in outcomes if o is not Outcome.DELIVERED), Outcome.DELIVERED)


async def settle_part(
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
    status, values = outcome_values(final)
    changed = await store.advance_returning(
        conn, part.message_sid, status, ALLOWED_PREDECESSORS[status], now, **values
    )
    if changed is not None:
        metrics.message_finished(status.value, values.get("error_code"))
        return [status_callback_event(changed, status)]
    await _skip_late_status(conn, part.message_sid, status, values)
    return []


async def part_for(
    conn: Connection, carrier: str, ids: tuple[str, ...], alternates: bool
) -> SubmittedPart | None:
    """The part a receipt is for: by the id as reported, then (if allowed) by each other reading in turn."""
    for candidate in ids if alternates else ids[:1]:
        part = await parts.find_part(conn, carrier, (candidate,))
        if part is not None:
            return part
    return None


async def apply_receipts(
    platform: Platform, receipts: list[Receipt], overtaken: Overtaken | None = None
) -> None:
    """Apply a batch of receipts in one transaction; one whose part is not known yet is kept in
    pending_receipts (and retried), so every receipt is durable once this returns and the carrier may
    acknowledge it. The parts of concatenated messages are settled in one statement and read back in one;
    messages (single-part, or concatenated with every part now settled) with the same final outcome change in
    one statement."""
    now = utcnow()

    async def work(conn: Connection) -> frozenset[str]:
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
        several: list[tuple[int, str, str]] = []  # parts of concatenated messages: (part id, sid, outcome)
        for receipt in receipts:
            part = known.get((receipt.carrier, receipt.carrier_message_ids[0]))
            if part is None:
                unmatched.append((receipt.carrier, receipt.carrier_message_ids, receipt.outcome.value))
            elif part.total > 1:
                several.append((part.id, part.message_sid, receipt.outcome.value))
            else:
                single.setdefault(receipt.outcome, []).append(part.message_sid)
        if several:
            # Every part's outcome in one statement, then every message whose parts are all settled moves with
            # the single-part messages of the same final outcome (a read and an UPDATE per part before).
            await parts.settle_parts(conn, [(part_id, outcome) for part_id, _, outcome in several])
            settled = await parts.parts_outcomes(conn, [sid for _, sid, _ in several])
            for sid, outcomes in settled.items():
                if all(o is not None for o in outcomes):
                    final = _final_outcome([Outcome(o) for o in outcomes if o is not None])
                    single.setdefault(final, []).append(sid)
        for outcome, sids in single.items():
            status, values = outcome_values(outcome)
            changed = await store.advance_many(
                conn, sids, status, ALLOWED_PREDECESSORS[status], now, **values
            )
            events += [status_callback_event(m, status) for m in changed]
            metrics.message_finished(status.value, values.get("error_code"), len(changed))
            for sid in set(sids) - {m.sid for m in changed}:
                await _skip_late_status(conn, sid, status, values)
        if unmatched:
            await parts.keep_pending(conn, unmatched, now)
            if overtaken is not None:
                overtaken.waiting = True
        return await webhook_store.queue_events(conn, events, now)

    if notify := await platform.committer.run(work):
        platform.wake_webhooks(notify)


async def retry_pending_receipts(
    platform: Platform, overtaken: Overtaken | None = None, limit: int = 500
) -> tuple[int, int]:
    """Apply kept receipts whose part has since become known. Returns (applied, still pending)."""
    now = utcnow()

    async def work(conn: Connection) -> tuple[int, int, frozenset[str]]:
        waiting = await parts.oldest_pending(conn, limit)
        if not waiting and overtaken is not None:
            overtaken.waiting = False
        applied: list[int] = []
        events: list[WebhookEvent | None] = []
        for receipt in waiting:
            # Other readings of the id only after the id as reported had two sweeps to turn up.
            part = await part_for(conn, receipt.carrier, receipt.ids, alternates=receipt.attempts >= 2)
            if part is not None:
                applied.append(receipt.id)
                events += await settle_part(conn, part, Outcome(receipt.outcome), now)
        await parts.forget_pending(conn, applied)
        await parts.count_attempt(conn, [r.id for r in waiting if r.id not in applied])
        notify = await webhook_store.queue_events(conn, events, now)
        return len(applied), len(waiting) - len(applied), notify

    applied, still, notify = await platform.committer.run(work)
    if notify:
        platform.wake_webhooks(notify)
    return applied, still
