"""What /readyz and /metrics ask of the database: is it there with this code's schema, and what do the queue
and the SMPP binds look like now. Answers come from the database, so every process gives the same one."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from functools import cache

from mycpaas.domain.jobs import SEND_MESSAGE
from mycpaas.domain.webhooks import EVENT_KINDS
from mycpaas.metrics import Snapshot
from mycpaas.services.platform import Platform
from mycpaas.storage import health as store
from mycpaas.storage.migrate import head_revision

KINDS = (SEND_MESSAGE, *EVENT_KINDS)  # reported even when none is queued, as 0
PROBE_SECONDS = 5.0  # a database that does not answer within this is reported unreachable


@cache
def _head() -> str:
    return head_revision()


async def database_problems(platform: Platform) -> list[str]:
    """Empty when the database answers and holds the schema this code needs; otherwise what is wrong."""
    try:
        async with asyncio.timeout(PROBE_SECONDS), platform.db.read() as conn:
            revision = await store.schema_revision(conn)
    except Exception as error:  # the driver's errors, timeouts: the text may name the host, never a password
        return [f"database unreachable ({type(error).__name__})"]
    if revision != _head():
        return [f"database schema is at {revision or 'nothing'}; this code needs {_head()}"]
    return []


async def snapshot(platform: Platform, local_binds: Mapping[str, int]) -> Snapshot:
    """The queue's depth and oldest waiting job by kind, and the binds up per connector: by the lease rows
    when there are any, else those of this process (`local_binds`). Empty when the database does not answer."""
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            now = await platform.clock.now()
            async with platform.db.read() as conn:
                found = {d.kind: d for d in await store.queue_depth(conn, now)}
                binds = await store.binds_up(conn)
    except Exception:
        return Snapshot([_database_up(False)])
    depths = _every_kind(found)
    return Snapshot(
        [
            _database_up(True),
            (
                "mycpaas_queue_jobs",
                "Jobs in the queue by kind: due, leased by a runner, or scheduled for later.",
                ["kind"],
                [([d.kind], float(d.jobs)) for d in depths],
            ),
            (
                "mycpaas_queue_oldest_due_age_seconds",
                "Age of the oldest job due and waiting for a runner, by kind (0 when none waits).",
                ["kind"],
                [
                    ([d.kind], max(0.0, (now - d.oldest_due).total_seconds()) if d.oldest_due else 0.0)
                    for d in depths
                ],
            ),
            (
                "mycpaas_smpp_binds_up",
                "SMPP binds up per connector: across every process by the bind leases, else this process's.",
                ["connector"],
                [([name], float(up)) for name, up in sorted((binds or local_binds).items())],
            ),
        ]
    )


def _every_kind(found: dict[str, store.QueueDepth]) -> list[store.QueueDepth]:
    """Every known kind in KINDS's order, 0 when none is queued, then any other kind found."""
    return [found.pop(kind, store.QueueDepth(kind, 0, None)) for kind in KINDS] + list(found.values())


async def queue(platform: Platform) -> tuple[datetime, list[store.QueueDepth]]:
    """The database's time now and the queue's depth by kind (`mycpaas status`): one statement."""
    now = await platform.clock.now()
    async with platform.db.read() as conn:
        return now, _every_kind({d.kind: d for d in await store.queue_depth(conn, now)})


def _database_up(up: bool) -> tuple[str, str, list[str], list[tuple[list[str], float]]]:
    return ("mycpaas_database_up", "1 when the database answered this scrape, else 0.", [], [([], float(up))])


async def shared_binds_up(platform: Platform) -> dict[str, int]:
    """Binds up per connector by the lease rows (any process); empty when unknown or unreadable."""
    try:
        async with asyncio.timeout(PROBE_SECONDS), platform.db.read() as conn:
            return await store.binds_up(conn) or {}
    except Exception:
        return {}
