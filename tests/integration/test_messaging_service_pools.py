"""Messaging Service pools at the depth of the use cases (services/messaging_services.py), on a migrated database
of each test's own (SQLite and PostgreSQL, whose foreign keys are the point): a number leaving its pool by every
way there is takes its sticky-sender rows along, `pool_for` reads a pool, and a closed account is read-only.
The HTTP shape is tested through twilio-python in tests/clients/test_messaging_services.py."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select

from mycpaas.domain.audit import Actor
from mycpaas.domain.clock import utcnow
from mycpaas.errors import ErrorCode, InvalidRequest
from mycpaas.services import accounts, numbers
from mycpaas.services import messaging_services as services
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import tables
from tests.integration.helpers import unique_number
from tests.platform_support import run_on_platform

ACTOR = Actor("tester@example.com", "127.0.0.9")


async def _stick(platform: Platform, service_sid: str, number_sid: str, to: str) -> None:
    """A sticky-sender row as the sender choice writes one."""
    async with platform.db.write() as conn:
        await conn.execute(
            insert(tables.messaging_service_sticky_senders).values(
                service_sid=service_sid, to_number=to, phone_number_sid=number_sid, last_used_at=utcnow()
            )
        )


async def _count(platform: Platform, table: object) -> int:
    async with platform.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


def test_numbers_leave_their_pool_with_their_sticky_rows(platform_settings: Settings) -> None:
    async def scenario(platform: Platform) -> None:
        parent = (await accounts.create_account(platform, "parent")).account
        child = (await accounts.create_subaccount(platform, parent, "child")).account
        service = await services.create_service(
            platform, parent, {"FriendlyName": "pool", "StickySender": "true"}
        )
        pooled = [
            await numbers.create_number(platform, parent, {"PhoneNumber": unique_number()}) for _ in range(4)
        ]
        for number in pooled:
            await services.add_number(platform, service, number.sid)
            await _stick(platform, service.sid, number.sid, unique_number())

        async with platform.db.read() as conn:
            pool = await services.pool_for(conn, parent.sid, service.sid)
            assert await services.pool_for(conn, child.sid, service.sid) is None  # another account's: None
            assert await services.service_of_number(conn, pooled[0].sid) == service.sid
        assert pool is not None and pool.service.sid == service.sid and pool.alpha_sender is None
        assert sorted(n.sid for n in pool.numbers) == sorted(n.sid for n in pooled)
        assert {n.phone_number for n in pool.numbers} == {n.phone_number for n in pooled}

        # Removed, released, transferred: each leaves the pool and its sticky rows.
        removed = await services.get_pool_number(platform, service, pooled[0].sid)
        assert removed is not None
        await services.remove_number(platform, removed)
        await numbers.release_number(platform, pooled[1])
        await numbers.update_number(platform, parent, pooled[2], {"AccountSid": child.sid})
        left = await services.list_pool_numbers(platform, service, None, 10)
        assert [n.sid for n in left] == [pooled[3].sid]
        # A link to a number now another account's (as a transfer racing an add could once leave) is never read.
        async with platform.db.write() as conn:
            await conn.execute(
                insert(tables.messaging_service_numbers).values(
                    service_sid=service.sid, phone_number_sid=pooled[2].sid, created_at=utcnow()
                )
            )
        async with platform.db.read() as conn:
            stale = await services.pool_for(conn, parent.sid, service.sid)
        assert stale is not None and [n.sid for n in stale.numbers] == [pooled[3].sid]
        assert await services.get_pool_number(platform, service, pooled[2].sid) is None
        assert await _count(platform, tables.messaging_service_sticky_senders) == 1

        # Deleting the service frees the last number and its sticky row; the number stays the account's.
        assert await services.delete_service(platform, service) is True
        assert await services.delete_service(platform, service) is False  # gone: the API's 404
        assert await _count(platform, tables.messaging_service_numbers) == 0
        assert await _count(platform, tables.messaging_service_sticky_senders) == 0
        assert await numbers.get_number(platform, parent, pooled[3].sid) is not None

    run_on_platform(platform_settings, scenario)


def test_closing_an_account_releases_pooled_numbers_and_leaves_it_read_only(
    platform_settings: Settings,
) -> None:
    async def scenario(platform: Platform) -> None:
        parent = (await accounts.create_account(platform, "parent")).account
        child = (await accounts.create_subaccount(platform, parent, "child")).account
        service = await services.create_service(platform, child, {"FriendlyName": "child pool"})
        number = await numbers.create_number(platform, child, {"PhoneNumber": unique_number()})
        await services.add_number(platform, service, number.sid)
        await services.add_alpha_sender(platform, service, "Child")
        await _stick(platform, service.sid, number.sid, unique_number())

        await accounts.update_account(platform, parent, child, None, "closed", ACTOR)
        assert await _count(platform, tables.messaging_service_numbers) == 0
        assert await services.get_service(platform, child, service.sid) is not None  # still readable
        for change in (
            services.create_service(platform, child, {"FriendlyName": "another"}),
            services.update_service(platform, service, {"FriendlyName": "renamed"}),
            services.delete_service(platform, service),
            services.add_alpha_sender(platform, service, "Other"),
        ):
            with pytest.raises(InvalidRequest) as refused:
                await change
            assert refused.value.code is ErrorCode.ACCOUNT_NOT_ACTIVE

    run_on_platform(platform_settings, scenario)
