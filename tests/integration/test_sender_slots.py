"""A rate-limited sender's one timeline (`sender_slots`), taken by two delivery "processes" (two platforms on
one database, each with its own engine and committer) starting batches in turn, on both databases."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from sqlalchemy import select

from mycpaas.bootstrap import build_platform
from mycpaas.domain.jobs import SEND_MESSAGE
from mycpaas.domain.senders import kept_slot
from mycpaas.services import accounts, delivery, jobs, messaging, numbers
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage.tables import jobs as jobs_table
from mycpaas.storage.tables import sender_slots
from tests.integration.helpers import unique_number
from tests.platform_support import run_on_platform

INTERVAL = timedelta(seconds=4)  # 0.25 messages per second: every message but the first waits > 1 s


def test_two_processes_take_slots_from_one_timeline(platform_settings: Settings) -> None:
    settings = dataclasses.replace(platform_settings, sender_mps_long_code=0.25)

    async def scenario(first: Platform) -> None:
        second = build_platform(settings)
        try:
            owner = (await accounts.create_account(first, "paced")).account
            sender = (
                await numbers.create_number(first, owner, {"PhoneNumber": unique_number()})
            ).phone_number
            for n in range(4):
                request = messaging.SendRequest(
                    to="+15551270000", from_=sender, messaging_service_sid=None, body=f"paced {n}"
                )
                await messaging.send_message(first, owner, request)

            async def timeline() -> tuple[object, object]:
                async with first.db.read() as conn:
                    row = (
                        await conn.execute(select(sender_slots).where(sender_slots.c.sender == sender))
                    ).one()
                return row.next_at, row.last_at

            ones = await delivery.start_sending(first, await jobs.claim(first, [SEND_MESSAGE], 2))
            next_at, _ = await timeline()
            twos = await delivery.start_sending(second, await jobs.claim(second, [SEND_MESSAGE], 2))
            # The second process continued the first one's timeline: four slots four seconds apart. Only the
            # first message went; the others' jobs are postponed to their slots, kept in the jobs.
            assert (await timeline())[0] == next_at + 2 * INTERVAL  # type: ignore[operator]
            assert [s.at for s in ones] == [next_at - 2 * INTERVAL] and twos == []  # type: ignore[operator]
            async with first.db.read() as conn:
                postponed = (
                    await conn.execute(
                        select(jobs_table.c.run_at, jobs_table.c.payload, jobs_table.c.locked_until).where(
                            jobs_table.c.payload.is_not(None)
                        )
                    )
                ).all()
            assert all(job.locked_until is None and kept_slot(job.payload) == job.run_at for job in postponed)
            slots = [next_at - INTERVAL, next_at, next_at + INTERVAL]  # type: ignore[operator]
            assert sorted(job.run_at for job in postponed) == slots

            # A sender idle for an hour loses its timeline; a busier one keeps it.
            await delivery.forget_idle_senders(first)
            assert await timeline()
            async with first.db.write() as conn:
                await conn.execute(
                    sender_slots.update().values(
                        next_at=next_at - timedelta(hours=2),
                        last_at=next_at - timedelta(hours=2),  # type: ignore[operator]
                    )
                )
            await delivery.forget_idle_senders(second)
            async with first.db.read() as conn:
                assert (await conn.execute(select(sender_slots))).all() == []
        finally:
            await second.committer.close()
            await second.db.dispose()

    run_on_platform(settings, scenario)
