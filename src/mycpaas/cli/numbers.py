"""`mycpaas numbers add|list|show|update|release`: an account's IncomingPhoneNumbers, through the API's use cases.

Every webhook setting of the resource is an option, made from the API's own parameter table
(services/numbers.CONFIG_PARAMS: `SmsUrl` is `--sms-url`), so the two cannot drift apart, and each value is
checked exactly as the API checks it. A number is named by its SID (PN...) or its E.164 phone number.
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING

from mycpaas.api.paging import MAX_PAGE_SIZE
from mycpaas.api.serializers import number_json
from mycpaas.cli.common import (
    Refusal,
    account_option,
    common_options,
    json_option,
    on_platform,
    print_json,
    printable,
    target_account,
)
from mycpaas.domain.accounts import Account
from mycpaas.domain.addresses import parse_e164
from mycpaas.domain.numbers import IncomingNumber
from mycpaas.errors import InvalidRequest
from mycpaas.services import numbers
from mycpaas.services.accounts import find_account
from mycpaas.services.platform import Platform

if TYPE_CHECKING:
    from mycpaas.cli.common import Subcommands

_ERRORS = (InvalidRequest,)

_HELP = {
    "url": "URL",
    "url_text": "URL",
    "method": "GET or POST",
    "bool": "true or false",
}


def _dest(param: str) -> str:
    """`SmsFallbackUrl` -> `sms_fallback_url` (the option is --sms-fallback-url)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", param).lower()


SETTINGS = {param: _dest(param) for param in (*numbers.CONFIG_PARAMS, "FriendlyName")}


def setting_arguments(parser: argparse.ArgumentParser) -> None:
    for param, dest in SETTINGS.items():
        kind = numbers.CONFIG_PARAMS[param][1] if param in numbers.CONFIG_PARAMS else "text"
        parser.add_argument(
            "--" + dest.replace("_", "-"),
            dest=dest,
            metavar=_HELP.get(kind, "TEXT"),
            help=f"the API's {param}" + ("; an empty value clears it" if kind == "url_text" else ""),
        )


def given_settings(args: argparse.Namespace) -> dict[str, str]:
    """The options given, as the API's form parameters (left-out options are left out)."""
    return {param: getattr(args, dest) for param, dest in SETTINGS.items() if getattr(args, dest) is not None}


async def find(platform: Platform, account: Account, name: str) -> IncomingNumber:
    """The account's number by SID or E.164 phone number; a Refusal (exit code 2) if it has none such."""
    if name.startswith("PN"):
        number = await numbers.get_number(platform, account, name)
    else:
        phone = parse_e164(name)
        candidates = await numbers.list_numbers(platform, account, None, phone, None, 2) if phone else []
        number = next((n for n in candidates if n.phone_number == phone), None)
    if number is None:
        raise Refusal(f"mycpaas: account {account.sid} has no number {name}", code=2)
    return number


def _line(n: IncomingNumber) -> str:
    return f"{n.sid}  {n.phone_number:<16} {printable(n.friendly_name):<20} sms_url={printable(n.sms_url or '-')}"


def _print_number(n: IncomingNumber) -> None:
    body = number_json(n, "")
    print(f"{n.phone_number}  {n.sid}  (account {n.account_sid})")
    for key in ("friendly_name", *sorted(dest for dest in SETTINGS.values() if dest != "friendly_name")):
        print(f"  {key + ':':<26}{'' if body[key] is None else printable(body[key])}")


async def add(args: argparse.Namespace, platform: Platform) -> int:
    account = await target_account(args, platform)
    params = given_settings(args)
    if args.phone_number:
        params["PhoneNumber"] = args.phone_number
    if args.area_code:
        params["AreaCode"] = args.area_code
    number = await numbers.create_number(platform, account, params)
    if args.json:
        print_json(number_json(number, ""))
    else:
        print(f"Added {number.phone_number} ({number.sid}) to account {account.sid}.")
    return 0


