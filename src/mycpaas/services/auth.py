"""Authentication of API requests: Account SID + Auth Token, or API key SID + secret, over HTTP Basic.

One indexed lookup fetches every account the decision needs (the credential's and the one in the path).
Every failure names the row of the user's 401 table that applies, and never echoes the secret presented.

Successes are kept in a bounded cache (services/lookup_cache.py; the lookup was 13% of a create's time),
keyed by the credential's keyed digest (never the secret), the account in the path and the scope: what the
same request would be answered again. Every change of an account, a token or a key announces CREDENTIALS
(services/changes.py), which empties it: at once in the process that made the change, within one poll of the
change signal (0.25 s) in every other. Failures are never kept: each goes the whole way, to its detailed 401
and the throttle.

Each success, cached or not, is noted for the "last used" of its credential (services/credential_uses.py: a
dict lookup here; a write at most about once a minute per credential, in the background).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

import mycpaas.metrics as metrics
from mycpaas.domain.accounts import Account, AccountStatus, ApiKey
from mycpaas.domain.clock import rfc2822
from mycpaas.domain.credentials import digests_match
from mycpaas.domain.sids import Prefix, is_sid
from mycpaas.errors import AuthenticationFailed, TooManyRequests
from mycpaas.services.credential_uses import CredentialUses
from mycpaas.services.lookup_cache import LookupCache
from mycpaas.services.platform import CREDENTIALS, Platform
from mycpaas.services.throttle import FailureThrottle, SharedFailures
from mycpaas.storage import accounts as store
from mycpaas.storage.database import Connection

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SEPARATE = (
    "mycpaas credentials are separate from Twilio and SignalWire: use the Account SID and Auth Token "
    "shown under Credentials on your mycpaas Dashboard."
)
# A few thousand credentials and the accounts they act on: far more than a server's active callers, small
# enough (a few MB) not to matter.
CACHE_CAPACITY = 4096


class Scope(Enum):
    """What a request touches; standard API keys may not touch accounts, keys or auth tokens."""

    RESOURCES = "resources"
    ACCOUNT_ADMIN = "account_admin"


@dataclass(slots=True, frozen=True)
class Principal:
    """Who is calling (the credential's account and key, if any) and which account the path names."""

    account: Account
    target: Account
    key: ApiKey | None


class Authenticator:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        settings = platform.settings
        # On PostgreSQL several processes may serve the API: their failures are counted together.
        shared = None if platform.db.is_sqlite else SharedFailures(platform, "api")
        self.throttle = FailureThrottle(
            settings.auth_max_failures, settings.auth_failure_window_seconds, shared=shared
        )
        # (username, digest of the password, account in the path, scope) -> who that request is.
        self.cache: LookupCache[tuple[str, str, str | None, Scope], Principal] = LookupCache(CACHE_CAPACITY)
        platform.on_change(CREDENTIALS, self.cache.clear)
        # When each credential was last used, and from where: written about once a minute, off this path.
        self.uses = CredentialUses(platform)

    async def authenticate(
        self,
        username: str,
        password: str,
        path_account_sid: str | None,
        client: str,
        scope: Scope = Scope.RESOURCES,
    ) -> Principal:
        digest = self.platform.secrets.digest(password)
        key = (username, digest, path_account_sid, scope)
        known = self.cache.get(key)
        if known is not None:
            self.uses.note(digest, client)
            return known
        generation = self.cache.generation
        throttle_keys = [f"ip:{client}", f"account:{username}"]
        try:
            principal = await self._verify(username, password, digest, path_account_sid, scope)
        except AuthenticationFailed:
            metrics.AUTH_FAILURES.labels("api").inc()
            limited = self.throttle.limited(throttle_keys)
            if limited is not None:
                metrics.THROTTLED.labels("api").inc()
                raise TooManyRequests(limited[1], self._refusal(*limited)) from None
            self.throttle.record_failure(throttle_keys)
            await self.throttle.settle()  # the other processes know of it before the client's next try
            raise
        self.cache.put(key, principal, generation)
        self.uses.note(digest, client)
        return principal

    def _refusal(self, key: str, retry_after: int) -> str:
        """Which limit was hit and which settings change it: an honest client that meets it (a test suite
        checking its 401 handling, say) learns what to raise instead of guessing."""
        which = "from this address" if key.startswith("ip:") else "for this account"
        return (
            f"Too many failed authentication attempts {which}: {self.throttle.max_failures} failures in "
            f"{self.throttle.window_seconds:g} seconds (settings MYCPAAS_AUTH_MAX_FAILURES and "
            f"MYCPAAS_AUTH_FAILURE_WINDOW_SECONDS); retry in {retry_after} seconds."
        )

    async def _verify(
        self, username: str, password: str, digest: str, path_account_sid: str | None, scope: Scope
    ) -> Principal:
        if username.startswith(Prefix.API_KEY.value):
            return await self._verify_key(username, digest, path_account_sid, scope)
        _check_account_sid_shape(username, password)
        wanted = {username} | ({path_account_sid} if path_account_sid else set())
        async with self.platform.db.read() as conn:
            found = await store.get_accounts_with_tokens(conn, wanted)
            if username not in found:
                raise AuthenticationFailed(f"No mycpaas account has the Account SID {username}. {_SEPARATE}")
            account, tokens = found[username]
            if not (
                digests_match(tokens.primary_digest, digest) or digests_match(tokens.secondary_digest, digest)
            ):
                raise AuthenticationFailed(await _wrong_token_detail(conn, self.platform, account, password))
        _check_active(account)
        target = _resolve_target(account, path_account_sid, found, scope)
        return Principal(account=account, target=target, key=None)

    async def _verify_key(
        self, username: str, digest: str, path_account_sid: str | None, scope: Scope
    ) -> Principal:
        if not is_sid(username, Prefix.API_KEY):
            raise AuthenticationFailed(
                f"An API key SID is SK followed by 32 hexadecimal characters (34 in all); "
                f"the username given has {len(username)} characters."
            )
        async with self.platform.db.read() as conn:
            stored = await store.get_key(conn, username)
            if stored is None:
                raise AuthenticationFailed(f"No API key {username} exists on mycpaas. {_SEPARATE}")
            if stored.revoked_at is not None:
                raise AuthenticationFailed(
                    f"API key {username} was revoked on {rfc2822(stored.revoked_at)}; create a new key."
                )
            if not digests_match(stored.secret_digest, digest):
                raise AuthenticationFailed(
                    f"The secret is not valid for API key {username}. The secret is shown once, when the key "
                    "is created; if it is lost, create a new key."
                )
            wanted = {stored.key.account_sid} | ({path_account_sid} if path_account_sid else set())
            found = await store.get_accounts_with_tokens(conn, wanted)
        account = found[stored.key.account_sid][0]
        _check_active(account)
        if scope is Scope.ACCOUNT_ADMIN and stored.key.key_type != "main":
            raise AuthenticationFailed(
                f"API key {username} is a standard key; standard keys cannot use the Accounts, Keys or "
                "AuthTokens resources. Use the Account SID and Auth Token."
            )
        target = _resolve_target(account, path_account_sid, found, scope)
        return Principal(account=account, target=target, key=stored.key)


def _check_account_sid_shape(username: str, password: str) -> None:
    if _UUID.fullmatch(username):
        raise AuthenticationFailed(
            f"The username looks like a SignalWire Project ID (a UUID), not a mycpaas Account SID. {_SEPARATE}"
        )
    if not username.startswith(Prefix.ACCOUNT.value):
        hint = " It looks like a SignalWire API token." if username.startswith("PT") else ""
        raise AuthenticationFailed(
            "The username must be your Account SID, which starts with AC (or an API key SID starting "
            f"with SK).{hint} Confirm it matches the Account SID shown on the Dashboard."
        )
    if not is_sid(username, Prefix.ACCOUNT):
        raise AuthenticationFailed(
            "An Account SID is AC followed by 32 hexadecimal characters (34 in all); the username given has "
            f"{len(username)} characters. Confirm it matches the Account SID shown on the Dashboard."
        )
    if password.startswith("PT"):
        raise AuthenticationFailed(
            f"The password looks like a SignalWire API token (it starts with PT). {_SEPARATE}"
        )


async def _wrong_token_detail(conn: Connection, platform: Platform, account: Account, password: str) -> str:
    stripped = password.strip()
    if stripped != password:
        candidate = platform.secrets.digest(stripped)
        found = await store.get_accounts_with_tokens(conn, {account.sid})
        tokens = found[account.sid][1]
        if digests_match(tokens.primary_digest, candidate) or digests_match(
            tokens.secondary_digest, candidate
        ):
            return (
                f"The Auth Token for {account.sid} has extra spaces or line breaks around it; remove them "
                "and try again."
            )
    retired_at = await store.find_retired_token(conn, account.sid, platform.secrets.digest(password))
    if retired_at is None and stripped != password:
        retired_at = await store.find_retired_token(conn, account.sid, platform.secrets.digest(stripped))
    if retired_at is not None:
        return (
            f"This Auth Token for {account.sid} was valid but was rotated on {rfc2822(retired_at)}. Update your "
            "application or environment variables with the new token."
        )
    if not password:
        return f"No Auth Token was given for {account.sid}: send AccountSid:AuthToken with HTTP Basic auth."
    return (
        f"The Auth Token is not valid for {account.sid}. Re-copy the Auth Token from the Dashboard and make "
        "sure there are no extra spaces."
    )


def _check_active(account: Account) -> None:
    if account.status is not AccountStatus.ACTIVE:
        raise AuthenticationFailed(
            f"Account {account.sid} is {account.status.value}; a {account.status.value} account cannot use "
            "the API."
        )


def _resolve_target(
    account: Account,
    path_account_sid: str | None,
    found: dict[str, tuple[Account, store.StoredTokens]],
    scope: Scope,
) -> Account:
    if path_account_sid is None or path_account_sid == account.sid:
        return account
    if path_account_sid not in found:
        raise AuthenticationFailed(
            f"The credentials of {account.sid} cannot access account {path_account_sid}: no such account "
            "exists, or it is not a subaccount of yours."
        )
    target = found[path_account_sid][0]
    if not account.may_act_on(target):
        raise AuthenticationFailed(
            f"The credentials of {account.sid} cannot access account {path_account_sid}. Credentials work only "
            "on their own account and, for a parent account, on its subaccounts."
        )
    if target.status is AccountStatus.CLOSED and scope is not Scope.ACCOUNT_ADMIN:
        # A parent may still read a closed subaccount's record; nothing may act on its resources.
        raise AuthenticationFailed(f"Account {target.sid} is closed; a closed account cannot use the API.")
    return target
