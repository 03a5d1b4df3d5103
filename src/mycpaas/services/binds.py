"""Use cases of SMPP bind leases (storage/binds.py), timed on the database's clock.

A lease's times are written by one process and judged by others (a takeover happens only once it lapsed), so
they come from `platform.clock`, never from this machine's clock.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from mycpaas.services.platform import Platform
from mycpaas.storage import binds as store
from mycpaas.storage import carriers as carrier_store
from mycpaas.storage.binds import BindState, Held, Lease

__all__ = [
    "BindState",
    "Held",
    "Lease",
    "acquire",
    "forget_dead_holders",
    "holder_id",
    "live",
    "release",
    "renew",
    "states",
]


def holder_id() -> str:
    """This process's name in the lease table: host and pid for the operator, a random part so that a pid
    reused after a restart is not mistaken for the process that held the lease before."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{secrets.token_hex(4)}"


async def acquire(platform: Platform, carrier: str, max_binds: int, holder: str) -> Lease | datetime | None:
    """A free slot of `carrier` leased to `holder` for `bind_lease_seconds`; otherwise when the earliest
    held lease lapses (on the database's clock), or None.

    None too when the connector was removed or disabled: a process that has not seen that change yet (its
    ChangeWatcher polls every 0.25 s) finds its lease gone (removal forgets the slots) and tries again at once;
    without this check it would take a fresh slot and bind, and deliver through the removed connector, until
    the change reached it."""
    now = await platform.clock.now()
    until = now + timedelta(seconds=platform.settings.bind_lease_seconds)
    try:
        async with platform.db.write() as conn:
            if not await carrier_store.is_enabled(conn, carrier):
                return None
            await store.ensure_slots(conn, carrier, max_binds)
    except store.SlotRace:
        return None
    async with platform.db.write() as conn:
        if not await carrier_store.is_enabled(conn, carrier):
            return None
        return await store.acquire(conn, carrier, max_binds, holder, now, until)


async def renew(
    platform: Platform, lease: Lease, bound: bool, error: str | None = None, window_in_use: int = 0
) -> bool:
    """Extend the lease by `bind_lease_seconds` from now and report the bind's state; False if it is lost."""
    now = await platform.clock.now()
    until = now + timedelta(seconds=platform.settings.bind_lease_seconds)
    async with platform.db.write() as conn:
        return await store.renew(conn, lease, until, bound, error, now, window_in_use)


async def forget_dead_holders(platform: Platform) -> None:
    """On SQLite only one server process can run (`serve` holds the database's lock), so a lease held by any
    other holder belongs to a process that died (kill -9, power loss): free it now rather than make the
    restarted server wait out the lease before it binds. On PostgreSQL leases are only ever taken over."""
    if platform.db.is_sqlite:
        async with platform.db.write() as conn:
            await store.release_all(conn)


async def release(platform: Platform, lease: Lease) -> None:
    async with platform.db.write() as conn:
        await store.release(conn, lease)


async def live(platform: Platform) -> list[Held]:
    """Every bind lease held now, by any process."""
    now = await platform.clock.now()
    async with platform.db.read() as conn:
        return await store.live(conn, now)


async def states(platform: Platform) -> list[BindState]:
    """Every bind slot's state as its holder last reported it, whichever process holds it: the dashboard's
    process may hold none, so the state comes from the shared lease rows (on the database's clock)."""
    now = await platform.clock.now()
    async with platform.db.read() as conn:
        return await store.states(conn, now)
