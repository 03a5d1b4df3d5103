"""The options of `mycpaas carriers add` and `update`, and what they change in a Connector.

Kept apart from the commands: the help texts are most of it, and both commands share them.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from mycpaas.domain.carriers import BIND_TYPES, Coding, Concatenation, Connector

# Options shared by `carriers add` and `carriers update`: (flag, Connector field).
CONNECTOR_OPTIONS = (
    ("host", "host"),
    ("port", "port"),
    ("system_id", "system_id"),
    ("system_type", "system_type"),
    ("bind", "bind_type"),
    ("window", "window"),
    ("max_mps", "max_mps"),
    ("max_binds", "max_binds"),
    ("source_ton", "source_ton"),
    ("source_npi", "source_npi"),
    ("dest_ton", "dest_ton"),
    ("dest_npi", "dest_npi"),
    ("coding", "coding"),
    ("concatenation", "concatenation"),
    ("priority", "priority"),
)


def connector_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The connector fields given on the command line (an option left out is not in the result)."""
    changes: dict[str, Any] = {
        field: getattr(args, option)
        for option, field in CONNECTOR_OPTIONS
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


def read_smpp_password(args: argparse.Namespace) -> str:
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


def connector_arguments(parser: argparse.ArgumentParser, adding: bool) -> None:
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
        help="at most this many messages (submits) per second on the connector, across all its binds; "
        "0 = no limit" + default("0"),
    )
    link.add_argument(
        "--max-binds",
        type=int,
        metavar="N",
        help="how many binds (SMPP sessions) the carrier allows at once, 1-100: delivery processes share "
        "them, each holding at most one" + default(str(d.max_binds)),
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
