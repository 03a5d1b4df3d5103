"""Scheduled messages at the depth of the use cases, on a migrated database of each test's own (SQLite and
PostgreSQL): a cancel racing the send job's start (services/delivery.start_sending, under the job's claim) has
exactly one winner; a message whose pool emptied fails at SendAt (21703); deleting a scheduled message takes
its job along; deleting a service cancels its scheduled messages in the same transaction. The HTTP
shape, the send at SendAt and restarts are tested through twilio-python in tests/clients/test_scheduling.py."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from mycpaas.domain.accounts import Account
from mycpaas.domain.audit import Actor
from mycpaas.domain.clock import utcnow
from mycpaas.domain.jobs import SEND_MESSAGE, Job
from mycpaas.domain.messages import Message, MessageStatus
from mycpaas.errors import ErrorCode, InvalidRequest
from mycpaas.services import accounts, audit, delivery, messaging, numbers, scheduling
from mycpaas.services import messaging_services as services
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import queue, tables
from tests.integration.helpers import unique_number
from tests.platform_support import run_on_platform

ACTOR = Actor("tester@example.com", "127.0.0.9")


def _soon(settings: Settings) -> Settings:
    """SendAt may be any time ahead; senders are not paced (a paced one would keep a released message queued
    for its slot, and these tests look at who won, not at pacing)."""
    return dataclasses.replace(settings, schedule_min_lead_seconds=0.0, sender_mps_long_code=0.0)


async def _schedule(
    platform: Platform, account: Account, service_sid: str, from_: str | None = None
) -> Message:
    send_at = (datetime.now(UTC) + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    request = messaging.SendRequest(
        to=unique_number(),
        from_=from_,
        messaging_service_sid=service_sid,
        body="later",
        schedule_type="fixed",
        send_at=send_at,
    )
    return await messaging.send_message(platform, account, request)


async def _status(platform: Platform, account: Account, sid: str) -> MessageStatus:
    stored = await messaging.get_message(platform, account, sid)
    assert stored is not None
    return stored.status


async def _claim_due(platform: Platform, message: Message) -> list[Job]:
    """Claim the message's send job as a delivery worker would once SendAt has come (the clock moved on);
    other due jobs claimed with it stay leased, untouched."""
    later = utcnow() + timedelta(hours=1)
    async with platform.db.write() as conn:
        claimed = await queue.claim(conn, [SEND_MESSAGE], later, later + timedelta(minutes=1), 100)
    return [job for job in claimed if job.ref == message.sid]


async def _jobs_of(platform: Platform, sid: str) -> int:
    async with platform.db.read() as conn:
        query = select(func.count()).select_from(tables.jobs).where(tables.jobs.c.ref == sid)
        return int((await conn.execute(query)).scalar_one())


async def _setup(platform: Platform) -> tuple[Account, str, str]:
    account = (await accounts.create_account(platform, "scheduler")).account
    service = await services.create_service(platform, account, {"FriendlyName": "later"})
    number = await numbers.create_number(platform, account, {"PhoneNumber": unique_number()})
    await services.add_number(platform, service, number.sid)
    return account, service.sid, number.phone_number


def test_a_cancel_racing_the_send_has_exactly_one_winner(platform_settings: Settings) -> None:
    async def scenario(platform: Platform) -> None:
        account, service_sid, sender = await _setup(platform)

        # The cancel first: the job is gone, so the worker's claim finds nothing to start.
        first = await _schedule(platform, account, service_sid)
        assert first.status is MessageStatus.SCHEDULED and first.from_number is None
        assert await scheduling.send_time(platform, first) is not None
        claimed = await _claim_due(platform, first)
        canceled = await scheduling.cancel(platform, first, ACTOR)
        assert canceled.status is MessageStatus.CANCELED
        assert await delivery.start_sending(platform, claimed) == []
        stored = await messaging.get_message(platform, account, first.sid)
        assert stored is not None and stored.status is MessageStatus.CANCELED and stored.from_number is None
        assert await _jobs_of(platform, first.sid) == 0
        entries = await audit.recent(platform, account.sid)
        assert [(e.action.value, e.target, e.actor) for e in entries][:1] == [
            ("message.canceled", first.sid, ACTOR.name)
        ]

        # The send first: the message is queued with its pool's number, and the cancel is refused (30409).
        second = await _schedule(platform, account, service_sid)
        claimed = await _claim_due(platform, second)
        [started] = await delivery.start_sending(platform, claimed)
        assert started.message.sid == second.sid and started.message.from_number == sender
        try:
            await scheduling.cancel(platform, second)
        except InvalidRequest as refused:
            assert refused.code is ErrorCode.NOT_CANCELABLE
        else:
            raise AssertionError("a message already sending was canceled")
        assert await _jobs_of(platform, second.sid) == 1  # the refused cancel took nothing away

        # At the same time, several times over: each message ends one way only.
        for _ in range(5):
            message = await _schedule(platform, account, service_sid)
            claimed = await _claim_due(platform, message)
            sent, cancel = await asyncio.gather(
                delivery.start_sending(platform, claimed),
                scheduling.cancel(platform, message),
                return_exceptions=True,
            )
            stored = await messaging.get_message(platform, account, message.sid)
            assert stored is not None
            if isinstance(cancel, InvalidRequest):
                assert cancel.code is ErrorCode.NOT_CANCELABLE
                assert [s.message.sid for s in sent] == [message.sid]
                assert stored.status is MessageStatus.SENDING
            else:
                assert sent == [] and stored.status is MessageStatus.CANCELED
                assert await _jobs_of(platform, message.sid) == 0

    run_on_platform(_soon(platform_settings), scenario)


def test_scheduled_messages_when_their_pool_empties_they_are_deleted_or_their_service_is(
    platform_settings: Settings,
) -> None:
    async def scenario(platform: Platform) -> None:
        account, service_sid, _ = await _setup(platform)
        other_account, other_sid, _ = await _setup(platform)
        emptied_account, emptied_sid, _ = await _setup(platform)
        doomed = [await _schedule(platform, account, service_sid) for _ in range(3)]
        kept = await _schedule(platform, other_account, other_sid)
        orphan = await _schedule(platform, emptied_account, emptied_sid)
        deleted = await _schedule(platform, emptied_account, emptied_sid)

        # Its pool emptied before SendAt: at SendAt it fails as an accepted message does, 21703.
        emptied = await services.get_service(platform, emptied_account, emptied_sid)
        assert emptied is not None
        [number] = await services.list_pool_numbers(platform, emptied, None, 10)
        await services.remove_number(platform, number)
        assert await delivery.start_sending(platform, await _claim_due(platform, orphan)) == []
        stored = await messaging.get_message(platform, emptied_account, orphan.sid)
        assert stored is not None and stored.status is MessageStatus.FAILED
        assert (stored.error_code, stored.from_number) == (21703, None)
        assert await _jobs_of(platform, orphan.sid) == 0

        # Deleted (DELETE …/Messages/{SM}): its job goes with it.
        await messaging.delete_message(platform, deleted)
        assert await messaging.get_message(platform, emptied_account, deleted.sid) is None
        assert await _jobs_of(platform, deleted.sid) == 0

        # Its service deleted: canceled with it; another service's message is untouched.
        service = await services.get_service(platform, account, service_sid)
        assert service is not None
        await services.delete_service(platform, service)
        for message in doomed:
            assert await _status(platform, account, message.sid) is MessageStatus.CANCELED
            assert await _jobs_of(platform, message.sid) == 0
        assert await _status(platform, other_account, kept.sid) is MessageStatus.SCHEDULED
        assert await _jobs_of(platform, kept.sid) == 1

    run_on_platform(_soon(platform_settings), scenario)


async def _claim(platform: Platform, messages: list[Message]) -> list[Job]:
    """Claim these messages' send jobs at once, as a delivery worker would once their SendAt has come."""
    later = utcnow() + timedelta(hours=1)
    async with platform.db.write() as conn:
        claimed = await queue.claim(conn, [SEND_MESSAGE], later, later + timedelta(minutes=1), 1000)
    return [job for job in claimed if job.ref in {m.sid for m in messages}]


