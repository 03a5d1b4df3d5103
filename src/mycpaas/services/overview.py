"""The dashboard overview's figures for the account in view: read from the pre-aggregated counts (a range
of their primary keys, however many messages the account has) and, for a platform administrator, the bind
leases, summed up in domain/overview.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from mycpaas.domain.accounts import Account
from mycpaas.domain.clock import utcnow
from mycpaas.domain.overview import Count, Link, Overview, summarise, window_start
from mycpaas.errors import ErrorCode
from mycpaas.services import binds, carriers
from mycpaas.services.platform import Platform
from mycpaas.storage import message_counts

_MEANINGS = {int(code): code.template for code in ErrorCode if "{" not in code.template}


async def overview(
    platform: Platform, account: Account, now: datetime | None = None, with_links: bool = False
) -> Overview:
    """The account's figures; the carrier links only `with_links` (for a platform administrator: connectors are
    the operator's, not an account's, so nothing about them is read for anyone else)."""
    now = now or utcnow()
    since = window_start(now)
    async with platform.db.read() as conn:
        rows = await message_counts.message_hours(conn, account.sid, since)
        attempts = await message_counts.webhook_hours(conn, account.sid, since)
    summary = summarise((Count(*row) for row in rows), now, _MEANINGS)
    return replace(summary, webhook_attempts=attempts, links=await links(platform) if with_links else [])


async def links(platform: Platform) -> list[Link]:
    """Every connector with the binds up now, across every process (the bind leases)."""
    connectors = await carriers.list_connectors(platform, with_passwords=False)
    up: dict[str, int] = {}
    for held in await binds.live(platform):
        if held.bound:
            up[held.carrier] = up.get(held.carrier, 0) + 1
    return [Link(c.name, c.enabled, up.get(c.name, 0), c.max_binds) for c in connectors]
