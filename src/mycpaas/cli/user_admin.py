"""`mycpaas users list|reset-password|remove`: the dashboard users an operator looks after.

A new password is read as `users create` reads one (the terminal, or one line of stdin with --password-stdin),
never from argv; resetting it signs the user out everywhere. Both changes are in the account's audit log.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mycpaas.cli.common import common_options, json_option, on_platform, print_json, printable
from mycpaas.cli.passwords import read_password
from mycpaas.domain.audit import Actor
from mycpaas.domain.users import User
from mycpaas.errors import InvalidRequest
from mycpaas.services import users
from mycpaas.services.platform import Platform

if TYPE_CHECKING:
    from mycpaas.cli.common import Subcommands

_ERRORS = (InvalidRequest, users.UserNotFound)


def _when(value: object) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if hasattr(value, "isoformat") else None


def user_json(user: User) -> dict[str, object]:
    return {
        "email": user.email,
        "account_sid": user.account_sid,
        "role": "admin" if user.is_admin else "user",
        "date_created": _when(user.created_at),
        "last_sign_in": _when(user.last_sign_in_at),
    }


async def list_all(args: argparse.Namespace, platform: Platform) -> int:
    found = await users.list_users(platform)
    if args.json:
        print_json({"users": [user_json(u) for u in found]})
        return 0
    if not found:
        print("No dashboard users: `mycpaas users create`, or the set-up link `mycpaas serve` prints.")
    for user in found:
        print(
            f"{printable(user.email)}  {'admin' if user.is_admin else 'user'}  account {user.account_sid}  created {_when(user.created_at)}  "
            f"last sign-in {_when(user.last_sign_in_at) or 'never'}"
        )
    return 0


async def reset_password(args: argparse.Namespace, platform: Platform) -> int:
    await users.require_user(platform, args.email)  # told before the password is asked for
    user = await users.reset_password(platform, args.email, read_password(args), Actor.cli())
    print(f"Set a new password for {user.email}; their dashboard sessions have ended.")
    return 0


async def remove(args: argparse.Namespace, platform: Platform) -> int:
    user = await users.remove_user(platform, args.email, Actor.cli())
    print(f"Removed dashboard user {user.email} and signed them out.")
    if not await users.count_users(platform):
        print("No dashboard user is left: the next `mycpaas serve` prints a set-up link again.")
    return 0


def register(actions: Subcommands) -> None:
    """Adds these commands to `users` (cli/users.py)."""
    lst = actions.add_parser("list", help="list dashboard users", description="List the dashboard users.")
    common_options(lst)
    json_option(lst)
    lst.set_defaults(func=on_platform(list_all, _ERRORS))

    reset = actions.add_parser(
        "reset-password",
        help="set a new password for a user (asks for it)",
        description="Set a new password (at least 12 characters) for a dashboard user and end their sessions. "
        "The password is asked for on the terminal, or read from one line of standard input with "
        "--password-stdin; never give it as an argument.",
    )
    common_options(reset)
    reset.add_argument("email", help="the user's email address")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    reset.set_defaults(func=on_platform(reset_password, _ERRORS))

    gone = actions.add_parser(
        "remove",
        help="remove a dashboard user",
        description="Remove a dashboard user and end their sessions. The account and its credentials stay.",
    )
    common_options(gone)
    gone.add_argument("email", help="the user's email address")
    gone.set_defaults(func=on_platform(remove, _ERRORS))
