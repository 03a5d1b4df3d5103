"""`mycpaas users create`: a dashboard user, the password read from the terminal or one line of stdin.

The other `users` commands (list, reset-password, remove) are in cli/user_admin.py."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mycpaas.cli import user_admin
from mycpaas.cli.common import Refusal, base_url, common_options, on_platform
from mycpaas.cli.passwords import read_password
from mycpaas.domain.audit import Actor
from mycpaas.errors import InvalidRequest
from mycpaas.services import accounts, users
from mycpaas.services.platform import Platform
from mycpaas.services.provisioning import first_main_account

if TYPE_CHECKING:
    from mycpaas.cli.common import Subcommands


async def create(args: argparse.Namespace, platform: Platform) -> int:
    if args.account:
        account = await accounts.find_account(platform, args.account)
    else:
        account = await first_main_account(platform)
    if account is None:
        raise Refusal(f"mycpaas: no account {args.account or '(the database has none yet)'}", code=2)
    user = await users.create_user(
        platform, account, args.email, read_password(args), Actor.cli(), admin=args.admin
    )
    role = "platform administrator" if user.is_admin else "dashboard user"
    print(f"Created {role} {user.email} of account {account.sid}; sign in at {base_url(platform.settings)}/")
    return 0


def register(commands: Subcommands) -> None:
    usr = commands.add_parser(
        "users", help="manage dashboard users", description="Manage the users who sign in to the dashboard."
    )
    actions = usr.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    new = actions.add_parser(
        "create",
        help="create a dashboard user (asks for the password)",
        description="Create a user who signs in to the dashboard with an email and password (at least 12 "
        "characters). The password is asked for on the terminal, or read from one line of standard input "
        "with --password-stdin. Once a user exists, the set-up link `mycpaas serve` printed stops working.",
    )
    common_options(new)
    new.add_argument("email", help="the user's email address, used to sign in")
    new.add_argument(
        "--account", metavar="SID", help="the main Account SID the user belongs to (default: the oldest one)"
    )
    new.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    new.add_argument(
        "--admin",
        action="store_true",
        help="a platform administrator, who also manages the carrier connectors in the dashboard (the first "
        "user is one anyway)",
    )
    new.set_defaults(func=on_platform(create, (InvalidRequest,)))
    user_admin.register(actions)
