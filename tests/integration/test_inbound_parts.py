"""Inbound bookkeeping at the depth of the use cases (services/inbound.py), on SQLite and PostgreSQL: the
redelivery window and its pruning, a part stored before migration 0008 completing with one stored after, and
stale parts delivered once even when two processes flush them at the same moment."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from sqlalchemy import Connection as SyncConnection
from sqlalchemy import func, select

from mycpaas.bootstrap import build_platform
from mycpaas.domain.carriage import InboundSms
from mycpaas.domain.clock import utcnow
from mycpaas.services import accounts, housekeeping, inbound, numbers
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import inbound_seen, migrate
from mycpaas.storage.tables import inbound_parts, messages
from tests.integration.helpers import unique_number
from tests.integration.test_migrations import on_connection
from tests.platform_support import run_on_platform

FINGERPRINTS = next(task for task in housekeeping.TASKS if task.name == "inbound_fingerprints")

CARRIER = "test@127.0.0.1:2775"
SOURCE = "+447700900123"


async def own_number(platform: Platform) -> str:
    account = (await accounts.create_account(platform, "owner")).account
    return (await numbers.create_number(platform, account, {"PhoneNumber": unique_number()})).phone_number


def sms(destination: str, n: int, **fields: object) -> InboundSms:
    return InboundSms(CARRIER, f"smpp-{n}", SOURCE, destination, "Yes", **fields)  # type: ignore[arg-type]


async def bodies(platform: Platform) -> list[str]:
    async with platform.db.read() as conn:
        rows = await conn.execute(select(messages.c.body).where(messages.c.from_number == SOURCE))
        return sorted(row.body for row in rows)


async def parts_left(platform: Platform) -> int:
    async with platform.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(inbound_parts))).scalar_one())


def test_redeliveries_are_dropped_within_the_window_and_stale_parts_are_flushed_once(
    platform_settings: Settings,
) -> None:
    window = platform_settings.smpp_mo_dedupe_seconds

    async def scenario(platform: Platform) -> str:
        number = await own_number(platform)
        assert await inbound.record_inbound(platform, sms(number, 1, fingerprint="f1")) is not None
        assert await inbound.record_inbound(platform, sms(number, 2, fingerprint="f1")) is None
        assert await inbound.record_inbound(platform, sms(number, 3, fingerprint="f2")) is not None
        assert await bodies(platform) == ["Yes", "Yes"]
        # Past the window the same fingerprint is a new delivery; pruning forgets only what is past it.
        later = utcnow() + timedelta(seconds=window + 1)
        claimed = await platform.committer.run(
            lambda conn: inbound_seen.claim(conn, "f1", later, later - timedelta(seconds=window))
        )
        assert claimed
        removed = await housekeeping.sweep(platform, [FINGERPRINTS])
        assert removed == {FINGERPRINTS.name: 0}  # nothing is past the window now
        pruned = await platform.committer.run(
            lambda conn: inbound_seen.prune(conn, later - timedelta(seconds=window), 1000)
        )
        assert pruned == 1  # f2, seen now; f1 was renewed `later`
        await stale_parts_flushed_once(platform, number)
        return number

    number = run_on_platform(platform_settings, scenario)

    async def without_dedupe(platform: Platform) -> None:
        assert await inbound.record_inbound(platform, sms(number, 4, fingerprint="f1")) is not None
        assert await inbound.record_inbound(platform, sms(number, 5, fingerprint="f1")) is not None

    run_on_platform(dataclasses.replace(platform_settings, smpp_mo_dedupe_seconds=0), without_dedupe)


def test_a_part_stored_before_0008_completes_with_a_part_stored_after(platform_settings: Settings) -> None:
    url = platform_settings.effective_database_url
    number = run_on_platform(platform_settings, own_number)
    migrate.downgrade(url, "0007")

    def old_part(connection: SyncConnection) -> None:
        connection.execute(
            inbound_parts.insert().values(
                carrier=CARRIER,
                source=SOURCE,
                destination=number,
                reference=9,
                total=2,
                seqnum=1,
                text="decoded before 0008, ",
                received_at=utcnow(),
            )
        )

    on_connection(url, old_part)
    migrate.upgrade(url)

    async def scenario(platform: Platform) -> None:
        second = sms(number, 1, part=(9, 2, 2), payload=b"\x1b\x65 after", coding=0)
        message = await inbound.record_inbound(platform, second)
        assert message is not None and message.body == "decoded before 0008, € after"
        assert await parts_left(platform) == 0
        # A part stored with its payload only, waiting when the operator goes back to 0007.
        waiting = sms(number, 2, part=(10, 2, 1), payload="ü😀".encode("utf-16-be"), coding=8)
        assert await inbound.record_inbound(platform, waiting) is None

    run_on_platform(platform_settings, scenario)
    migrate.downgrade(url, "0007")

    def texts(connection: SyncConnection) -> list[str]:
        return [row.text for row in connection.execute(select(inbound_parts.c.text))]

    assert on_connection(url, texts) == ["ü😀"]  # decoded alone, as 0007 stored parts
    migrate.upgrade(url)


async def stale_parts_flushed_once(platform: Platform, number: str) -> None:
    """Stale parts become one message once, though two processes flush them at the same moment."""
    before = await bodies(platform)
    first = sms(number, 11, part=(5, 3, 1), payload=b"x" * 152 + b"\x1b", coding=0)
    third = sms(number, 12, part=(5, 3, 3), payload=b"\x3c", coding=0)  # "<"
    assert await inbound.record_inbound(platform, third) is None
    assert await inbound.record_inbound(platform, first) is None
    assert await inbound.flush_stale_inbound_parts(platform, 3600) == 0  # not stale yet
    other = build_platform(platform.settings)  # a second process on the same database
    try:
        created = await asyncio.gather(
            inbound.flush_stale_inbound_parts(platform, 0),
            inbound.flush_stale_inbound_parts(other, 0),
        )
    finally:
        await other.committer.close()
        await other.db.dispose()
    assert sorted(created) == [0, 1]
    # The parts that arrived, in order; nothing joins across the gap: the escape ending part 1 reads as a space.
    assert await bodies(platform) == sorted([*before, "x" * 152 + " <"])
    assert await parts_left(platform) == 0
    assert await inbound.flush_stale_inbound_parts(platform, 0) == 0
