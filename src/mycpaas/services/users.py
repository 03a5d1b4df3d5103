"""Dashboard users: creating them, signing in and out, sessions, re-entering the password, set-up codes.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 defaults) on two threads of their own, so a
burst of sign-ins neither takes every core nor delays the default executor (webhook DNS lookups). Attempts
are throttled per client address and per (address, email); an attempt counts from its start, so parallel
requests cannot slip past the limit while earlier ones are being checked, and while a key is throttled every
attempt is refused, the right password included, or the throttle would not slow a guesser down. Keying on
the address (not the email alone) means nobody can lock a user out from elsewhere. Session identifiers and set-up
codes are random 256/192-bit strings kept as keyed digests, so a copy of the database cannot sign anyone in.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

import mycpaas.metrics as metrics
from mycpaas.domain.accounts import Account, AccountStatus
from mycpaas.domain.audit import Actor, AuditAction
from mycpaas.domain.clock import utcnow
from mycpaas.domain.users import (
    Session,
    User,
    new_session_id,
    new_setup_code,
    normalize_email,
    password_problem,
)
from mycpaas.errors import AuthenticationFailed, ErrorCode, InvalidRequest, TooManyRequests
from mycpaas.services import audit
from mycpaas.services.accounts import find_account
from mycpaas.services.platform import Platform
from mycpaas.services.throttle import FailureThrottle, SharedFailures
from mycpaas.storage import users as store
from mycpaas.storage.database import Connection

_hasher = PasswordHasher()
_HASHING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so that a miss costs as long as a wrong password.
    Made on first use: every `mycpaas` command imports this module, and a hash costs 64 MiB and ~0.1 s."""
    return _hasher.hash("not a password of anyone")


_WRONG = "The email or password is not correct."


class SignInThrottle(FailureThrottle):
    """Sign-ins, password re-entries and set-up codes, per address and per (address, email)."""

    async def begin(self, client: str, email: str) -> list[str]:
        """Refuse a throttled attempt; otherwise count it as failed until `succeeded` says otherwise (in
        every process: the count is shared before the password is checked)."""
        keys = [f"ip:{client}", f"ip-email:{client} {email}"]
        limited = self.limited(keys)
        if limited is not None:
            key, retry_after = limited
            which = "from this address" if key.startswith("ip:") else "for this email from this address"
            metrics.THROTTLED.labels("dashboard").inc()
            raise TooManyRequests(
                retry_after,
                f"Too many failed attempts {which}: {self.max_failures} in {self.window_seconds:g} "
                f"seconds (settings MYCPAAS_SIGN_IN_MAX_FAILURES and MYCPAAS_SIGN_IN_FAILURE_WINDOW_SECONDS); "
                f"try again in {retry_after} seconds.",
            )
        self.record_failure(keys)
        await self.settle()
        return keys

    def succeeded(self, keys: list[str]) -> None:
        self.withdraw(keys)


async def _hash(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, _hasher.hash, password)


def new_throttle(platform: Platform) -> SignInThrottle:
    settings = platform.settings
    shared = None if platform.db.is_sqlite else SharedFailures(platform, "sign-in")
    return SignInThrottle(
        settings.sign_in_max_failures, settings.sign_in_failure_window_seconds, shared=shared
    )


async def _verify(password_hash: str, password: str) -> bool:
    try:
        return await asyncio.get_running_loop().run_in_executor(
            _HASHING, _hasher.verify, password_hash, password
        )
    except (VerificationError, InvalidHashError):
        return False


def _checked_credentials(email: str, password: str) -> str:
    normalized = normalize_email(email)
    if normalized is None:
        raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason="Enter a valid email address.")
    if problem := password_problem(password):
        raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason=problem)
    return normalized


async def _insert_user(
    conn: Connection, account_sid: str, email: str, password_hash: str, actor: Actor, admin: bool = False
) -> User:
    """The first user of the platform is its administrator, whoever creates it (the set-up link or the CLI):
    someone must be able to manage the carriers from the dashboard."""
    now = utcnow()
    admin = admin or await store.count_users(conn) == 0
    try:
        user = await store.insert_user(conn, email, account_sid, password_hash, now, admin)
    except store.EmailTaken:
        raise InvalidRequest(
            ErrorCode.INVALID_PARAMETER, reason=f"A user with the email {email} exists."
        ) from None
    await audit.record(conn, account_sid, AuditAction.USER_CREATED, actor, now, email[:64])
    return user


