"""First start: create the owner account and the one-time dashboard set-up link, if none exists.

`mycpaas serve` calls this only once it holds its listening socket, so a server that cannot serve (port in use,
unreadable TLS files) creates no account and hands out no credentials that nobody could use yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from mycpaas.domain.accounts import Account
from mycpaas.services import accounts, users
from mycpaas.services.platform import Platform
from mycpaas.storage.accounts import count_accounts

OWNER_NAME = "Owner account"


@dataclass(frozen=True, slots=True)
class FirstStart:
    """What this start created: the owner's credentials (None if accounts existed) and a set-up code (None
    unless the dashboard is on, credentials are printed and no dashboard user exists)."""

    owner: accounts.AccountView | None
    setup_code: str | None


async def first_main_account(platform: Platform) -> Account | None:
    """The oldest main account: the owner, to whom the first dashboard user belongs by default."""
    mains = [a for a in await accounts.list_all_accounts(platform) if not a.is_subaccount]
    return min(mains, key=lambda a: a.created_at) if mains else None


async def provision(platform: Platform) -> FirstStart:
    """Create the owner account of an empty database, and a new set-up code while no dashboard user exists.

    A set-up code is useful only if it is printed, so none is issued with MYCPAAS_PRINT_CREDENTIALS=false or
    without the dashboard. Every start issues a new one (only the newest works): the terminal is the only
    place it is ever shown.
    """
    settings = platform.settings
    async with platform.db.read() as conn:
        empty = await count_accounts(conn) == 0
    owner = await accounts.create_first_account(platform, OWNER_NAME) if empty else None
    code = None
    if settings.dashboard and settings.print_credentials and await users.count_users(platform) == 0:
        account = await first_main_account(platform)
        if account is not None:
            code = await users.issue_setup_code(platform, account)
    return FirstStart(owner, code)
