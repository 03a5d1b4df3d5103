"""The `mycpaas` command: serve the platform and manage accounts and tokens from a terminal.

Credentials are printed to the terminal (stdout) directly, never through the logger, so they cannot end up in
log files or log shipping.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mycpaas import __version__
from mycpaas.bootstrap import build_platform
from mycpaas.domain.accounts import Account
from mycpaas.domain.audit import Actor
from mycpaas.domain.carriers import BIND_TYPES, Coding, Concatenation, Connector, InvalidConnector
from mycpaas.errors import InvalidRequest
from mycpaas.services import accounts, carriers, users
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import migrate


def _settings(args: argparse.Namespace) -> Settings:
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


def _run(settings: Settings, action: Callable[[Platform], Awaitable[int]]) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.effective_database_url)

    async def main() -> int:
        platform = build_platform(settings)
        try:
            return await action(platform)
        finally:
            await platform.db.dispose()

    return asyncio.run(main())


def _base_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme = "https" if settings.tls_cert_file else "http"
    return f"{scheme}://{settings.host}:{settings.port}"


def _print_credentials(view: accounts.AccountView, settings: Settings, heading: str) -> None:
    sid, token = view.account.sid, view.auth_token
    print(heading)
    print(f"  Account SID: {sid}")
    print(f"  Auth Token:  {token}")
    print("  Keep the Auth Token secret; it is shown here once. Rotate it with `mycpaas token rotate`.")
    print(
        f"  Try it: curl -X POST {_base_url(settings)}/api/laml/2010-04-01/Accounts/{sid}/Messages.json "
        f"-u {sid}:{token} --data-urlencode To=+15558675310 --data-urlencode From=+15005550006 "
        '--data-urlencode "Body=Hello from mycpaas"'
    )
    sys.stdout.flush()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from mycpaas.bootstrap import Application

    settings = _settings(args)
    if args.access_log:
        settings = dataclasses.replace(settings, access_log=True)

    async def ensure_owner(platform: Platform) -> int:
        from mycpaas.storage.accounts import count_accounts

        async with platform.db.read() as conn:
            empty = await count_accounts(conn) == 0
        if empty:
            view = await accounts.create_account(platform, "Owner account")
            if settings.print_credentials:
                _print_credentials(view, settings, "Created the owner account of this mycpaas server:")
        if settings.dashboard and settings.print_credentials and await users.count_users(platform) == 0:
            owner = await _first_main_account(platform)
            if owner is not None:
                code = await users.issue_setup_code(platform, owner)
                # The code rides in the #fragment: browsers never send it, so no server or proxy logs it.
                print("No dashboard user exists yet. Open this one-time link to create the first one:")
                print(f"  {_base_url(settings)}/setup#code={code}")
                hours = settings.setup_link_seconds / 3600
                print(f"  (valid {hours:g} hours; or run `mycpaas users create`)")
                sys.stdout.flush()
        return 0

    _run(settings, ensure_owner)
    ssl: dict[str, Any] = {}
    if settings.tls_cert_file:
        ssl = {"ssl_certfile": settings.tls_cert_file, "ssl_keyfile": settings.tls_key_file or None}
    print(f"mycpaas {__version__} listening on {_base_url(settings)}", flush=True)
    uvicorn.run(
        Application(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=False,  # ours (api/app.py) leaves query strings out
        # Measured (bench/): the same throughput as uvloop, but uvloop let a few connections wait ~0.7 s
        # behind others when pages of 50 messages were served to 50 clients (p99 680 ms vs 50 ms).
        loop="asyncio",
        server_header=False,
        **ssl,
    )
    return 0


async def _first_main_account(platform: Platform) -> Account | None:
    mains = [a for a in await accounts.list_all_accounts(platform) if not a.is_subaccount]
    return min(mains, key=lambda a: a.created_at) if mains else None


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (at least 12 characters): ")
    if getpass.getpass("Password again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def cmd_users_create(args: argparse.Namespace) -> int:
    async def action(platform: Platform) -> int:
        if args.account:
            account = await accounts.find_account(platform, args.account)
        else:
            account = await _first_main_account(platform)
        if account is None:
            print(f"no account {args.account or '(the database has none yet)'}", file=sys.stderr)
            return 1
        try:
            user = await users.create_user(platform, account, args.email, _read_password(args), Actor.cli())
        except InvalidRequest as error:
            print(f"mycpaas: {error.message}", file=sys.stderr)
            return 1
        print(
            f"Created dashboard user {user.email} of account {account.sid}; sign in at {_base_url(settings)}/"
        )
        return 0

    settings = _settings(args)
    return _run(settings, action)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.effective_database_url)
    print("database is at the latest schema")
    return 0


def cmd_accounts_create(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def action(platform: Platform) -> int:
        owner = None
        if args.parent:
            parent = await accounts.get_account(platform, args.parent)
            if parent is None:
                print(f"no account {args.parent}", file=sys.stderr)
                return 1
            owner = parent.account.sid
        view = await accounts.create_account(platform, args.friendly_name, owner)
        _print_credentials(view, settings, "Created account:")
        return 0

    return _run(settings, action)


def _describe(account: Account) -> str:
    kind = "subaccount of " + account.owner_account_sid if account.is_subaccount else "main account"
    return f"{account.sid}  {account.status.value:<9}  {account.friendly_name}  ({kind})"


def cmd_accounts_list(args: argparse.Namespace) -> int:
    async def action(platform: Platform) -> int:
        for account in await accounts.list_all_accounts(platform):
            print(_describe(account))
        return 0

    return _run(_settings(args), action)


def cmd_accounts_show(args: argparse.Namespace) -> int:
    async def action(platform: Platform) -> int:
        view = await accounts.get_account(platform, args.sid)
        if view is None:
            print(f"no account {args.sid}", file=sys.stderr)
            return 1
        print(_describe(view.account))
        rotated = view.account.token_rotated_at
        print(f"  Auth Token last rotated: {rotated.isoformat() + 'Z' if rotated else 'never'}")
        if args.show_token:
            print(f"  Auth Token: {view.auth_token}")
        else:
            print("  Auth Token: (hidden; pass --show-token to print it)")
        return 0

    return _run(_settings(args), action)


def cmd_token_rotate(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def action(platform: Platform) -> int:
        view = await accounts.get_account(platform, args.sid)
        if view is None:
            print(f"no account {args.sid}", file=sys.stderr)
            return 1
        rotated = await accounts.rotate_token(platform, view.account, Actor.cli())
        _print_credentials(rotated, settings, "Rotated the Auth Token; the old token no longer works:")
        return 0

    return _run(settings, action)


# ---- carriers --------------------------------------------------------------------------------------------

# Options shared by `carriers add` and `carriers update`: (flag, Connector field).
_CONNECTOR_OPTIONS = (
    ("host", "host"),
    ("port", "port"),
    ("system_id", "system_id"),
    ("system_type", "system_type"),
    ("bind", "bind_type"),
    ("window", "window"),
    ("max_mps", "max_mps"),
    ("source_ton", "source_ton"),
    ("source_npi", "source_npi"),
    ("dest_ton", "dest_ton"),
    ("dest_npi", "dest_npi"),
    ("coding", "coding"),
    ("concatenation", "concatenation"),
    ("priority", "priority"),
)


def _connector_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The connector fields given on the command line (an option left out is not in the result)."""
    changes: dict[str, Any] = {
        field: getattr(args, option)
        for option, field in _CONNECTOR_OPTIONS
        if getattr(args, option, None) is not None
    }
    if "coding" in changes:
        changes["coding"] = Coding(changes["coding"])
    if "concatenation" in changes:
        changes["concatenation"] = Concatenation(changes["concatenation"])
    if args.prefix is not None:
        changes["prefixes"] = tuple(args.prefix)
    if getattr(args, "clear_prefixes", False):
        changes["prefixes"] = ()
    if getattr(args, "enabled", None) is not None:
        changes["enabled"] = args.enabled
    return changes


