"""Fingerprints of recent inbound deliveries: an SMSC whose acknowledgement was lost delivers the same PDU
again, and the primary key turns the second one into a no-op in whichever process or bind it reaches."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, bindparam, text

from mycpaas.storage.database import Connection
from mycpaas.storage.retention import delete_oldest
from mycpaas.storage.tables import inbound_seen

# One statement on SQLite (3.24+) and PostgreSQL: a new fingerprint is inserted, one seen before `cutoff` is
# taken over (the window has passed: a new delivery), and one seen since is left alone (no row changes). Two
# transactions claiming one fingerprint at once: the second waits for the first and changes nothing.
_CLAIM = text(
    "INSERT INTO inbound_seen (fingerprint, received_at) VALUES (:fingerprint, :now) "
    "ON CONFLICT (fingerprint) DO UPDATE SET received_at = excluded.received_at "
    "WHERE inbound_seen.received_at < :cutoff"
).bindparams(
    bindparam("fingerprint", type_=String()),
    bindparam("now", type_=DateTime()),
    bindparam("cutoff", type_=DateTime()),
)


async def claim(conn: Connection, fingerprint: str, now: datetime, cutoff: datetime) -> bool:
    """Remember `fingerprint` in the caller's transaction; False if it was already seen since `cutoff`."""
    result = await conn.execute(_CLAIM, {"fingerprint": fingerprint, "now": now, "cutoff": cutoff})
    return bool(result.rowcount)


async def prune(conn: Connection, before: datetime, limit: int) -> int:
    """Forget up to `limit` fingerprints seen before `before`, oldest first (past the dedupe window they stop
    nothing); a housekeeping task. Returns how many. A fingerprint a claim renews meanwhile stays."""
    return await delete_oldest(conn, inbound_seen.c.fingerprint, inbound_seen.c.received_at, before, limit)
