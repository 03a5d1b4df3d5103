"""Bind leases (services/binds.py, delivery/binds.py) on a real database: a slot is taken only when free or
lapsed, every acquisition raises the claim, a lapsed holder can neither renew nor release the new holder's
slot; and a process whose renewal hangs closes its SMPP session before its lease can lapse.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select

from mycpaas.bootstrap import build_platform
from mycpaas.delivery.binds import Binds
from mycpaas.delivery.carriers.smpp import SmppCarrier
from mycpaas.domain.carriage import InboundSms, Receipt
from mycpaas.domain.carriers import Connector
from mycpaas.services import binds, carrier_status, carriers
from mycpaas.services.binds import Lease
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.smpp.session import Timers
from mycpaas.storage import migrate
from mycpaas.storage.tables import carrier_binds
from tests.conftest import BACKENDS
from tests.databases import create_postgres_database, drop_postgres_database, sqlite_url
from tests.platform_support import TEST_SECRET
from tests.smsc_support import Smsc


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = sqlite_url(tmp_path) if request.param == "sqlite" else create_postgres_database()
    try:
        migrate.upgrade(url)
        yield url
    finally:
        if request.param == "postgres":
            drop_postgres_database(url)


def platform_for(url: str, data_dir: Path, lease_seconds: float) -> Platform:
    data_dir.mkdir(parents=True, exist_ok=True)
    return build_platform(
        Settings(data_dir=data_dir, database_url=url, secret=TEST_SECRET, bind_lease_seconds=lease_seconds)
    )


async def close(*platforms: Platform) -> None:
    for platform in platforms:
        await platform.committer.close()
        await platform.db.dispose()


X = Connector("x", "127.0.0.1", 9, "test", "secret")  # never bound here: only its leases are taken


async def leases(a: Platform, b: Platform) -> None:
    try:
        await carriers.add(a, X)
        first = await binds.acquire(a, "x", 1, "a")
        assert isinstance(first, Lease) and (first.slot, first.claim) == (0, 1)
        refused = await binds.acquire(b, "x", 1, "b")
        assert isinstance(refused, datetime), "the only slot is held: told when its lease lapses"
        assert await binds.renew(a, first, bound=True, error="bind failed: refused", window_in_use=3)
        assert [(h.carrier, h.holder, h.bound) for h in await binds.live(b)] == [("x", "a", True)]
        # What the dashboard shows, read by another process than the holder.
        [shown] = await carrier_status.statuses(b)
        assert (shown.up, shown.bound, shown.window_in_use, shown.window) == (True, 1, 3, X.window)
        assert shown.last_error is not None and shown.last_error[0] == "bind failed: refused"

        await asyncio.sleep(a.settings.bind_lease_seconds + 0.3)  # a stops renewing: its lease lapses
        assert await binds.live(b) == []
        [shown] = await carrier_status.statuses(b)
        assert (shown.up, shown.bound, shown.window_in_use) == (False, 0, 0), "a lapsed lease is down"
        assert shown.last_error is not None, "the last failure stays for the operator"
        second = await binds.acquire(b, "x", 1, "b")
        assert isinstance(second, Lease) and (second.slot, second.claim) == (0, 2), "taken over, claim raised"
        assert not await binds.renew(a, first, bound=True), "the lapsed holder cannot renew"
        await binds.release(a, first)
        assert [h.holder for h in await binds.live(a)] == ["b"], "nor release the new holder's slot"

        wider = await binds.acquire(a, "x", 2, "a")
        assert isinstance(wider, Lease) and wider.slot == 1, "a second bind allowed: the next slot"
        await binds.release(b, second)
        assert [h.holder for h in await binds.live(a)] == ["a"]
        async with a.db.read() as conn:
            row = (await conn.execute(select(carrier_binds).where(carrier_binds.c.slot == 0))).one()
        assert (row.holder, row.claim, row.bound, row.last_error) == (None, 2, False, "bind failed: refused")
        assert row.last_error_at is not None
    finally:
        await close(a, b)


def test_a_slot_is_taken_only_when_free_and_a_lapsed_holder_is_fenced_off(
    database_url: str, tmp_path: Path
) -> None:
    asyncio.run(
        leases(
            platform_for(database_url, tmp_path / "a", 1.0), platform_for(database_url, tmp_path / "b", 1.0)
        )
    )


async def dead_holders(platform: Platform, sqlite: bool) -> None:
    try:
        await carriers.add(platform, X)
        held = await binds.acquire(platform, "x", 1, "killed")
        assert isinstance(held, Lease)
        await binds.forget_dead_holders(platform)  # what a delivery process does as it starts
        again = await binds.acquire(platform, "x", 1, "restarted")
        # SQLite has one server process: a lease someone else holds is a dead process's, freed at once. On
        # PostgreSQL another live process may hold it: it is only ever taken over once it lapsed.
        assert isinstance(again, Lease) is sqlite, again
    finally:
        await close(platform)


def test_a_restarted_sqlite_server_binds_at_once_but_postgresql_waits_for_the_lease(
    database_url: str, tmp_path: Path
) -> None:
    platform = platform_for(database_url, tmp_path / "a", 60.0)
    asyncio.run(dead_holders(platform, database_url.startswith("sqlite")))


async def removed_or_disabled(platform: Platform) -> None:
    try:
        await carriers.add(platform, X)
        held = await binds.acquire(platform, "x", 2, "a")
        assert isinstance(held, Lease)
        await carriers.update(platform, "x", enabled=False)
        assert await binds.acquire(platform, "x", 2, "b") is None, "a disabled connector's slot is not taken"
        await carriers.update(platform, "x", enabled=True)
        assert isinstance(await binds.acquire(platform, "x", 2, "b"), Lease)
        await carriers.remove(platform, "x")
        # A process that has not seen the removal yet finds its lease gone and tries again: it must not get a
        # fresh slot (and bind, and deliver through the removed connector until the change reaches it).
        assert not await binds.renew(platform, held, bound=True)
        assert await binds.acquire(platform, "x", 2, "a") is None
        assert await binds.live(platform) == []
    finally:
        await close(platform)


def test_a_removed_or_disabled_connector_gives_no_new_lease(database_url: str, tmp_path: Path) -> None:
    asyncio.run(removed_or_disabled(platform_for(database_url, tmp_path / "a", 60.0)))


DB_NOW = "SELECT clock_timestamp() AT TIME ZONE 'UTC'"  # the lease's clock (storage/database.server_time)


async def noop(_: Receipt | InboundSms) -> None:
    return None


async def hung_renewal(platform: Platform, smsc: Smsc, admin_url: str) -> None:
    await carriers.add(platform, Connector("x", smsc.host, smsc.port, "test", "secret"))
    keeper = Binds(platform, lambda c: SmppCarrier(c, Timers()), on_change=lambda: None)
    locker = await asyncpg.connect(admin_url)
    try:
        await keeper.start(noop, noop)
        for _ in range(200):
            if smsc.stats()["binds"]:
                break
            await asyncio.sleep(0.05)
        assert smsc.stats()["binds"], "bound"
        # Another transaction holds the lease row: every renewal now hangs, as when the database stalls.
        locker_tx = locker.transaction()
        await locker_tx.start()
        await locker.execute("SELECT * FROM carrier_binds WHERE carrier = 'x' FOR UPDATE")
        locked_until = await locker.fetchval("SELECT locked_until FROM carrier_binds WHERE carrier = 'x'")
        while (
            smsc.stats()["binds"]
            and await locker.fetchval("SELECT clock_timestamp() AT TIME ZONE 'UTC'") < locked_until
        ):
            await asyncio.sleep(0.05)
        unbound_at = await locker.fetchval("SELECT clock_timestamp() AT TIME ZONE 'UTC'")
        assert not smsc.stats()["binds"], "the session was still open when its lease lapsed"
        assert unbound_at < locked_until
        assert not keeper.holding()
        await locker_tx.rollback()
    finally:
        await locker.close()
        await keeper.stop()
        await close(platform)


def test_a_holder_that_cannot_renew_unbinds_before_its_lease_lapses(tmp_path: Path) -> None:
    url = create_postgres_database()
    try:
        migrate.upgrade(url)
        with Smsc(tmp_path / "smsc") as smsc:
            asyncio.run(hung_renewal(platform_for(url, tmp_path / "server", 2.0), smsc, url))
    finally:
        drop_postgres_database(url)
