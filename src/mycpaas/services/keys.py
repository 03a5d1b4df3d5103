"""Use cases for API keys: the secret is shown once at creation and stored only as a keyed digest.

Creating, renaming and revoking a key (the API's DELETE revokes) are announced on the CREDENTIALS topic of the
change signal (services/changes.py) in the transaction that makes them (the authentication cache keeps the key
with its name, services/auth.py).
"""

from __future__ import annotations

from mycpaas.domain.accounts import Account, ApiKey
from mycpaas.domain.audit import Actor, AuditAction
from mycpaas.domain.clock import utcnow
from mycpaas.domain.credentials import new_key_secret
from mycpaas.domain.sids import Prefix, new_sid
from mycpaas.services import audit, changes
from mycpaas.services.accounts import check_friendly_name, require_open
from mycpaas.services.platform import Platform
from mycpaas.storage import accounts as store


async def create_key(
    platform: Platform, account: Account, friendly_name: str | None, actor: Actor, key_type: str = "standard"
) -> tuple[ApiKey, str]:
    now = utcnow()
    key = ApiKey(
        sid=new_sid(Prefix.API_KEY),
        account_sid=account.sid,
        friendly_name=check_friendly_name(friendly_name) if friendly_name else "",
        key_type=key_type,
        created_at=now,
        updated_at=now,
    )
    secret = new_key_secret()
    async with changes.write(platform, changes.CREDENTIALS) as conn:
        await require_open(conn, account.sid)
        await store.insert_key(conn, key, platform.secrets.digest(secret))
        await audit.record(conn, account.sid, AuditAction.KEY_CREATED, actor, now, key.sid)
    return key, secret


async def get_key(platform: Platform, account: Account, sid: str) -> ApiKey | None:
    async with platform.db.read() as conn:
        stored = await store.get_key(conn, sid)
    if stored is None or stored.revoked_at is not None or stored.key.account_sid != account.sid:
        return None
    return stored.key


async def list_keys(platform: Platform, account: Account) -> list[ApiKey]:
    async with platform.db.read() as conn:
        return await store.list_keys(conn, account.sid)


async def rename_key(platform: Platform, key: ApiKey, friendly_name: str) -> ApiKey:
    now = utcnow()
    async with changes.write(platform, changes.CREDENTIALS) as conn:
        await require_open(conn, key.account_sid)
        await store.update_key(conn, key.sid, now, friendly_name=check_friendly_name(friendly_name))
    key.friendly_name, key.updated_at = friendly_name, now
    return key


async def revoke_key(platform: Platform, key: ApiKey, actor: Actor) -> None:
    """Revoked keys stop authenticating at once; the row stays so a 401 can say the key was revoked."""
    now = utcnow()
    async with changes.write(platform, changes.CREDENTIALS) as conn:
        await require_open(conn, key.account_sid)
        await store.update_key(conn, key.sid, now, revoked_at=now)
        await audit.record(conn, key.account_sid, AuditAction.KEY_REVOKED, actor, now, key.sid)