def _read_smpp_password(args: argparse.Namespace) -> str:
    """From one line of stdin with --password-stdin, else asked on the terminal; never from argv."""
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ValueError("--password-stdin: standard input is empty (an empty password is an empty line)")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValueError(
            "the SMPP password is read from standard input: pass --password-stdin and write it on stdin"
        )
    first = getpass.getpass("SMPP password (at most 8 characters): ")
    if getpass.getpass("SMPP password again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def _carrier_action(args: argparse.Namespace, action: Callable[[Platform], Awaitable[int]]) -> int:
    """Run a carriers action; its errors go to stderr with exit code 2 (they never quote the password)."""

    async def guarded(platform: Platform) -> int:
        try:
            return await action(platform)
        except (
            InvalidConnector,
            carriers.CarrierExists,
            carriers.CarrierNotFound,
            carriers.CarrierPasswordUnreadable,
        ) as error:
            print(f"mycpaas: {error}", file=sys.stderr)
            return 2

    return _run(_settings(args), guarded)


def _prefix_list(connector: Connector) -> str:
    return ",".join(connector.prefixes) if connector.prefixes else "*"


def _connector_rows(connectors: list[Connector]) -> list[tuple[str, ...]]:
    return [
        (
            c.name,
            f"{c.host}:{c.port}",
            c.system_id,
            c.bind_type,
            str(c.window),
            str(c.max_mps) if c.max_mps else "no limit",
            c.coding.value,
            c.concatenation.value,
            _prefix_list(c),
            str(c.priority),
            "yes" if c.enabled else "no",
        )
        for c in connectors
    ]


_LIST_HEADINGS = (
    "NAME",
    "HOST:PORT",
    "SYSTEM_ID",
    "BIND",
    "WINDOW",
    "MAX MPS",
    "CODING",
    "CONCAT",
    "PREFIXES",
    "PRIORITY",
    "ENABLED",
)


def cmd_carriers_list(args: argparse.Namespace) -> int:
    async def action(platform: Platform) -> int:
        connectors = await carriers.list_connectors(platform, with_passwords=False)
        if not connectors:
            print("No carrier connectors: the sandbox carrier delivers every message.")
            return 0
        rows = [_LIST_HEADINGS, *_connector_rows(connectors)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_LIST_HEADINGS))]
        for row in rows:
            print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if not any(c.enabled for c in connectors):
            print("No connector is enabled: the sandbox carrier delivers every message.")
        return 0

    return _carrier_action(args, action)


