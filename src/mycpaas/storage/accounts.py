"""Accounts, their Auth Tokens and API keys, as rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, insert, or_, select, text, update

from mycpaas.domain.accounts import Account, AccountStatus, AccountType, ApiKey
from mycpaas.storage import credential_uses
from mycpaas.storage.database import Connection, sqlite_driver
from mycpaas.storage.sqlite_fast import IN_JSON, from_ts, json_list
from mycpaas.storage.tables import accounts, api_keys, phone_numbers, retired_tokens


@dataclass(slots=True)
class StoredTokens:
    """What authentication needs of an account besides the Account itself."""

    primary_digest: str
    secondary_digest: str | None
    primary_sealed: str
    secondary_sealed: str | None
    secondary_created_at: datetime | None


def _account(row: Row[Any]) -> Account:
    return Account(
        sid=row.sid,
        owner_account_sid=row.owner_account_sid,
        friendly_name=row.friendly_name,
        status=AccountStatus(row.status),
        type=AccountType(row.type),
        created_at=row.created_at,
        updated_at=row.updated_at,
        token_rotated_at=row.token_rotated_at,
    )


def _tokens(row: Row[Any]) -> StoredTokens:
    return StoredTokens(
        primary_digest=row.primary_token_digest,
        secondary_digest=row.secondary_token_digest,
        primary_sealed=row.primary_token_sealed,
        secondary_sealed=row.secondary_token_sealed,
        secondary_created_at=row.secondary_created_at,
    )


async def insert_account(conn: Connection, account: Account, token_sealed: str, token_digest: str) -> None:
    await conn.execute(
        insert(accounts).values(
            sid=account.sid,
            owner_account_sid=account.owner_account_sid,
            friendly_name=account.friendly_name,
            status=account.status.value,
            type=account.type.value,
            primary_token_sealed=token_sealed,
            primary_token_digest=token_digest,
            created_at=account.created_at,
            updated_at=account.updated_at,
        )
    )


# Hot statements are built once: SQLAlchemy then reuses their cache key instead of re-deriving it per call.
_BY_SID = select(accounts).where(accounts.c.sid == bindparam("sid"))
_BY_SIDS = select(accounts).where(accounts.c.sid.in_(bindparam("sids", expanding=True)))


async def get_accounts_with_tokens(
    conn: Connection, sids: set[str]
) -> dict[str, tuple[Account, StoredTokens]]:
    """One indexed lookup for every account an authentication decision needs."""
    driver = sqlite_driver(conn)
    if driver is not None:
        # On the driver: SQLAlchemy's execution (the expanding IN rendered anew each call, a Row per
        # account) was 3.4% of the webhook drain's event loop, where each claimed batch reads its accounts
        # (py-spy of bench/webhooks_inproc.py, h15-wq, 2026-12-07).
        rows = driver.execute(_SQLITE_BY_SIDS, (json_list(sids),)).fetchall()
        return {row[0]: _from_driver(row) for row in rows}
    if len(sids) == 1:
        result = await conn.execute(_BY_SID, {"sid": next(iter(sids))})
    else:
        result = await conn.execute(_BY_SIDS, {"sids": list(sids)})
    return {row.sid: (_account(row), _tokens(row)) for row in result.all()}


_COLUMNS = (
    "sid, owner_account_sid, friendly_name, status, type, created_at, updated_at, token_rotated_at, "
    "primary_token_digest, secondary_token_digest, primary_token_sealed, secondary_token_sealed, "
    "secondary_created_at"
)
_SQLITE_BY_SIDS = f"SELECT {_COLUMNS} FROM accounts WHERE sid IN {IN_JSON}"


def _from_driver(row: tuple[Any, ...]) -> tuple[Account, StoredTokens]:
    """A row of _SQLITE_BY_SIDS as _account and _tokens make it of SQLAlchemy's Row."""
    sid, owner, name, status, type_, created, updated, rotated, digest, digest2, sealed, sealed2, created2 = (
        row
    )
    account = Account(
        sid=sid,
        owner_account_sid=owner,
        friendly_name=name,
        status=AccountStatus(status),
        type=AccountType(type_),
        created_at=datetime.fromisoformat(created),
        updated_at=datetime.fromisoformat(updated),
        token_rotated_at=from_ts(rotated),
    )
    return account, StoredTokens(digest, digest2, sealed, sealed2, from_ts(created2))


async def get_account(conn: Connection, sid: str) -> tuple[Account, StoredTokens] | None:
    row = (await conn.execute(_BY_SID, {"sid": sid})).first()
    return (_account(row), _tokens(row)) if row else None


async def status(conn: Connection, sid: str) -> AccountStatus | None:
    """The account's status, read without a lock (the delivery worker's check; the account's closing cancels
    what is still scheduled in its own transaction)."""
    found = (await conn.execute(select(accounts.c.status).where(accounts.c.sid == sid))).scalar_one_or_none()
    return AccountStatus(found) if found is not None else None


