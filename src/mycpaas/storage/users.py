"""Dashboard users, their sessions and the one-time set-up codes, as rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from mycpaas.domain.users import Session, User
from mycpaas.storage.database import Connection
from mycpaas.storage.tables import dashboard_sessions, dashboard_users, setup_codes

_USER_COLUMNS = (
    dashboard_users.c.id,
    dashboard_users.c.email,
    dashboard_users.c.account_sid,
    dashboard_users.c.created_at,
    dashboard_users.c.last_sign_in_at,
    dashboard_users.c.is_admin,
)


def _user(row: Row[Any]) -> User:
    return User(
        id=row.id,
        email=row.email,
        account_sid=row.account_sid,
        created_at=row.created_at,
        last_sign_in_at=row.last_sign_in_at,
        is_admin=bool(row.is_admin),
    )


class EmailTaken(Exception):
    pass


async def insert_user(
    conn: Connection, email: str, account_sid: str, password_hash: str, now: datetime, is_admin: bool
) -> User:
    """Raises EmailTaken (the unique index decides, so two concurrent creations cannot both pass)."""
    try:
        result = await conn.execute(
            insert(dashboard_users).values(
                email=email,
                account_sid=account_sid,
                password_hash=password_hash,
                created_at=now,
                is_admin=is_admin,
            )
        )
    except IntegrityError:
        raise EmailTaken from None
    assert result.inserted_primary_key is not None
    return User(int(result.inserted_primary_key[0]), email, account_sid, now, None, is_admin)


async def get_user_by_email(conn: Connection, email: str) -> tuple[User, str] | None:
    """The user and their password hash."""
    row = (
        await conn.execute(
            select(*_USER_COLUMNS, dashboard_users.c.password_hash).where(dashboard_users.c.email == email)
        )
    ).first()
    return (_user(row), row.password_hash) if row else None


async def get_password_hash(conn: Connection, user_id: int) -> str | None:
    return (
        await conn.execute(select(dashboard_users.c.password_hash).where(dashboard_users.c.id == user_id))
    ).scalar_one_or_none()


async def update_user(conn: Connection, user_id: int, **values: object) -> None:
    await conn.execute(update(dashboard_users).where(dashboard_users.c.id == user_id).values(**values))


async def count_users(conn: Connection) -> int:
    return int((await conn.execute(select(func.count()).select_from(dashboard_users))).scalar_one())


async def insert_session(
    conn: Connection, digest: str, user_id: int, account_sid: str, now: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        insert(dashboard_sessions).values(
            digest=digest, user_id=user_id, account_sid=account_sid, created_at=now, expires_at=expires_at
        )
    )


async def get_session(conn: Connection, digest: str, now: datetime) -> Session | None:
    """The unexpired session with this digest, together with its user, in one indexed lookup."""
    row = (
        await conn.execute(
            select(
                *_USER_COLUMNS,
                dashboard_sessions.c.digest,
                dashboard_sessions.c.account_sid.label("view_account_sid"),
                dashboard_sessions.c.created_at.label("session_created_at"),
                dashboard_sessions.c.expires_at,
                dashboard_sessions.c.unlocked_until,
            )
            .join(dashboard_users, dashboard_users.c.id == dashboard_sessions.c.user_id)
            .where(dashboard_sessions.c.digest == digest, dashboard_sessions.c.expires_at > now)
        )
    ).first()
    if row is None:
        return None
    return Session(
        digest=row.digest,
        user=_user(row),
        account_sid=row.view_account_sid,
        created_at=row.session_created_at,
        expires_at=row.expires_at,
        unlocked_until=row.unlocked_until,
    )


async def update_session(conn: Connection, digest: str, **values: object) -> None:
    await conn.execute(
        update(dashboard_sessions).where(dashboard_sessions.c.digest == digest).values(**values)
    )


async def delete_session(conn: Connection, digest: str) -> None:
    await conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.digest == digest))


async def delete_expired_sessions(conn: Connection, now: datetime) -> None:
    await conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now))


async def replace_setup_code(conn: Connection, digest: str, account_sid: str, expires_at: datetime) -> None:
    """Only the newest code works: printing a new link invalidates the one printed before."""
    await conn.execute(delete(setup_codes))
    await conn.execute(
        insert(setup_codes).values(digest=digest, account_sid=account_sid, expires_at=expires_at)
    )


async def setup_code_account(conn: Connection, digest: str, now: datetime) -> str | None:
    return (
        await conn.execute(
            select(setup_codes.c.account_sid).where(
                setup_codes.c.digest == digest, setup_codes.c.expires_at > now
            )
        )
    ).scalar_one_or_none()


async def take_setup_code(conn: Connection, digest: str, now: datetime) -> str | None:
    """Use up the code: the account it sets up, or None when it is unknown, expired or already taken.

    One DELETE … RETURNING, so of two concurrent redemptions only the one whose delete found the row wins."""
    return (
        await conn.execute(
            delete(setup_codes)
            .where(setup_codes.c.digest == digest, setup_codes.c.expires_at > now)
            .returning(setup_codes.c.account_sid)
        )
    ).scalar_one_or_none()


async def delete_setup_codes(conn: Connection) -> None:
    await conn.execute(delete(setup_codes))


async def list_users(conn: Connection) -> list[User]:
    return [_user(row) for row in await conn.execute(select(*_USER_COLUMNS).order_by(dashboard_users.c.id))]


async def delete_user_sessions(conn: Connection, user_id: int) -> None:
    await conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.user_id == user_id))


async def delete_user(conn: Connection, user_id: int) -> None:
    """The user and their sessions (which refer to the user)."""
    await delete_user_sessions(conn, user_id)
    await conn.execute(delete(dashboard_users).where(dashboard_users.c.id == user_id))
