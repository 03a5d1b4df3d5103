"""`mycpaas carriers add|list|show|update|remove`: the SMPP connectors, stored in the database.

The SMPP password comes from the terminal or one line of stdin, never from argv, and is never printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from enum import Enum
from typing import TYPE_CHECKING, Any

from mycpaas.cli.carrier_options import connector_arguments, connector_changes, read_smpp_password
from mycpaas.cli.common import common_options, json_option, on_platform, print_json, printable
from mycpaas.domain.carriers import Connector, InvalidConnector
from mycpaas.services import carriers
from mycpaas.services.platform import Platform

# Expected outcomes: printed as `mycpaas: <text>` with exit code 2 (their texts never quote the password).
_ERRORS = (
    InvalidConnector,
    carriers.CarrierExists,
    carriers.CarrierNotFound,
    carriers.CarrierPasswordUnreadable,
)

_LIST_HEADINGS = (
    "NAME",
    "HOST:PORT",
    "SYSTEM_ID",
    "BIND",
    "WINDOW",
    "MAX MPS",
    "BINDS",
    "CODING",
    "CONCAT",
    "PREFIXES",
    "PRIORITY",
    "ENABLED",
)

if TYPE_CHECKING:
    from mycpaas.cli.common import Subcommands


def _row(c: Connector) -> tuple[str, ...]:
    return (
        printable(c.name),
        printable(f"{c.host}:{c.port}"),
        printable(c.system_id),
        c.bind_type,
        str(c.window),
        str(c.max_mps) if c.max_mps else "no limit",
        str(c.max_binds),
        c.coding.value,
        c.concatenation.value,
        ",".join(c.prefixes) if c.prefixes else "*",
        str(c.priority),
        "yes" if c.enabled else "no",
    )


def connector_json(c: Connector) -> dict[str, Any]:
    """Every setting but the password (write-only), by the Connector's field names."""
    body: dict[str, Any] = {}
    for field in dataclasses.fields(c):
        value = getattr(c, field.name)
        if field.name == "password":
            continue
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        elif hasattr(value, "isoformat"):
            value = value.isoformat(timespec="seconds") + "Z"
        body[field.name] = value
    return body


async def list_all(args: argparse.Namespace, platform: Platform) -> int:
    connectors = await carriers.list_connectors(platform, with_passwords=False)
    if args.json:
        print_json({"carriers": [connector_json(c) for c in connectors]})
        return 0
    if not connectors:
        print("No carrier connectors: the sandbox carrier delivers every message.")
        return 0
    rows = [_LIST_HEADINGS, *(_row(c) for c in connectors)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_LIST_HEADINGS))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    if not any(c.enabled for c in connectors):
        print("No connector is enabled: the sandbox carrier delivers every message.")
    return 0


def _print_connector(c: Connector) -> None:
    def when(value: object) -> str:
        return value.isoformat(timespec="seconds") + "Z" if hasattr(value, "isoformat") else "-"

    print(f"{printable(c.name)}  ({'enabled' if c.enabled else 'disabled'})")
    for label, value in (
        ("host", c.host),
        ("port", c.port),
        ("system_id", c.system_id),
        ("password", "(set)"),
        ("system_type", c.system_type or "(empty)"),
        ("bind", c.bind_type),
        ("window", c.window),
        ("max mps", c.max_mps if c.max_mps else "0 (no limit)"),
        ("max binds", c.max_binds),
        ("source TON/NPI", f"{c.source_ton}/{c.source_npi}"),
        ("dest TON/NPI", f"{c.dest_ton}/{c.dest_npi}"),
        ("coding", c.coding.value),
        ("concatenation", c.concatenation.value),
        ("prefixes", " ".join(c.prefixes) if c.prefixes else "* (every destination)"),
        ("priority", c.priority),
        ("created", when(c.created_at)),
        ("updated", when(c.updated_at)),
    ):
        print(f"  {label + ':':<16}{printable(value)}")


async def show(args: argparse.Namespace, platform: Platform) -> int:
    connector = await carriers.get(platform, args.name, with_password=False)
    if connector is None:
        raise carriers.CarrierNotFound(args.name)
    if args.json:
        print_json(connector_json(connector))
        return 0
    _print_connector(connector)
    return 0