async def list_all(args: argparse.Namespace, platform: Platform) -> int:
    account = await target_account(args, platform)
    if not 1 <= args.page_size <= MAX_PAGE_SIZE:
        raise Refusal(f"mycpaas: --page-size must be between 1 and {MAX_PAGE_SIZE}", code=2)
    after = args.page_token[2:] if args.page_token and args.page_token.startswith("PA") else None
    if args.page_token and after is None:
        raise Refusal("mycpaas: --page-token must be one that `numbers list` printed (PA...)", code=2)
    found = await numbers.list_numbers(
        platform, account, args.friendly_name, args.phone_number, after, args.page_size + 1
    )
    page = found[: args.page_size]
    next_token = f"PA{page[-1].sid}" if len(found) > args.page_size else None
    if args.json:
        print_json(
            {"incoming_phone_numbers": [number_json(n, "") for n in page], "next_page_token": next_token}
        )
        return 0
    if not page:
        print(f"No numbers of {account.sid} match.")
    for number in page:
        print(_line(number))
    if next_token:
        print(f"More: add --page-token {next_token}")
    return 0


async def show(args: argparse.Namespace, platform: Platform) -> int:
    number = await find(platform, await target_account(args, platform), args.number)
    if args.json:
        print_json(number_json(number, ""))
    else:
        _print_number(number)
    return 0


async def update(args: argparse.Namespace, platform: Platform) -> int:
    account = await target_account(args, platform)
    params = given_settings(args)
    if args.transfer_to:
        params["AccountSid"] = args.transfer_to
    if not params:
        raise Refusal("mycpaas: nothing to change: give at least one option (see --help)", code=2)
    number = await find(platform, account, args.number)
    # The operator acts as the main account: it may move a subaccount's number (the API asks the parent).
    caller = await find_account(platform, account.owner_account_sid) or account
    number = await numbers.update_number(platform, caller, number, params)
    if args.json:
        print_json(number_json(number, ""))
    else:
        print(f"Updated {number.phone_number} ({number.sid}). Running servers follow within a second.")
    return 0


async def release(args: argparse.Namespace, platform: Platform) -> int:
    account = await target_account(args, platform)
    number = await find(platform, account, args.number)
    await numbers.release_number(platform, number)
    print(f"Released {number.phone_number} ({number.sid}) from account {account.sid}.")
    return 0


def register(commands: Subcommands) -> None:
    num = commands.add_parser(
        "numbers",
        help="add, list, show, update and release phone numbers",
        description="Manage an account's phone numbers (IncomingPhoneNumbers; --account, default the owner "
        "account): where their inbound messages and status callbacks go. The checks are the API's.",
    )
    actions = num.add_subparsers(dest="numbers_command", required=True, metavar="ACTION")

    def command(name: str, help_: str, description: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_, description=description)
        common_options(parser)
        account_option(parser)
        return parser

    new = command(
        "add", "add a number", "Add a number to the account, as POST .../IncomingPhoneNumbers.json."
    )
    new.add_argument("phone_number", nargs="?", metavar="NUMBER", help="the number, E.164 (+15005550006)")
    new.add_argument(
        "--area-code", metavar="NPA", help="instead of NUMBER: a free test number in this area code"
    )
    setting_arguments(new)
    json_option(new)
    new.set_defaults(func=on_platform(add, _ERRORS))

    lst = command("list", "list numbers", "List the account's numbers, oldest first.")
    lst.add_argument(
        "--phone-number", metavar="DIGITS", help="only numbers containing these digits (* any one)"
    )
    lst.add_argument("--friendly-name", metavar="TEXT", help="only numbers with this friendly name")
    lst.add_argument("--page-size", type=int, default=50, metavar="N", help="numbers per page (default 50)")
    lst.add_argument("--page-token", metavar="TOKEN", help="the page after the one that printed this token")
    json_option(lst)
    lst.set_defaults(func=on_platform(list_all, _ERRORS))

    one = command("show", "show one number", "Show one number and its webhook settings.")
    one.add_argument("number", metavar="NUMBER", help="its SID (PN...) or phone number (E.164)")
    json_option(one)
    one.set_defaults(func=on_platform(show, _ERRORS))

    change = command(
        "update",
        "change a number's settings",
        "Change the given settings of a number; the others stay. Running servers follow within a second.",
    )
    change.add_argument("number", metavar="NUMBER", help="its SID (PN...) or phone number (E.164)")
    setting_arguments(change)
    change.add_argument(
        "--transfer-to",
        metavar="SID",
        help="move the number to this account (the main account or a subaccount)",
    )
    json_option(change)
    change.set_defaults(func=on_platform(update, _ERRORS))

    gone = command("release", "release a number", "Release a number: it leaves the account and its pools.")
    gone.add_argument("number", metavar="NUMBER", help="its SID (PN...) or phone number (E.164)")
    gone.set_defaults(func=on_platform(release, _ERRORS))