async def create_user(
    platform: Platform, account: Account, email: str, password: str, actor: Actor, admin: bool = False
) -> User:
    """A user of a main account (subaccounts are reached by switching, not by their own users); `admin`
    makes a platform administrator (the first user is one anyway)."""
    if account.is_subaccount:
        raise InvalidRequest(
            ErrorCode.INVALID_PARAMETER, reason="Dashboard users belong to a main account, not a subaccount."
        )
    normalized = _checked_credentials(email, password)
    password_hash = await _hash(password)
    async with platform.db.write() as conn:
        user = await _insert_user(conn, account.sid, normalized, password_hash, actor, admin)
        await store.delete_setup_codes(conn)  # the first user exists: the printed link must stop working
    return user


async def count_users(platform: Platform) -> int:
    async with platform.db.read() as conn:
        return await store.count_users(conn)


async def issue_setup_code(platform: Platform, account: Account) -> str:
    """A one-time code for the first-start set-up link; only the newest code works."""
    code = new_setup_code()
    expires_at = utcnow() + timedelta(seconds=platform.settings.setup_link_seconds)
    async with platform.db.write() as conn:
        await store.replace_setup_code(
            conn, platform.secrets.digest("setup:" + code), account.sid, expires_at
        )
    return code


_STALE_LINK = (
    "This set-up link is not valid: it was used, it expired, or a newer one was printed. "
    "Restart `mycpaas serve` for a new link, or run `mycpaas users create`."
)


async def redeem_setup_code(
    platform: Platform, throttle: SignInThrottle, code: str, email: str, password: str, client: str
) -> User:
    """The first user, from the code of the printed link. The code is checked before anything costly."""
    normalized = _checked_credentials(email, password)
    keys = await throttle.begin(client, "setup")
    digest = platform.secrets.digest("setup:" + code)
    async with platform.db.read() as conn:
        valid = await store.setup_code_account(conn, digest, utcnow()) is not None
    if not valid:
        raise AuthenticationFailed(_STALE_LINK)
    throttle.succeeded(keys)
    password_hash = await _hash(password)
    async with platform.db.write() as conn:
        # Taken (deleted) in the transaction that creates the user: two redemptions cannot both succeed.
        account_sid = await store.take_setup_code(conn, digest, utcnow())
        if account_sid is None:
            raise AuthenticationFailed(_STALE_LINK)
        return await _insert_user(conn, account_sid, normalized, password_hash, Actor("set-up link", client))


async def sign_in(
    platform: Platform, throttle: SignInThrottle, email: str, password: str, client: str
) -> tuple[str, Session]:
    """A new session (a fresh identifier at every sign-in) or AuthenticationFailed / TooManyRequests."""
    normalized = normalize_email(email) or email.strip().lower()[:254]
    keys = await throttle.begin(client, normalized)
    async with platform.db.read() as conn:
        found = await store.get_user_by_email(conn, normalized)
    stored = found[1] if found else await asyncio.get_running_loop().run_in_executor(_HASHING, _dummy_hash)
    if not await _verify(stored, password[:1024]) or found is None:
        metrics.AUTH_FAILURES.labels("dashboard").inc()
        raise AuthenticationFailed(_WRONG)
    throttle.succeeded(keys)
    user, password_hash = found
    session_id = new_session_id()
    now = utcnow()
    session = Session(
        digest=platform.secrets.digest("session:" + session_id),
        user=user,
        account_sid=user.account_sid,
        created_at=now,
        expires_at=now + timedelta(seconds=platform.settings.dashboard_session_seconds),
        unlocked_until=None,
    )
    rehash = _hasher.check_needs_rehash(password_hash)
    new_hash = await _hash(password) if rehash else None
    async with platform.db.write() as conn:
        await store.delete_expired_sessions(conn, now)
        await store.insert_session(conn, session.digest, user.id, user.account_sid, now, session.expires_at)
        await store.update_user(
            conn, user.id, last_sign_in_at=now, **({"password_hash": new_hash} if new_hash else {})
        )
    return session_id, session