def test_scheduled_messages_are_checked_again_when_they_go_and_canceled_when_their_account_closes(
    platform_settings: Settings,
) -> None:
    """What changed between scheduling and SendAt counts at SendAt: the From released, moved to another
    account, removed from the pool or over its queue limit, the account suspended; closing the account cancels
    what is still scheduled. Nothing of it goes out."""

    async def scenario(platform: Platform) -> None:
        parent = (await accounts.create_account(platform, "parent")).account
        child = (await accounts.create_subaccount(platform, parent, "child")).account
        other = (await accounts.create_subaccount(platform, parent, "other")).account
        service = await services.create_service(platform, child, {"FriendlyName": "later"})
        pool = [
            await numbers.create_number(platform, child, {"PhoneNumber": unique_number()}) for _ in range(5)
        ]
        for number in pool:
            await services.add_number(platform, service, number.sid)
        released, moved, removed, busy, _ = pool  # the last stays: `unsent` fails for its account, not 21703
        by_from = {
            n.sid: await _schedule(platform, child, service.sid, n.phone_number)
            for n in (released, moved, removed, busy)
        }
        assert {m.status for m in by_from.values()} == {MessageStatus.SCHEDULED}
        unsent = await _schedule(platform, child, service.sid)
        closed_over = await _schedule(platform, child, service.sid)

        await numbers.release_number(platform, released)
        await numbers.update_number(platform, parent, moved, {"AccountSid": other.sid})
        other_service = await services.create_service(platform, other, {"FriendlyName": "theirs"})
        await services.add_number(platform, other_service, moved.sid)  # in another account's pool now
        [link] = [
            n for n in await services.list_pool_numbers(platform, service, None, 10) if n.sid == removed.sid
        ]
        await services.remove_number(platform, link)
        plain = messaging.SendRequest(unique_number(), busy.phone_number, None, "now")
        assert (await messaging.send_message(platform, child, plain)).status is MessageStatus.QUEUED  # its 1

        claimed = await _claim(platform, [*by_from.values(), unsent])  # a claim holds every due job
        first = [job for job in claimed if job.ref != unsent.sid]
        assert await delivery.start_sending(platform, first) == []
        expected = {released.sid: 21606, moved.sid: 21606, removed.sid: 21711, busy.sid: 21611}
        for number_sid, message in by_from.items():
            stored = await messaging.get_message(platform, child, message.sid)
            assert stored is not None and stored.status is MessageStatus.FAILED, number_sid
            assert stored.error_code == expected[number_sid], number_sid
            assert await _jobs_of(platform, message.sid) == 0

        await accounts.update_account(platform, parent, child, None, "suspended", ACTOR)
        assert await delivery.start_sending(platform, [j for j in claimed if j.ref == unsent.sid]) == []
        stored = await messaging.get_message(platform, child, unsent.sid)
        assert stored is not None and (stored.status, stored.error_code) == (MessageStatus.FAILED, 20005)
        assert stored.from_number is None

        await accounts.update_account(platform, parent, child, None, "closed", ACTOR)
        assert await _status(platform, child, closed_over.sid) is MessageStatus.CANCELED
        assert await _jobs_of(platform, closed_over.sid) == 0

    # One message queued fills a long code's queue (1 msg/s for 1 s), so `busy` is over its limit.
    limited = dataclasses.replace(platform_settings, schedule_min_lead_seconds=0.0, sender_queue_seconds=1.0)
    run_on_platform(limited, scenario)
