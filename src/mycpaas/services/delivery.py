"""Use cases of the delivery pipeline: every status change of a message after its creation goes through here.

Changes only move forward (domain/messages.ALLOWED_PREDECESSORS), enforced by a conditional UPDATE, so a late
or repeated event can never regress a message.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from mycpaas.delivery.carriers.base import InboundSms, Outcome, Receipt
from mycpaas.delivery.outcomes import OUTCOMES
from mycpaas.domain.accounts import AccountStatus
from mycpaas.domain.clock import utcnow
from mycpaas.domain.jobs import Job
from mycpaas.domain.messages import ALLOWED_PREDECESSORS, Direction, Message, MessageStatus
from mycpaas.domain.segments import split_parts
from mycpaas.domain.sids import Prefix, new_sid
from mycpaas.services.platform import Platform
from mycpaas.storage import accounts as account_store
from mycpaas.storage import messages as store
from mycpaas.storage import numbers as number_store
from mycpaas.storage import queue
from mycpaas.storage.database import Connection

log = logging.getLogger("mycpaas.delivery")


def is_expired(message: Message) -> bool:
    if message.validity_period is None:
        return False
    return utcnow() > message.created_at + timedelta(seconds=message.validity_period)


async def start_sending(platform: Platform, jobs: list[Job]) -> list[tuple[Job, Message]]:
    """Take a batch of send jobs: the messages still to send move to `sending` together; jobs whose message
    is gone or already past sending are finished, and messages whose ValidityPeriod ran out fail with 30001.
    Returns what the carrier should be given."""
    now = utcnow()
    expired_status, expired_error = OUTCOMES[Outcome.EXPIRED]
    assert expired_error is not None

    async def work(conn: Connection) -> list[tuple[Job, Message]]:
        found = {m.sid: m for m in await store.get_many(conn, [job.ref for job in jobs])}
        ready: list[tuple[Job, Message]] = []
        done: list[int] = []
        for job in jobs:
            message = found.get(job.ref)
            if message is None or message.status not in (MessageStatus.QUEUED, MessageStatus.SENDING):
                done.append(job.id)
            elif is_expired(message):
                await store.advance_status(
                    conn,
                    message.sid,
                    expired_status,
                    ALLOWED_PREDECESSORS[expired_status],
                    now,
                    error_code=int(expired_error),
                    error_message=expired_error.template,
                )
                done.append(job.id)
            else:
                ready.append((job, message))
        await store.mark_sending(conn, [m.sid for _, m in ready], now)
        await queue.finish_many(conn, done)
        return ready

    return await platform.committer.run(work)


async def record_submitted(platform: Platform, message: Message, carrier_id: str, job_id: int) -> None:
    """sending -> sent, and the job is done, in one transaction."""
    now = utcnow()

    async def work(conn: Connection) -> None:
        await store.advance_status(
            conn,
            message.sid,
            MessageStatus.SENT,
            ALLOWED_PREDECESSORS[MessageStatus.SENT],
            now,
            sent_at=now,
            carrier_message_id=carrier_id,
        )
        await queue.finish(conn, job_id)

    await platform.committer.run(work)


async def record_failed(platform: Platform, message: Message, outcome: Outcome, job_id: int) -> None:
    status, error = OUTCOMES[outcome]
    values: dict[str, object] = {}
    if error is not None:
        values.update(error_code=int(error), error_message=error.template)
    now = utcnow()

    async def work(conn: Connection) -> None:
        await store.advance_status(conn, message.sid, status, ALLOWED_PREDECESSORS[status], now, **values)
        await queue.finish(conn, job_id)

    await platform.committer.run(work)


async def apply_receipt(platform: Platform, receipt: Receipt) -> None:
    status, error = OUTCOMES[receipt.outcome]
    values: dict[str, object] = {}
    if error is not None:
        values.update(error_code=int(error), error_message=error.template)
    now = utcnow()

    async def work(conn: Connection) -> bool:
        return await store.advance_by_carrier_id(
            conn, receipt.carrier_message_id, status, ALLOWED_PREDECESSORS[status], now, **values
        )

    if not await platform.committer.run(work):
        log.warning("receipt matched no message awaiting one", extra={"action": "receipt_unmatched"})


async def record_inbound(platform: Platform, sms: InboundSms) -> Message | None:
    """Keep an inbound message for a number the platform owns; drop anything else (and redeliveries)."""
    now = utcnow()
    async with platform.db.read() as conn:
        if await number_store.owner_of(conn, sms.destination) is None:
            return None
    async with platform.db.write() as conn:
        number = await number_store.find_by_phone_number(conn, sms.destination)
        if number is None:
            return None
        found = await account_store.get_account(conn, number.account_sid)
        if found is None or found[0].status is not AccountStatus.ACTIVE:
            return None
        if await store.get_by_carrier_id(conn, sms.carrier_message_id) is not None:
            return None
        segmentation = split_parts(sms.text)
        message = Message(
            sid=new_sid(Prefix.MESSAGE),
            account_sid=number.account_sid,
            direction=Direction.INBOUND,
            from_number=sms.source,
            to_number=sms.destination,
            body=sms.text,
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
    return message


async def awaiting_receipts(platform: Platform) -> list[Message]:
    async with platform.db.read() as conn:
        return await store.list_awaiting_receipt(conn)


async def claim_jobs(platform: Platform, limit: int) -> list[Job]:
    now = utcnow()
    lease = timedelta(seconds=platform.settings.worker_lease_seconds)
    async with platform.db.write() as conn:
        return await queue.claim(conn, now, now + lease, limit)


async def extend_leases(platform: Platform, job_ids: list[int]) -> None:
    if not job_ids:
        return  # an idle worker takes no write lock
    lease = timedelta(seconds=platform.settings.worker_lease_seconds)
    async with platform.db.write() as conn:
        await queue.extend_leases(conn, job_ids, utcnow() + lease)


async def retry_job(platform: Platform, job: Job, delay_seconds: float, error: str) -> None:
    async with platform.db.write() as conn:
        await queue.retry(conn, job.id, utcnow() + timedelta(seconds=delay_seconds), error)