async def load_session(platform: Platform, session_id: str) -> Session | None:
    if not session_id or len(session_id) > 128:
        return None
    async with platform.db.read() as conn:
        return await store.get_session(conn, platform.secrets.digest("session:" + session_id), utcnow())


async def sign_out(platform: Platform, session: Session) -> None:
    async with platform.db.write() as conn:
        await store.delete_session(conn, session.digest)


async def unlock(
    platform: Platform, throttle: SignInThrottle, session: Session, password: str, client: str
) -> None:
    """Re-entering the password opens a short window for revealing and rotating credentials."""
    keys = await throttle.begin(client, session.user.email)
    async with platform.db.read() as conn:
        password_hash = await store.get_password_hash(conn, session.user.id)
    if password_hash is None or not await _verify(password_hash, password[:1024]):
        raise AuthenticationFailed("The password is not correct.")
    throttle.succeeded(keys)
    session.unlocked_until = utcnow() + timedelta(seconds=platform.settings.dashboard_unlock_seconds)
    async with platform.db.write() as conn:
        await store.update_session(conn, session.digest, unlocked_until=session.unlocked_until)


async def switch_account(platform: Platform, session: Session, account_sid: str) -> Account:
    """Put the user's main account or one of its open subaccounts in view.

    The password window closes: it was opened for the account then in view, and revealing another
    account's token must ask again (and be audited on that account)."""
    account = await find_account(platform, account_sid)
    if account is None or not viewable(account, session.user):
        raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason="There is no such account to switch to.")
    async with platform.db.write() as conn:
        await store.update_session(conn, session.digest, account_sid=account.sid, unlocked_until=None)
    session.account_sid, session.unlocked_until = account.sid, None
    return account


def viewable(account: Account, user: User) -> bool:
    """The user's own account, or one of its subaccounts that is not closed."""
    return account.owner_account_sid == user.account_sid and account.status is not AccountStatus.CLOSED


async def list_users(platform: Platform) -> list[User]:
    async with platform.db.read() as conn:
        return await store.list_users(conn)


class UserNotFound(LookupError):
    """No dashboard user has this email (the CLI's expected outcome, exit code 2)."""

    def __init__(self, email: str) -> None:
        super().__init__(f"no dashboard user has the email {email}")


async def _find_user(conn: Connection, email: str) -> User:
    found = await store.get_user_by_email(conn, normalize_email(email) or email.strip().lower())
    if found is None:
        raise UserNotFound(email)
    return found[0]


async def require_user(platform: Platform, email: str) -> User:
    """The user with this email, or UserNotFound."""
    async with platform.db.read() as conn:
        return await _find_user(conn, email)


async def reset_password(platform: Platform, email: str, password: str, actor: Actor) -> User:
    """A new password for the user; every session of theirs ends, so whoever held the old one is signed out."""
    if problem := password_problem(password):
        raise InvalidRequest(ErrorCode.INVALID_PARAMETER, reason=problem)
    await require_user(platform, email)  # told before the hash is paid for
    password_hash = await _hash(password)
    async with platform.db.write() as conn:
        user = await _find_user(conn, email)
        await store.update_user(conn, user.id, password_hash=password_hash)
        await store.delete_user_sessions(conn, user.id)
        await audit.record(
            conn, user.account_sid, AuditAction.USER_PASSWORD_RESET, actor, utcnow(), user.email[:64]
        )
    return user


async def remove_user(platform: Platform, email: str, actor: Actor) -> User:
    """The user and their sessions; with the last user gone, the next `serve` prints a set-up link again."""
    async with platform.db.write() as conn:
        user = await _find_user(conn, email)
        await store.delete_user(conn, user.id)
        await audit.record(conn, user.account_sid, AuditAction.USER_REMOVED, actor, utcnow(), user.email[:64])
    return user