async def status_for_update(conn: Connection, sid: str) -> AccountStatus | None:
    """The account's status, its row locked until the transaction ends (PostgreSQL; SQLite's write
    transactions are exclusive already), so a change that needs an open account cannot race its closing."""
    query = select(accounts.c.status).where(accounts.c.sid == sid).with_for_update()
    status = (await conn.execute(query)).scalar_one_or_none()
    return AccountStatus(status) if status is not None else None


async def list_accounts(
    conn: Connection,
    owner_sid: str,
    include_subaccounts: bool,
    friendly_name: str | None,
    status: str | None,
) -> list[tuple[Account, StoredTokens]]:
    scope = (
        or_(accounts.c.sid == owner_sid, accounts.c.owner_account_sid == owner_sid)
        if include_subaccounts
        else accounts.c.sid == owner_sid
    )
    query = select(accounts).where(scope)
    if friendly_name is not None:
        query = query.where(accounts.c.friendly_name == friendly_name)
    if status is not None:
        query = query.where(accounts.c.status == status)
    rows = (await conn.execute(query.order_by(accounts.c.created_at, accounts.c.sid))).all()
    return [(_account(row), _tokens(row)) for row in rows]


async def list_all_accounts(conn: Connection) -> list[Account]:
    rows = (await conn.execute(select(accounts).order_by(accounts.c.created_at))).all()
    return [_account(row) for row in rows]


async def count_accounts(conn: Connection) -> int:
    return int((await conn.execute(select(func.count()).select_from(accounts))).scalar_one())


async def lock_accounts(conn: Connection) -> None:
    """Hold every other writer of accounts off until this transaction ends (PostgreSQL; SQLite's write
    transactions are exclusive already): two servers' first starts must not both find no account."""
    await conn.execute(text("LOCK TABLE accounts IN EXCLUSIVE MODE"))


async def update_account(conn: Connection, sid: str, now: datetime, **values: object) -> None:
    await conn.execute(update(accounts).where(accounts.c.sid == sid).values(updated_at=now, **values))


async def release_numbers(conn: Connection, account_sid: str) -> None:
    await conn.execute(delete(phone_numbers).where(phone_numbers.c.account_sid == account_sid))


async def set_secondary_token(conn: Connection, sid: str, sealed: str, digest: str, now: datetime) -> None:
    await update_account(
        conn,
        sid,
        now,
        secondary_token_sealed=sealed,
        secondary_token_digest=digest,
        secondary_created_at=now,
    )


async def retire_token(conn: Connection, account_sid: str, digest: str, now: datetime) -> None:
    await conn.execute(
        insert(retired_tokens).values(account_sid=account_sid, token_digest=digest, retired_at=now)
    )
    await credential_uses.forget(conn, digest)


async def find_retired_token(conn: Connection, account_sid: str, digest: str) -> datetime | None:
    row = (
        await conn.execute(
            select(retired_tokens.c.retired_at)
            .where(and_(retired_tokens.c.account_sid == account_sid, retired_tokens.c.token_digest == digest))
            .order_by(retired_tokens.c.retired_at.desc())
            .limit(1)
        )
    ).first()
    return row.retired_at if row else None


def _key(row: Row[Any]) -> ApiKey:
    return ApiKey(
        sid=row.sid,
        account_sid=row.account_sid,
        friendly_name=row.friendly_name,
        key_type=row.key_type,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def insert_key(conn: Connection, key: ApiKey, secret_digest: str) -> None:
    await conn.execute(
        insert(api_keys).values(
            sid=key.sid,
            account_sid=key.account_sid,
            friendly_name=key.friendly_name,
            key_type=key.key_type,
            secret_digest=secret_digest,
            created_at=key.created_at,
            updated_at=key.updated_at,
        )
    )


@dataclass(slots=True)
class StoredKey:
    key: ApiKey
    secret_digest: str
    revoked_at: datetime | None


async def get_key(conn: Connection, sid: str) -> StoredKey | None:
    row = (await conn.execute(select(api_keys).where(api_keys.c.sid == sid))).first()
    return StoredKey(_key(row), row.secret_digest, row.revoked_at) if row else None


async def list_keys(conn: Connection, account_sid: str) -> list[ApiKey]:
    rows = (
        await conn.execute(
            select(api_keys)
            .where(and_(api_keys.c.account_sid == account_sid, api_keys.c.revoked_at.is_(None)))
            .order_by(api_keys.c.created_at.desc(), api_keys.c.sid)
        )
    ).all()
    return [_key(row) for row in rows]


async def update_key(conn: Connection, sid: str, now: datetime, **values: object) -> None:
    await conn.execute(update(api_keys).where(api_keys.c.sid == sid).values(updated_at=now, **values))