def _print_connector(c: Connector) -> None:
    def when(value: object) -> str:
        return value.isoformat(timespec="seconds") + "Z" if hasattr(value, "isoformat") else "-"

    print(f"{c.name}  ({'enabled' if c.enabled else 'disabled'})")
    for label, value in (
        ("host", c.host),
        ("port", c.port),
        ("system_id", c.system_id),
        ("password", "(set)"),
        ("system_type", c.system_type or "(empty)"),
        ("bind", c.bind_type),
        ("window", c.window),
        ("max mps", c.max_mps if c.max_mps else "0 (no limit)"),
        ("source TON/NPI", f"{c.source_ton}/{c.source_npi}"),
        ("dest TON/NPI", f"{c.dest_ton}/{c.dest_npi}"),
        ("coding", c.coding.value),
        ("concatenation", c.concatenation.value),
        ("prefixes", " ".join(c.prefixes) if c.prefixes else "* (every destination)"),
        ("priority", c.priority),
        ("created", when(c.created_at)),
        ("updated", when(c.updated_at)),
    ):
        print(f"  {label + ':':<16}{value}")


def cmd_carriers_show(args: argparse.Namespace) -> int:
    async def action(platform: Platform) -> int:
        connector = await carriers.get(platform, args.name, with_password=False)
        if connector is None:
            raise carriers.CarrierNotFound(args.name)
        _print_connector(connector)
        return 0

    return _carrier_action(args, action)


def cmd_carriers_add(args: argparse.Namespace) -> int:
    password = _read_smpp_password(args)
    changes = _connector_changes(args)
    changes.setdefault("enabled", True)

    async def action(platform: Platform) -> int:
        connector = await carriers.add(platform, Connector(name=args.name, password=password, **changes))
        print(
            f"Added carrier connector {connector.name} ({connector.system_id}@{connector.host}:{connector.port})."
        )
        print("Restart `mycpaas serve` to use it.")
        return 0

    return _carrier_action(args, action)


