"""When each credential (Auth Token or API key, by its keyed digest) last authenticated a request, and from where.

Written in batches off the request path (services/credential_uses.py); read by the Credentials and API keys pages.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sqlalchemy import DateTime, String, and_, bindparam, delete, select, text

from mycpaas.domain.credentials import CredentialUse
from mycpaas.storage.database import Connection
from mycpaas.storage.tables import api_keys, credential_uses

# The same statement on SQLite (3.24+) and PostgreSQL, executed once per batch with every row's parameters. A
# use older than the one stored (another process's write got there first) changes nothing.
_RECORD = text(
    "INSERT INTO credential_uses (digest, used_at, used_from) VALUES (:digest, :used_at, :used_from) "
    "ON CONFLICT (digest) DO UPDATE SET used_at = excluded.used_at, used_from = excluded.used_from "
    "WHERE credential_uses.used_at < excluded.used_at"
).bindparams(
    bindparam("digest", type_=String()),
    bindparam("used_at", type_=DateTime()),
    bindparam("used_from", type_=String()),
)


async def record(conn: Connection, uses: Mapping[str, CredentialUse]) -> None:
    """Upsert the latest use of each credential, in digest order (two processes lock rows in one order)."""
    rows = [
        {"digest": digest, "used_at": use.used_at, "used_from": use.used_from[:64]}
        for digest, use in sorted(uses.items())
    ]
    if rows:
        await conn.execute(_RECORD, rows)


async def by_digest(conn: Connection, digests: Collection[str]) -> dict[str, CredentialUse]:
    rows = await conn.execute(select(credential_uses).where(credential_uses.c.digest.in_(sorted(digests))))
    return {row.digest: CredentialUse(row.used_at, row.used_from) for row in rows}


async def of_keys(conn: Connection, account_sid: str) -> dict[str, CredentialUse]:
    """The last use of each of the account's live API keys that has been used, by key SID."""
    rows = await conn.execute(
        select(api_keys.c.sid, credential_uses.c.used_at, credential_uses.c.used_from)
        .select_from(api_keys.join(credential_uses, credential_uses.c.digest == api_keys.c.secret_digest))
        .where(and_(api_keys.c.account_sid == account_sid, api_keys.c.revoked_at.is_(None)))
    )
    return {row.sid: CredentialUse(row.used_at, row.used_from) for row in rows}


async def forget(conn: Connection, digest: str) -> None:
    """A retired token's use is of no interest any more (it cannot authenticate again)."""
    await conn.execute(delete(credential_uses).where(credential_uses.c.digest == digest))
