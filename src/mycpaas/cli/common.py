"""What every command shares: settings from flags and environment, the checked database, printed credentials.

`on_platform` is the one path by which a command reaches the database. It refuses, before anything is created,
a data directory or database where no mycpaas database is, or whose schema is older or newer than this code
(only `serve` and `migrate` create or migrate the schema), and a server secret that is missing, malformed or
not the database's (services/server_secret.py).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mycpaas.bootstrap import build_platform
from mycpaas.domain.accounts import Account
from mycpaas.domain.control_characters import ACTING
from mycpaas.errors import MycpaasError
from mycpaas.services import server_secret
from mycpaas.services.accounts import AccountView, find_account
from mycpaas.services.platform import Platform
from mycpaas.services.provisioning import first_main_account
from mycpaas.settings import Settings
from mycpaas.storage import migrate
from mycpaas.storage.migrate import SchemaState

if TYPE_CHECKING:
    # What `add_subparsers()` returns, to which each command module adds its commands (argparse has no
    # public name for it, and the class is generic only to type checkers).
    Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]

Action = Callable[[argparse.Namespace, Platform], Awaitable[int]]
Command = Callable[[argparse.Namespace], int]

POINT_ELSEWHERE = (
    "Point to your data directory with --data-dir or MYCPAAS_DATA_DIR (default: ./data, in the current "
    "directory), or to your database with --database-url or MYCPAAS_DATABASE_URL."
)


class Refusal(Exception):
    """A command that cannot go on: `main` prints the message to stderr and exits with the code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        metavar="DIR",
        help="data directory: the SQLite database, secret.key and mycpaas.env (default: $MYCPAAS_DATA_DIR or "
        "./data in the current directory)",
    )


def common_options(parser: argparse.ArgumentParser) -> None:
    data_dir_option(parser)
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="database URL, e.g. postgresql://user@host/db (default: $MYCPAAS_DATABASE_URL or "
        "<data dir>/mycpaas.db)",
    )


def json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print JSON (the API's field names and shapes) instead of text"
    )


def print_json(value: object) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


# What a terminal acts on rather than shows: C0 and C1 controls and DEL (ESC opens sequences that clear the
# screen, move the cursor, set the window title; CR overwrites the line; BEL rings), the bidirectional marks,
# embeddings, overrides and isolates that reorder the text after them, and the line and paragraph separators.
_NOT_SHOWN = re.compile(f"[{ACTING}]")


def printable(value: object) -> str:
    """`value` as text for the operator's terminal, each character a terminal would act on written as its
    escape (`\\x1b`, `\\n`, `\\u202e`). The text output prints what accounts wrote (message bodies, friendly names,
    URLs; an inbound body is anyone's): shown, never obeyed. --json needs none of this (JSON escapes them)."""
    return _NOT_SHOWN.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), str(value))


def account_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--account",
        metavar="SID",
        help="the Account SID (AC...) to act as: a main account or a subaccount (default: the owner account, "
        "the oldest main account)",
    )


async def target_account(args: argparse.Namespace, platform: Platform) -> Account:
    """The account of --account, else the owner; a Refusal (exit code 2) naming what was not found."""
    account = (
        await find_account(platform, args.account) if args.account else await first_main_account(platform)
    )
    if account is None:
        raise Refusal(f"mycpaas: no account {args.account or '(the database has none yet)'}", code=2)
    return account


def settings_from(args: argparse.Namespace) -> Settings:
    environ = dict(os.environ)
    if getattr(args, "data_dir", None):
        # So that the config file of the chosen data directory (<data dir>/mycpaas.env) is the one read.
        environ["MYCPAAS_DATA_DIR"] = args.data_dir
    settings = Settings.from_env(environ)
    overrides: dict[str, Any] = {}
    for name in ("data_dir", "host", "port", "database_url", "tls_cert_file", "tls_key_file"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = Path(value) if name == "data_dir" else value
    return dataclasses.replace(settings, **overrides)


def check_schema(settings: Settings) -> None:
    """Refuse a database that is missing, older or newer than this code, or a missing or malformed secret."""
    where = migrate.describe(settings.effective_database_url)
    try:
        schema = migrate.inspect(settings.effective_database_url)
    except migrate.DatabaseUnreadable as error:
        raise Refusal(f"mycpaas: cannot use the database at {where}: {error}") from None
    if schema.state is SchemaState.MISSING:
        raise Refusal(
            f"mycpaas: no mycpaas database at {where}.\n{POINT_ELSEWHERE}\n"
            "To start a new one, run `mycpaas serve` (or `mycpaas migrate`)."
        )
    if schema.state is SchemaState.BEHIND:
        raise Refusal(
            f"mycpaas: the database at {where} has schema revision {schema.revision}; this version of mycpaas "
            f"needs {schema.head}. Run `mycpaas migrate` (with the same --data-dir / --database-url) first."
        )
    if schema.state is SchemaState.AHEAD:
        raise Refusal(
            f"mycpaas: the database at {where} has schema revision {schema.revision}, which this version of "
            f"mycpaas does not know (its newest is {schema.head}): it was migrated by a newer mycpaas."
        )
    server_secret.read(
        settings
    )  # SecretRefused (see `main`) if missing or malformed: told before anything opens


def on_platform(action: Action, errors: tuple[type[Exception], ...] = ()) -> Command:
    """A command that runs `action` on the checked database: settings, check, platform, action, dispose.

    Exceptions of the types in `errors` are expected outcomes (a name already taken, ...): their text goes to
    stderr, with the Twilio error code of a platform error (as the API would answer), and the exit code is 2.
    """

    def command(args: argparse.Namespace) -> int:
        settings = settings_from(args)
        check_schema(settings)

        async def run() -> int:
            platform = build_platform(settings)
            try:
                await server_secret.check(platform)  # the database's secret, or SecretRefused
                return await action(args, platform)
            except errors as error:
                code = f" (error {int(error.code)})" if isinstance(error, MycpaasError) else ""
                print(f"mycpaas: {error}{code}", file=sys.stderr)
                return 2
            finally:
                await platform.db.dispose()

        return asyncio.run(run())

    return command


# Listening on every address: the URL printed for this machine's browser names the loopback address instead.
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def base_url(settings: Settings) -> str:
    """The server's URL for links printed to the operator: MYCPAAS_PUBLIC_URL, else where it listens."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme = "https" if settings.tls_cert_file else "http"
    host = _WILDCARDS.get(settings.host, settings.host)
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{settings.port}"


def print_credentials(view: AccountView, settings: Settings, heading: str) -> None:
    """To the terminal (stdout), never through the logger: log files must not hold tokens."""
    sid, token = view.account.sid, view.auth_token
    print(heading)
    print(f"  Account SID: {sid}")
    print(f"  Auth Token:  {token}")
    print(
        "  Keep the Auth Token secret. `mycpaas accounts show --show-token` and the dashboard show it again; "
        "`mycpaas token rotate` replaces it."
    )
    print(
        f"  Try it: curl -X POST {base_url(settings)}/api/laml/2010-04-01/Accounts/{sid}/Messages.json "
        f"-u {sid}:{token} --data-urlencode To=+15558675310 --data-urlencode From=+15005550006 "
        '--data-urlencode "Body=Hello from mycpaas"'
    )
    sys.stdout.flush()