def cmd_carriers_update(args: argparse.Namespace) -> int:
    changes = _connector_changes(args)
    if args.password_stdin:
        changes["password"] = _read_smpp_password(args)
    if not changes:
        raise ValueError("nothing to change: give at least one option (see `mycpaas carriers update --help`)")

    async def action(platform: Platform) -> int:
        connector = await carriers.update(platform, args.name, **changes)
        print(f"Updated carrier connector {connector.name}. Restart `mycpaas serve` to apply the change.")
        return 0

    return _carrier_action(args, action)


def cmd_carriers_remove(args: argparse.Namespace) -> int:
    async def action(platform: Platform) -> int:
        if not await carriers.remove(platform, args.name):
            raise carriers.CarrierNotFound(args.name)
        print(f"Removed carrier connector {args.name}. Restart `mycpaas serve` to apply the change.")
        return 0

    return _carrier_action(args, action)


def cmd_dev_cert(args: argparse.Namespace) -> int:
    from mycpaas.devcert import make_dev_cert

    settings = _settings(args)
    cert = Path(args.cert or settings.data_dir / "tls" / "cert.pem")
    key = Path(args.key or settings.data_dir / "tls" / "key.pem")
    make_dev_cert(cert, key)
    print(f"wrote {cert} and {key} (valid for localhost, 127.0.0.1 and ::1)")
    print(f"serve with: MYCPAAS_TLS_CERT_FILE={cert} MYCPAAS_TLS_KEY_FILE={key} mycpaas serve")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data directory (default: $MYCPAAS_DATA_DIR or ./data)")
    parser.add_argument("--database-url", help="database URL (default: SQLite in the data directory)")