async def add(args: argparse.Namespace, platform: Platform) -> int:
    changes = connector_changes(args)
    changes.setdefault("enabled", True)
    password = read_smpp_password(args)  # only once the database is known to be there
    connector = await carriers.add(platform, Connector(name=args.name, password=password, **changes))
    print(
        f"Added carrier connector {connector.name} ({connector.system_id}@{connector.host}:{connector.port})."
    )
    print("Running servers bind it within a second.")
    return 0


async def update(args: argparse.Namespace, platform: Platform) -> int:
    changes = connector_changes(args)
    if args.password_stdin:
        changes["password"] = read_smpp_password(args)
    connector = await carriers.update(platform, args.name, **changes)
    print(f"Updated carrier connector {connector.name}. Running servers apply the change within a second.")
    return 0


def _update_checked(args: argparse.Namespace) -> int:
    """`carriers update` with no option is a usage error, told before the database is opened."""
    if not connector_changes(args) and not args.password_stdin:
        raise ValueError("nothing to change: give at least one option (see `mycpaas carriers update --help`)")
    return on_platform(update, _ERRORS)(args)


AFTER_REMOVAL = (
    "their receipts can no longer arrive and they stay `sent` (adding a connector for the same SMSC account, "
    "system id, host and port, again lets receipts its SMSC still holds be applied)"
)


async def remove(args: argparse.Namespace, platform: Platform) -> int:
    try:
        in_flight = await carriers.remove(platform, args.name, force=args.force)
    except carriers.CarrierInFlight as refused:
        print(
            f"mycpaas: {refused}; once it is removed, {AFTER_REMOVAL}. Wait for them, or give --force to remove it anyway.",
            file=sys.stderr,
        )
        return 2
    if in_flight is None:
        raise carriers.CarrierNotFound(args.name)
    print(f"Removed carrier connector {args.name}. Running servers apply the change within a second.")
    if in_flight.awaiting:
        print(
            f"{in_flight.awaiting} message(s) sent through it were awaiting delivery receipts: {AFTER_REMOVAL}."
        )
    return 0


def register(commands: Subcommands) -> None:
    car = commands.add_parser(
        "carriers",
        help="configure SMPP carrier connectors (SMSC connections)",
        description="Manage the SMPP connections to carriers' SMSCs, stored in the database. Outbound messages "
        "are routed by destination prefix (longest first, then priority) and fail over to the next matching "
        "connector. Running servers follow changes within a second, without a restart. With no "
        "enabled connector, the sandbox carrier delivers every message. See docs/carriers.md.",
    )
    actions = car.add_subparsers(dest="carriers_command", required=True, metavar="ACTION")
    new = actions.add_parser(
        "add",
        help="add a connector",
        description="Add an SMPP connector. The password is asked for on the terminal, or read from one "
        "line of standard input with --password-stdin.",
    )
    common_options(new)
    connector_arguments(new, adding=True)
    new.set_defaults(func=on_platform(add, _ERRORS))

    lst = actions.add_parser(
        "list", help="list the connectors", description="List the connectors (never their passwords)."
    )
    common_options(lst)
    json_option(lst)
    lst.set_defaults(func=on_platform(list_all, _ERRORS))

    one = actions.add_parser(
        "show", help="show one connector", description="Show every setting of one connector but its password."
    )
    common_options(one)
    one.add_argument("name", metavar="NAME", help="the connector's name")
    json_option(one)
    one.set_defaults(func=on_platform(show, _ERRORS))

    change = actions.add_parser(
        "update",
        help="change a connector's settings",
        description="Change the given settings of a connector; the others stay as they are. The name cannot "
        "be changed: remove the connector and add it again.",
    )
    common_options(change)
    connector_arguments(change, adding=False)
    change.set_defaults(func=_update_checked)

    gone = actions.add_parser(
        "remove",
        help="remove a connector",
        description="Remove a connector and its bind slots. While messages sent through it still await their "
        "delivery receipts, removal is refused (it says how many, and since when) unless --force is given: "
        f"once it is removed, {AFTER_REMOVAL}.",
    )
    common_options(gone)
    gone.add_argument("name", metavar="NAME", help="the connector's name")
    gone.add_argument(
        "--force",
        action="store_true",
        help="remove it even though messages sent through it still await their delivery receipts",
    )
    gone.set_defaults(func=on_platform(remove, _ERRORS))
