"""`mycpaas accounts create|list|show` and `mycpaas token rotate`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mycpaas.api.serializers import account_json
from mycpaas.cli.common import (
    Refusal,
    common_options,
    json_option,
    on_platform,
    print_credentials,
    print_json,
    printable,
)
from mycpaas.domain.accounts import Account
from mycpaas.domain.audit import Actor
from mycpaas.errors import InvalidRequest
from mycpaas.services import accounts
from mycpaas.services.platform import Platform

if TYPE_CHECKING:
    from mycpaas.cli.common import Subcommands


async def create(args: argparse.Namespace, platform: Platform) -> int:
    owner = None
    if args.parent:
        parent = await accounts.get_account(platform, args.parent)
        if parent is None:
            raise Refusal(f"mycpaas: no account {args.parent}", code=2)
        owner = parent.account.sid
    view = await accounts.create_account(platform, args.friendly_name, owner)
    print_credentials(view, platform.settings, "Created account:")
    return 0


def describe(account: Account) -> str:
    kind = "subaccount of " + account.owner_account_sid if account.is_subaccount else "main account"
    return f"{account.sid}  {account.status.value:<9}  {printable(account.friendly_name)}  ({kind})"


def _json(account: Account, auth_token: str | None) -> dict[str, object]:
    """The API's JSON of the account; its Auth Token only when asked for (--show-token)."""
    body = account_json(account, auth_token or "", "")
    if auth_token is None:
        del body["auth_token"]
    return body


async def list_all(args: argparse.Namespace, platform: Platform) -> int:
    found = await accounts.list_all_accounts(platform)
    if args.json:
        print_json({"accounts": [_json(account, None) for account in found]})
        return 0
    for account in found:
        print(describe(account))
    return 0


async def show(args: argparse.Namespace, platform: Platform) -> int:
    view = await accounts.get_account(platform, args.sid)
    if view is None:
        raise Refusal(f"mycpaas: no account {args.sid}", code=2)
    if args.json:
        print_json(_json(view.account, view.auth_token if args.show_token else None))
        return 0
    print(describe(view.account))
    rotated = view.account.token_rotated_at
    print(f"  Auth Token last rotated: {rotated.isoformat() + 'Z' if rotated else 'never'}")
    if args.show_token:
        print(f"  Auth Token: {view.auth_token}")
    else:
        print("  Auth Token: (hidden; pass --show-token to print it)")
    return 0


async def rotate_token(args: argparse.Namespace, platform: Platform) -> int:
    view = await accounts.get_account(platform, args.sid)
    if view is None:
        raise Refusal(f"mycpaas: no account {args.sid}", code=2)
    try:
        rotated = await accounts.rotate_token(platform, view.account, Actor.cli())
    except InvalidRequest as error:  # a closed account is read-only
        raise Refusal(
            f"mycpaas: {error.message} ({view.account.sid} is {view.account.status.value}; error {int(error.code)})",
            code=2,
        ) from None
    print_credentials(rotated, platform.settings, "Rotated the Auth Token; the old token no longer works:")
    return 0


def register(commands: Subcommands) -> None:
    acc = commands.add_parser(
        "accounts",
        help="create, list and show accounts",
        description="Manage accounts in an existing mycpaas database (one that `mycpaas serve` or "
        "`mycpaas migrate` created).",
    )
    actions = acc.add_subparsers(dest="accounts_command", required=True, metavar="ACTION")
    new = actions.add_parser(
        "create",
        help="create an account and print its credentials",
        description="Create a main account, or a subaccount with --parent, and print its Account SID and "
        "Auth Token.",
    )
    common_options(new)
    new.add_argument("--friendly-name", default="mycpaas account", help="a name for the account")
    new.add_argument("--parent", metavar="SID", help="create a subaccount of this Account SID")
    new.set_defaults(func=on_platform(create))

    lst = actions.add_parser("list", help="list every account", description="List every account.")
    common_options(lst)
    json_option(lst)
    lst.set_defaults(func=on_platform(list_all))

    one = actions.add_parser(
        "show",
        help="show one account",
        description="Show one account: status, kind, when its Auth Token was last rotated.",
    )
    common_options(one)
    one.add_argument("sid", help="the Account SID (AC...)")
    one.add_argument("--show-token", action="store_true", help="also print the Auth Token")
    json_option(one)
    one.set_defaults(func=on_platform(show))

    tok = commands.add_parser("token", help="manage Auth Tokens", description="Manage Auth Tokens.")
    tok_actions = tok.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    rotate = tok_actions.add_parser(
        "rotate",
        help="replace an account's Auth Token now",
        description="Replace the primary Auth Token at once and print the new one; the old one stops working "
        "immediately, also on a running server. For a rotation without downtime use the secondary token "
        "(POST /v1/AuthTokens/Secondary, then Promote). A closed account is read-only and is refused.",
    )
    common_options(rotate)
    rotate.add_argument("sid", help="the Account SID (AC...)")
    rotate.set_defaults(func=on_platform(rotate_token))
