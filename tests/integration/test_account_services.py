"""Accounts, subaccounts and Auth Tokens at the depth of the use cases (services/accounts.py, services/auth.py),
on a migrated database of each test's own and no server process: the status rules, the token life cycle
(secondary, promote, delete, rotate) and authentication by keyed digest. The HTTP shape of the same rules is
tested through the API elsewhere (test_token_rotation.py, test_cross_account.py)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import select

from mycpaas.bootstrap import build_platform
from mycpaas.domain.accounts import Account, AccountStatus
from mycpaas.domain.audit import Actor, AuditAction
from mycpaas.errors import AuthenticationFailed, ErrorCode, InvalidRequest, NotFound
from mycpaas.services import accounts, audit, numbers, provisioning
from mycpaas.services.auth import Authenticator, Scope
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import tables
from tests.integration.helpers import unique_number
from tests.platform_support import run_on_platform

ACTOR = Actor("tester@example.com", "127.0.0.9")


async def refused(auth: Authenticator, sid: str, token: str, path: str | None = None, **kw: Scope) -> str:
    """The detail of the 401 that authenticating as (sid, token) gets; fails if it is let in."""
    with pytest.raises(AuthenticationFailed) as failed:
        await auth.authenticate(sid, token, path, "192.0.2.1", **kw)
    return str(failed.value.detail)


async def let_in(auth: Authenticator, sid: str, token: str, path: str | None = None, **kw: Scope) -> Account:
    return (await auth.authenticate(sid, token, path, "192.0.2.1", **kw)).target


def test_status_rules_of_accounts_and_subaccounts(sqlite_platform: Settings) -> None:
    async def scenario(platform: Platform) -> None:
        auth = Authenticator(platform)
        parent = await accounts.create_account(platform, "parent")
        child = await accounts.create_subaccount(platform, parent.account, None)
        assert child.account.owner_account_sid == parent.account.sid
        assert child.account.friendly_name.startswith("SubAccount Created at ")

        # A subaccount cannot have subaccounts; an account cannot change its own status.
        with pytest.raises(InvalidRequest) as nested:
            await accounts.create_subaccount(platform, child.account, "grandchild")
        assert nested.value.code is ErrorCode.FORBIDDEN
        with pytest.raises(InvalidRequest) as own:
            await accounts.update_account(platform, child.account, child.account, None, "suspended", ACTOR)
        assert own.value.code is ErrorCode.FORBIDDEN
        with pytest.raises(InvalidRequest) as unknown:
            await accounts.update_account(platform, parent.account, child.account, None, "frozen", ACTOR)
        assert unknown.value.code is ErrorCode.INVALID_PARAMETER and "frozen" in unknown.value.message
        with pytest.raises(InvalidRequest) as long_name:
            await accounts.update_account(platform, parent.account, child.account, "x" * 65, None, ACTOR)
        assert long_name.value.code is ErrorCode.INVALID_FRIENDLY_NAME

        # Suspended: its own token no longer authenticates, and says why; active again: it does.
        # (The target passed in is the account as read now, as the API and dashboard pass it.)
        suspended = await accounts.update_account(
            platform, parent.account, child.account, None, "suspended", ACTOR
        )
        assert "is suspended" in await refused(auth, child.account.sid, child.auth_token)
        active = await accounts.update_account(
            platform, parent.account, suspended.account, None, "active", ACTOR
        )
        assert (await let_in(auth, child.account.sid, child.auth_token)).sid == child.account.sid

        # Closed: its numbers are released, the parent may still read it (admin scope) but not act on it,
        # and it can never be reopened.
        number = await numbers.create_number(platform, child.account, {"PhoneNumber": unique_number()})
        closed = await accounts.update_account(
            platform, parent.account, active.account, None, "closed", ACTOR
        )
        assert closed.account.status is AccountStatus.CLOSED
        assert await numbers.get_number(platform, child.account, number.sid) is None
        sid, token = parent.account.sid, parent.auth_token
        assert "is closed" in await refused(auth, sid, token, child.account.sid)
        admin = await let_in(auth, sid, token, child.account.sid, scope=Scope.ACCOUNT_ADMIN)
        assert admin.status is AccountStatus.CLOSED
        with pytest.raises(InvalidRequest) as reopen:
            await accounts.update_account(platform, parent.account, closed.account, None, "active", ACTOR)
        assert reopen.value.code is ErrorCode.SUBACCOUNT_CLOSED
        # A rename of the closed account is still allowed and changes nothing else.
        renamed = await accounts.update_account(platform, parent.account, closed.account, "kept", None, ACTOR)
        assert (renamed.account.friendly_name, renamed.account.status) == ("kept", AccountStatus.CLOSED)

        changes = [
            e.target
            for e in await audit.recent(platform, parent.account.sid)
            if e.action is AuditAction.ACCOUNT_STATUS_CHANGED
        ]
        assert sorted(changes) == sorted(
            f"{child.account.sid} {s}" for s in ("suspended", "active", "closed")
        )

    run_on_platform(sqlite_platform, scenario)


def test_a_parent_reaches_its_subaccounts_only(sqlite_platform: Settings) -> None:
    async def scenario(platform: Platform) -> None:
        auth = Authenticator(platform)
        a = await accounts.create_account(platform, "a")
        a1 = await accounts.create_subaccount(platform, a.account, "a1")
        b = await accounts.create_account(platform, "b")
        assert (await let_in(auth, a.account.sid, a.auth_token, a1.account.sid)).sid == a1.account.sid
        assert "cannot access account" in await refused(auth, a1.account.sid, a1.auth_token, a.account.sid)
        assert "cannot access account" in await refused(auth, a.account.sid, a.auth_token, b.account.sid)
        assert "cannot access account" in await refused(auth, b.account.sid, b.auth_token, a1.account.sid)
        missing = "AC" + "0" * 32
        assert "no such account" in await refused(auth, a.account.sid, a.auth_token, missing)

    run_on_platform(sqlite_platform, scenario)


def test_token_life_cycle_secondary_promote_delete(platform_settings: Settings) -> None:
    """On both databases: retired tokens are looked up by digest to say "rotated on"."""

    async def scenario(platform: Platform) -> None:
        auth = Authenticator(platform)
        owner = await accounts.create_account(platform, "tokens")
        sid, first = owner.account.sid, owner.auth_token

        with pytest.raises(InvalidRequest) as nothing:
            await accounts.promote_secondary_token(platform, owner.account, ACTOR)
        assert nothing.value.code is ErrorCode.INVALID_PARAMETER
        with pytest.raises(NotFound):
            await accounts.delete_secondary_token(platform, owner.account, "/v1/AuthTokens/Secondary", ACTOR)

        made = await accounts.create_secondary_token(platform, owner.account, ACTOR)
        second = made.secondary_auth_token
        assert second and second != first and made.auth_token == first
        for token in (first, second):
            assert (await let_in(auth, sid, token)).sid == sid

        # A new secondary replaces the old one, which now reads as rotated.
        remade = await accounts.create_secondary_token(platform, owner.account, ACTOR)
        third = remade.secondary_auth_token
        assert third and third not in (first, second)
        assert "was rotated on" in await refused(auth, sid, second)

        promoted = await accounts.promote_secondary_token(platform, owner.account, ACTOR)
        assert (promoted.auth_token, promoted.secondary_auth_token) == (third, None)
        assert "was rotated on" in await refused(auth, sid, first)
        assert (await let_in(auth, sid, third)).sid == sid

        fourth = (await accounts.create_secondary_token(platform, owner.account, ACTOR)).secondary_auth_token
        assert fourth
        await accounts.delete_secondary_token(platform, owner.account, "/v1/AuthTokens/Secondary", ACTOR)
        assert "was rotated on" in await refused(auth, sid, fourth)
        view = await accounts.get_account(platform, sid)
        assert view is not None and (view.auth_token, view.secondary_auth_token) == (third, None)

        rotated = await accounts.rotate_token(platform, owner.account, ACTOR)
        assert (
            rotated.auth_token not in (first, second, third, fourth) and rotated.secondary_auth_token is None
        )
        assert "was rotated on" in await refused(auth, sid, third)
        assert (await let_in(auth, sid, rotated.auth_token)).sid == sid

        # Never a secret in a refusal; spaces around the current token are named as such.
        assert "extra spaces" in await refused(auth, sid, f" {rotated.auth_token}\n")
        made_up = "f" * 32
        detail = await refused(auth, sid, made_up)
        assert "not valid" in detail and made_up not in detail
        assert "No Auth Token was given" in await refused(auth, sid, "")
        actions = [e.action for e in await audit.recent(platform, sid)]
        assert actions.count(AuditAction.SECONDARY_CREATED) == 4
        assert actions.count(AuditAction.TOKEN_PROMOTED) == 2 and AuditAction.SECONDARY_DELETED in actions

    run_on_platform(platform_settings, scenario)


def test_tokens_are_stored_sealed_and_found_by_keyed_digest(platform_settings: Settings) -> None:
    async def scenario(platform: Platform) -> None:
        owner = await accounts.create_account(platform, "digest")
        secondary = await accounts.create_secondary_token(platform, owner.account, ACTOR)
        async with platform.db.read() as conn:
            row = (
                (
                    await conn.execute(
                        select(tables.accounts).where(tables.accounts.c.sid == owner.account.sid)
                    )
                )
                .mappings()
                .one()
            )
        stored = " ".join(str(value) for value in row.values())
        for token in (owner.auth_token, secondary.secondary_auth_token):
            assert token and token not in stored, "a token is stored in clear"
        assert row["primary_token_digest"] == platform.secrets.digest(owner.auth_token)
        assert row["secondary_token_digest"] == platform.secrets.digest(secondary.secondary_auth_token or "")
        # The digest is keyed: a plain SHA-256 of the token is not what is stored.
        assert row["primary_token_digest"] != hashlib.sha256(owner.auth_token.encode()).hexdigest()

        # A token of the right shape but for another account does not open this one.
        other = await accounts.create_account(platform, "other")
        auth = Authenticator(platform)
        assert "not valid" in await refused(auth, owner.account.sid, other.auth_token)

    run_on_platform(platform_settings, scenario)


def test_servers_starting_together_on_an_empty_database_create_one_owner(platform_settings: Settings) -> None:
    """Two servers' first starts at once: both see no account, one creates the owner and the other none
    (each prints only what it created, so the credentials printed are the owner's, once)."""

    async def scenario(first: Platform) -> None:
        second = build_platform(platform_settings)
        try:
            starts = await asyncio.gather(provisioning.provision(first), provisioning.provision(second))
        finally:
            await second.committer.close()
            await second.db.dispose()
        assert sum(start.owner is not None for start in starts) == 1
        assert len(await accounts.list_all_accounts(first)) == 1

    run_on_platform(platform_settings, scenario)