def _connector_arguments(parser: argparse.ArgumentParser, adding: bool) -> None:
    """The connection options of `carriers add` (where host, port and system_id are required) and of
    `carriers update` (where every option is optional and only the given ones change)."""
    d = Connector("", "", 0, "", "")  # the defaults, for the help texts

    def default(text: str) -> str:
        return f" (default {text})" if adding else ""

    parser.add_argument("name", metavar="NAME", help="the connector's name: 1-64 of a-z 0-9 _ . -")
    link = parser.add_argument_group("connection")
    link.add_argument("--host", required=adding, help="the SMSC's host name or IP address")
    link.add_argument("--port", type=int, required=adding, help="the SMSC's SMPP port (often 2775)")
    link.add_argument("--system-id", required=adding, help="the SMPP system_id (user name), 1-15 characters")
    link.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the SMPP password (at most 8 characters) from one line of standard input"
        + (
            "; without it, the password is asked for on the terminal"
            if adding
            else "; without it, the password is kept"
        )
        + ". It is never taken from the command line, which other users can see in `ps` and shell history",
    )
    link.add_argument(
        "--system-type",
        help="the SMPP system_type, if the SMSC asks for one (at most 12 characters)" + default("empty"),
    )
    link.add_argument(
        "--bind",
        choices=BIND_TYPES,
        help="how to bind: transceiver sends and receives on one link; transmitter only sends, receiver only "
        "receives" + default(d.bind_type),
    )
    link.add_argument(
        "--window",
        type=int,
        metavar="N",
        help="how many submits may be unanswered at once on the link, 1-1000" + default(str(d.window)),
    )
    link.add_argument(
        "--max-mps",
        type=int,
        metavar="N",
        help="at most this many messages (submits) per second on the link; 0 = no limit" + default("0"),
    )
    addressing = parser.add_argument_group(
        "addressing",
        "Type of number (TON) and numbering plan (NPI) sent with the addresses, 0-255. The "
        "defaults 1/1 are international/ISDN (E.164), right for +-numbers; e.g. TON 5/NPI 0 is alphanumeric.",
    )
    for option, what in (
        ("--source-ton", "TON of the sender address"),
        ("--source-npi", "NPI of the sender address"),
        ("--dest-ton", "TON of the destination address"),
        ("--dest-npi", "NPI of the destination address"),
    ):
        addressing.add_argument(option, type=int, metavar="N", help=what + default("1"))
    text = parser.add_argument_group("text")
    text.add_argument(
        "--coding",
        choices=[c.value for c in Coding],
        help="the data coding the SMSC expects: gsm7 sends text the GSM 03.38 alphabet can carry as GSM "
        "(data_coding 0) and other text as UCS-2 (UTF-16); latin1 is for SMSCs that read data_coding 0 as "
        "something other than GSM: text that fits ISO-8859-1 goes as Latin-1, other text as UCS-2; ucs2 sends "
        "everything as UCS-2" + default(d.coding.value),
    )
    text.add_argument(
        "--concatenation",
        choices=[c.value for c in Concatenation],
        help="how a long message's parts are tied together: udh (a user data header in the message) or sar "
        "(the sar_* TLVs)" + default(d.concatenation.value),
    )
    routing = parser.add_argument_group(
        "routing",
        "A message goes to the enabled connectors whose prefix matches its destination, longest prefix "
        "first, then lowest priority, then name; the next one is the failover when a link is down.",
    )
    routing.add_argument(
        "--prefix",
        action="append",
        metavar="PREFIX",
        help='route destinations starting with this prefix, e.g. +44 ("+44" and "44" are the same); '
        "repeat for several"
        + (
            "; none = every destination (a catch-all)"
            if adding
            else "; replaces the whole list (see --clear-prefixes)"
        ),
    )
    if not adding:
        routing.add_argument(
            "--clear-prefixes",
            action="store_true",
            help="remove every prefix: the connector becomes a catch-all",
        )
    routing.add_argument(
        "--priority",
        type=int,
        metavar="N",
        help="among connectors with equally long matching prefixes, the lower goes first"
        + default(str(d.priority)),
    )
    if adding:
        routing.add_argument(
            "--disabled",
            dest="enabled",
            action="store_false",
            default=None,
            help="store the connector but do not use it yet",
        )
    else:
        switch = routing.add_mutually_exclusive_group()
        switch.add_argument(
            "--enable", dest="enabled", action="store_true", default=None, help="use the connector"
        )
        switch.add_argument(
            "--disable", dest="enabled", action="store_false", default=None, help="stop using the connector"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mycpaas",
        description="Self-hosted communications platform with a Twilio/SignalWire-compatible API.",
    )
    parser.add_argument("--version", action="version", version=f"mycpaas {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the API, the dashboard, the workers and the sandbox carrier in one process",
        description="Run the API, the dashboard (at /), the delivery worker, the webhook dispatcher and the "
        "sandbox carrier. On first start with an empty database, create the owner account and print its "
        "credentials once; while no dashboard user exists, print a one-time set-up link.",
    )
    _common(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--tls-cert-file", help="serve https with this certificate (PEM)")
    serve.add_argument("--tls-key-file", help="private key (PEM) for --tls-cert-file")
    serve.add_argument(
        "--access-log", action="store_true", help="log every request: method, path, status, duration"
    )
    serve.set_defaults(func=cmd_serve)

    mig = commands.add_parser(
        "migrate",
        help="bring the database schema up to date",
        description="Apply every pending Alembic migration.",
    )
    _common(mig)
    mig.set_defaults(func=cmd_migrate)

    acc = commands.add_parser(
        "accounts", help="create, list and show accounts", description="Manage accounts."
    )
    acc_commands = acc.add_subparsers(dest="accounts_command", required=True, metavar="ACTION")
    create = acc_commands.add_parser(
        "create",
        help="create an account and print its credentials once",
        description="Create a main account, or a subaccount with --parent.",
    )
    _common(create)
    create.add_argument("--friendly-name", default="mycpaas account", help="a name for the account")
    create.add_argument("--parent", help="create a subaccount of this Account SID")
    create.set_defaults(func=cmd_accounts_create)
    lst = acc_commands.add_parser("list", help="list every account", description="List every account.")
    _common(lst)
    lst.set_defaults(func=cmd_accounts_list)
    show = acc_commands.add_parser("show", help="show one account", description="Show one account.")
    _common(show)
    show.add_argument("sid", help="the Account SID (AC...)")
    show.add_argument("--show-token", action="store_true", help="also print the Auth Token")
    show.set_defaults(func=cmd_accounts_show)

    usr = commands.add_parser(
        "users", help="manage dashboard users", description="Manage the users who sign in to the dashboard."
    )
    usr_commands = usr.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    ucreate = usr_commands.add_parser(
        "create",
        help="create a dashboard user (asks for the password)",
        description="Create a user who signs in to the dashboard with an email and password. The password is "
        "asked for on the terminal, or read from one line of standard input with --password-stdin.",
    )
    _common(ucreate)
    ucreate.add_argument("email", help="the user's email address, used to sign in")
    ucreate.add_argument(
        "--account", help="the main Account SID the user belongs to (default: the first one)"
    )
    ucreate.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    ucreate.set_defaults(func=cmd_users_create)

    tok = commands.add_parser("token", help="manage Auth Tokens", description="Manage Auth Tokens.")
    tok_commands = tok.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    rotate = tok_commands.add_parser(
        "rotate",
        help="replace an account's Auth Token now",
        description="Replace the primary Auth Token at once; the old one stops working immediately. For a "
        "rotation without downtime use the secondary token (POST /v1/AuthTokens/Secondary, then Promote).",
    )
    _common(rotate)
    rotate.add_argument("sid", help="the Account SID (AC...)")
    rotate.set_defaults(func=cmd_token_rotate)

    car = commands.add_parser(
        "carriers",
        help="configure SMPP carrier connectors (SMSC connections)",
        description="Manage the SMPP connections to carriers' SMSCs, stored in the database. Outbound messages "
        "are routed by destination prefix (longest first, then priority) and fail over to the next matching "
        "connector. `mycpaas serve` reads the connectors when it starts: restart it to apply changes. With no "
        "enabled connector, the sandbox carrier delivers every message. See docs/carriers.md.",
    )
    car_commands = car.add_subparsers(dest="carriers_command", required=True, metavar="ACTION")
    cadd = car_commands.add_parser(
        "add",
        help="add a connector",
        description="Add an SMPP connector. The password is asked for on the terminal, or read from one "
        "line of standard input with --password-stdin.",
    )
    _common(cadd)
    _connector_arguments(cadd, adding=True)
    cadd.set_defaults(func=cmd_carriers_add)
    clist = car_commands.add_parser(
        "list", help="list the connectors", description="List the connectors (never their passwords)."
    )
    _common(clist)
    clist.set_defaults(func=cmd_carriers_list)
    cshow = car_commands.add_parser(
        "show", help="show one connector", description="Show every setting of one connector but its password."
    )
    _common(cshow)
    cshow.add_argument("name", metavar="NAME", help="the connector's name")
    cshow.set_defaults(func=cmd_carriers_show)
    cupdate = car_commands.add_parser(
        "update",
        help="change a connector's settings",
        description="Change the given settings of a connector; the others stay as they are. The name cannot "
        "be changed: remove the connector and add it again.",
    )
    _common(cupdate)
    _connector_arguments(cupdate, adding=False)
    cupdate.set_defaults(func=cmd_carriers_update)
    cremove = car_commands.add_parser("remove", help="remove a connector", description="Remove a connector.")
    _common(cremove)
    cremove.add_argument("name", metavar="NAME", help="the connector's name")
    cremove.set_defaults(func=cmd_carriers_remove)

    cert = commands.add_parser(
        "dev-cert",
        help="make a self-signed TLS certificate for localhost",
        description="Write a self-signed certificate and key for localhost.",
    )
    _common(cert)
    cert.add_argument("--cert", help="certificate path (default <data dir>/tls/cert.pem)")
    cert.add_argument("--key", help="key path (default <data dir>/tls/key.pem)")
    cert.set_defaults(func=cmd_dev_cert)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"mycpaas: {exc}", file=sys.stderr)
        return 2
