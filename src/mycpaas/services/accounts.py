"""Use cases for accounts, subaccounts and Auth Tokens (primary, secondary, promote).

Every change of an account (a token made, promoted or deleted, an account created, renamed, suspended,
reactivated or closed) is announced on the CREDENTIALS topic of the change signal (services/changes.py) in
the transaction that makes it, so that every process drops what it holds of the old state: the
authentication cache keeps whole accounts (services/auth.py), so a rename is announced too. Closing an account
releases its numbers, which is announced on NUMBERS as well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mycpaas.domain.accounts import Account, AccountStatus, AccountType
from mycpaas.domain.audit import Actor, AuditAction
from mycpaas.domain.clock import utcnow
from mycpaas.domain.credentials import new_auth_token
from mycpaas.domain.sids import Prefix, new_sid
from mycpaas.errors import ErrorCode, InvalidRequest, NotFound
from mycpaas.services import audit, changes, scheduling
from mycpaas.services.platform import Platform
from mycpaas.storage import accounts as store
from mycpaas.storage import messaging_services as pools
from mycpaas.storage.database import Connection

FRIENDLY_NAME_MAX = 64


@dataclass(slots=True)
class AccountView:
    """An account together with its readable Auth Token, for the owner or parent only."""

    account: Account
    auth_token: str
    secondary_auth_token: str | None
    secondary_created_at: datetime | None


def _view(platform: Platform, account: Account, tokens: store.StoredTokens) -> AccountView:
    box = platform.secrets
    return AccountView(
        account=account,
        auth_token=box.decrypt(tokens.primary_sealed, account.sid),
        secondary_auth_token=(
            box.decrypt(tokens.secondary_sealed, account.sid) if tokens.secondary_sealed else None
        ),
        secondary_created_at=tokens.secondary_created_at,
    )


async def require_open(conn: Connection, account_sid: str) -> None:
    """The one rule for changing what an account holds (numbers, keys, Auth Tokens): a closed account is
    read-only, even for its parent, who may still read it (and rename it: the name is the parent's label).
    A suspended one may be changed, since it may be reactivated; it only cannot send (messaging.py) nor
    authenticate (auth.py). Called inside the write transaction that makes the change, the account's row
    locked, so the change cannot race its closing."""
    if await store.status_for_update(conn, account_sid) in (None, AccountStatus.CLOSED):
        raise InvalidRequest(ErrorCode.ACCOUNT_NOT_ACTIVE)


def check_friendly_name(name: str) -> str:
    if not 1 <= len(name) <= FRIENDLY_NAME_MAX:
        raise InvalidRequest(ErrorCode.INVALID_FRIENDLY_NAME)
    return name


async def create_account(platform: Platform, friendly_name: str, owner_sid: str | None = None) -> AccountView:
    """Create a main account (no owner) or a subaccount of `owner_sid`."""
    account, token = _new_account(friendly_name, owner_sid)
    async with changes.write(platform, changes.CREDENTIALS) as conn:
        await _insert(platform, conn, account, token)
    return AccountView(account, token, None, None)


async def create_first_account(platform: Platform, friendly_name: str) -> AccountView | None:
    """Create a main account if the database has none (a first start), else None. Servers starting side by
    side on one empty PostgreSQL database create one owner between them, not one each."""
    account, token = _new_account(friendly_name, None)
    async with platform.db.write() as conn:
        if not platform.db.is_sqlite:
            await store.lock_accounts(conn)
        if await store.count_accounts(conn) > 0:
            return None
        await _insert(platform, conn, account, token)
        await changes.announce(conn, changes.CREDENTIALS)  # no cache holds a new account: no hurry here
    return AccountView(account, token, None, None)


async def _insert(platform: Platform, conn: Connection, account: Account, token: str) -> None:
    sealed = platform.secrets.encrypt(token, account.sid)
    await store.insert_account(conn, account, sealed, platform.secrets.digest(token))


def _new_account(friendly_name: str, owner_sid: str | None) -> tuple[Account, str]:
    now = utcnow()
    sid = new_sid(Prefix.ACCOUNT)
    account = Account(
        sid=sid,
        owner_account_sid=owner_sid or sid,
        friendly_name=check_friendly_name(friendly_name),
        status=AccountStatus.ACTIVE,
        type=AccountType.FULL,
        created_at=now,
        updated_at=now,
        token_rotated_at=None,
    )
    return account, new_auth_token()


def default_subaccount_name(now: datetime) -> str:
    return "SubAccount Created at " + now.strftime("%Y-%m-%d %I:%M %p").replace(" 0", " ", 1)


async def create_subaccount(platform: Platform, parent: Account, friendly_name: str | None) -> AccountView:
    if parent.is_subaccount:
        raise InvalidRequest(ErrorCode.FORBIDDEN, reason="Subaccounts cannot create subaccounts")
    return await create_account(platform, friendly_name or default_subaccount_name(utcnow()), parent.sid)


async def get_account(platform: Platform, sid: str) -> AccountView | None:
    async with platform.db.read() as conn:
        found = await store.get_account(conn, sid)
    return _view(platform, *found) if found else None


async def find_account(platform: Platform, sid: str) -> Account | None:
    """The account alone, its tokens left sealed (for pages that do not show them)."""
    async with platform.db.read() as conn:
        found = await store.get_account(conn, sid)
    return found[0] if found else None


async def list_accounts(
    platform: Platform, caller: Account, friendly_name: str | None, status: str | None
) -> list[AccountView]:
    async with platform.db.read() as conn:
        rows = await store.list_accounts(conn, caller.sid, not caller.is_subaccount, friendly_name, status)
    return [_view(platform, *row) for row in rows]


async def list_all_accounts(platform: Platform) -> list[Account]:
    async with platform.db.read() as conn:
        return await store.list_all_accounts(conn)


async def update_account(
    platform: Platform,
    caller: Account,
    target: Account,
    friendly_name: str | None,
    status: str | None,
    actor: Actor,
) -> AccountView:
    values: dict[str, object] = {}
    if friendly_name is not None:
        values["friendly_name"] = check_friendly_name(friendly_name)
    if status is not None:
        try:
            new_status = AccountStatus(status)
        except ValueError:
            raise InvalidRequest(
                ErrorCode.INVALID_PARAMETER,
                reason=f"Status must be one of active, suspended, closed: {status}",
            ) from None
        if new_status is not target.status:
            if target.sid == caller.sid:
                raise InvalidRequest(
                    ErrorCode.FORBIDDEN, reason="An account cannot change its own status; its parent can"
                )
            if target.status is AccountStatus.CLOSED:
                raise InvalidRequest(ErrorCode.SUBACCOUNT_CLOSED)
            values["status"] = new_status.value
    now = utcnow()
    canceled = 0
    closing = values.get("status") == AccountStatus.CLOSED.value
    topics = (changes.CREDENTIALS,) if values else ()
    async with changes.write(platform, *topics, *((changes.NUMBERS,) if closing else ())) as conn:
        if values:
            await store.update_account(conn, target.sid, now, **values)
        if closing:
            canceled = await scheduling.cancel_for_account(conn, target.sid, now)
            await pools.remove_account_numbers(conn, target.sid)  # pools reference the numbers
            await store.release_numbers(conn, target.sid)
        if "status" in values:
            await audit.record(
                conn, caller.sid, AuditAction.ACCOUNT_STATUS_CHANGED, actor, now, f"{target.sid} {status}"
            )
        found = await store.get_account(conn, target.sid)
    assert found is not None
    if canceled:
        platform.wake_webhooks()  # the canceled messages' callbacks
    return _view(platform, *found)


async def create_secondary_token(platform: Platform, account: Account, actor: Actor) -> AccountView:
    """A new secondary token; any previous secondary stops working."""
    token = new_auth_token()
    now = utcnow()
    async with changes.write(platform, changes.CREDENTIALS) as conn:
        await require_open(conn, account.sid)
        found = await store.get_account(conn, account.sid)
        assert found is not None
        if found[1].secondary_digest:
            await store.retire_token(conn, account.sid, found[1].secondary_digest, now)
        await store.set_secondary_token(
            conn,
            account.sid,
            platform.secrets.encrypt(token, account.sid),
            platform.secrets.digest(token),
            now,
        )
        await audit.record(conn, account.sid, AuditAction.SECONDARY_CREATED, actor, now)
        found = await store.get_account(conn, account.sid)
    assert found is not None
    return _view(platform, *found)


async def delete_secondary_token(platform: Platform, account: Account, path: str, actor: Actor) -> None:
    now = utcnow()
    async with changes.write(platform, changes.CREDENTIALS) as conn:
        await require_open(conn, account.sid)
        found = await store.get_account(conn, account.sid)
        assert found is not None
        if not found[1].secondary_digest:
            raise NotFound(path)
        await store.retire_token(conn, account.sid, found[1].secondary_digest, now)
        await store.update_account(
            conn,
            account.sid,
            now,
            secondary_token_sealed=None,
            secondary_token_digest=None,
            secondary_created_at=None,
        )
        await audit.record(conn, account.sid, AuditAction.SECONDARY_DELETED, actor, now)


async def promote_secondary_token(platform: Platform, account: Account, actor: Actor) -> AccountView:
    """The secondary becomes primary; the old primary stops working at once."""
    now = utcnow()
    async with changes.write(platform, changes.CREDENTIALS) as conn:
        await require_open(conn, account.sid)
        found = await store.get_account(conn, account.sid)
        assert found is not None
        tokens = found[1]
        if not tokens.secondary_digest or not tokens.secondary_sealed:
            raise InvalidRequest(
                ErrorCode.INVALID_PARAMETER, reason="There is no secondary Auth Token to promote"
            )
        await store.retire_token(conn, account.sid, tokens.primary_digest, now)
        await store.update_account(
            conn,
            account.sid,
            now,
            primary_token_sealed=tokens.secondary_sealed,
            primary_token_digest=tokens.secondary_digest,
            secondary_token_sealed=None,
            secondary_token_digest=None,
            secondary_created_at=None,
            token_rotated_at=now,
        )
        await audit.record(conn, account.sid, AuditAction.TOKEN_PROMOTED, actor, now)
        found = await store.get_account(conn, account.sid)
    assert found is not None
    return _view(platform, *found)


async def rotate_token(platform: Platform, account: Account, actor: Actor) -> AccountView:
    """Replace the primary token outright (the CLI's `token rotate`): a secondary made and promoted at once."""
    await create_secondary_token(platform, account, actor)
    return await promote_secondary_token(platform, account, actor)


async def record_reveal(platform: Platform, account: Account, actor: Actor) -> None:
    """Note in the audit log that someone was let see the account's tokens."""
    async with platform.db.write() as conn:
        await audit.record(conn, account.sid, AuditAction.TOKEN_REVEALED, actor, utcnow())
