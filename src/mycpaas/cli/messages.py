"""`mycpaas messages send|list|show`: the Messages resource of one account, through the API's own use cases.

Sending goes through services/messaging.py as a POST to Messages.json does (the same checks, error codes and
queue); the list takes the API's filters, parsed by the API's own parser (api/forms.py), and its page tokens;
--json prints the API's JSON for each message. The account is --account's, else the owner account.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from mycpaas.api.body import reject_unstorable
from mycpaas.api.forms import message_filter
from mycpaas.api.http import MultiDict
from mycpaas.api.paging import MAX_PAGE_SIZE
from mycpaas.api.serializers import message_json
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
from mycpaas.domain.messages import Message
from mycpaas.errors import InvalidRequest
from mycpaas.services import messaging
from mycpaas.services.platform import Platform

if TYPE_CHECKING:
    from mycpaas.cli.common import Subcommands

# Expected outcomes: the API's 400-class errors, printed as `mycpaas: <message> (code)` with exit code 2.
_ERRORS = (InvalidRequest,)

# --option -> the API's list filter parameter.
FILTERS = {
    "to": "To",
    "from_": "From",
    "date_sent": "DateSent",
    "date_sent_after": "DateSent>",
    "date_sent_before": "DateSent<",
    "status": "Status",
}


def _body(args: argparse.Namespace) -> str | None:
    """--body, or with `--body -` all of standard input (a trailing newline dropped). Text no database can
    store (a NUL, from standard input) is refused as the API refuses it (20422), not left to fail in the write."""
    if args.body == "-":
        text: str = sys.stdin.read()
        text = text[:-1] if text.endswith("\n") else text
        reject_unstorable({"Body": text})
        return text
    return args.body  # type: ignore[no-any-return]


async def send(args: argparse.Namespace, platform: Platform) -> int:
    account = await target_account(args, platform)
    request = messaging.SendRequest(
        to=args.to,
        from_=args.from_,
        messaging_service_sid=args.messaging_service_sid,
        body=_body(args),
        media_urls=args.media_url or [],
        status_callback=args.status_callback,
        validity_period=args.validity_period,
        smart_encoded=args.smart_encoded,
        schedule_type="fixed" if args.send_at else None,
        send_at=args.send_at,
    )
    message = await messaging.send_message(platform, account, request)
    if args.json:
        print_json(message_json(message, "", feedback=False))
    else:
        print(f"Queued message {message.sid} to {message.to_number} ({message.status.value}).")
        print(f"  Follow it with `mycpaas messages show {message.sid}`.")
    return 0


def _line(m: Message) -> str:
    sent = m.sent_at or m.created_at
    error = f"  error {m.error_code}" if m.error_code else ""
    body = m.body.replace("\n", " ")
    body = body if len(body) <= 40 else body[:39] + "…"
    return (
        f"{m.sid}  {sent.isoformat(timespec='seconds')}Z  {m.direction.value:<14} {m.status.value:<11} "
        f"{m.from_number or '-'} -> {m.to_number}{error}  {printable(body)}"
    )


async def list_page(args: argparse.Namespace, platform: Platform) -> int:
    account = await target_account(args, platform)
    if not 1 <= args.page_size <= MAX_PAGE_SIZE:
        raise Refusal(f"mycpaas: --page-size must be between 1 and {MAX_PAGE_SIZE}", code=2)
    given = [(name, getattr(args, option)) for option, name in FILTERS.items() if getattr(args, option)]
    where, _ = message_filter(MultiDict(given))
    found = await messaging.list_messages(
        platform, account, messaging.ListQuery(where, args.page_size + 1, args.page_token)
    )
    page = found[: args.page_size]
    next_token = f"PA{page[-1].sid}" if len(found) > args.page_size else None
    if args.json:
        print_json({"messages": [message_json(m, "") for m in page], "next_page_token": next_token})
        return 0
    if not page:
        print(f"No messages of {account.sid} match.")
    for message in page:
        print(_line(message))
    if next_token:
        print(f"More: add --page-token {next_token}")
    return 0


async def show(args: argparse.Namespace, platform: Platform) -> int:
    account = await target_account(args, platform)
    message = await messaging.get_message(platform, account, args.sid)
    if message is None:
        raise Refusal(f"mycpaas: no message {args.sid} in account {account.sid}", code=2)
    body = message_json(message, "")
    if args.json:
        print_json(body)
        return 0
    print(f"{message.sid}  ({message.status.value})")
    for key in sorted(body):
        if key not in ("sid", "subresource_uris", "uri", "api_version"):
            print(f"  {key + ':':<24}{'' if body[key] is None else printable(body[key])}")
    return 0


def register(commands: Subcommands) -> None:
    msg = commands.add_parser(
        "messages",
        help="send, list and show messages",
        description="Send, list and show the messages of an account (--account, default the owner account), "
        "with the API's checks, filters and JSON.",
    )
    actions = msg.add_subparsers(dest="messages_command", required=True, metavar="ACTION")

    new = actions.add_parser(
        "send",
        help="send a message",
        description="Send a message as POST .../Messages.json does: the same checks and error codes, queued "
        "for the delivery worker of a running `mycpaas serve`. Give --from or --messaging-service-sid.",
    )
    common_options(new)
    account_option(new)
    json_option(new)
    new.add_argument("--to", required=True, help="the destination, E.164 (+15558675310)")
    new.add_argument("--from", dest="from_", metavar="FROM", help="a number of the account, or a sender ID")
    new.add_argument(
        "--messaging-service-sid", metavar="MG...", help="send from this Messaging Service's pool"
    )
    new.add_argument("--body", help="the text; `-` reads it from standard input")
    new.add_argument("--media-url", action="append", metavar="URL", help="a media URL (repeat for more)")
    new.add_argument("--status-callback", metavar="URL", help="where status callbacks are sent")
    new.add_argument("--validity-period", metavar="SECONDS", help="give up if not sent within (1-36000)")
    new.add_argument("--smart-encoded", action="store_true", help="replace Unicode look-alikes of GSM-7")
    new.add_argument(
        "--send-at", metavar="TIME", help="schedule it (ISO 8601; needs --messaging-service-sid, as the API)"
    )
    new.set_defaults(func=on_platform(send, _ERRORS))

    lst = actions.add_parser(
        "list",
        help="list messages, newest first",
        description="List messages newest first, with the API's filters; --page-token continues a list.",
    )
    common_options(lst)
    account_option(lst)
    json_option(lst)
    lst.add_argument("--to", help="only messages to this number")
    lst.add_argument("--from", dest="from_", metavar="FROM", help="only messages from this number or sender")
    lst.add_argument("--date-sent", metavar="DATE", help="only those sent on this day (YYYY-MM-DD) or second")
    lst.add_argument("--date-sent-after", metavar="DATE", help="only those sent on or after (DateSent>)")
    lst.add_argument("--date-sent-before", metavar="DATE", help="only those sent on or before (DateSent<)")
    lst.add_argument("--status", help="only messages in this status (queued, sent, delivered, failed, ...)")
    lst.add_argument("--page-size", type=int, default=50, metavar="N", help="messages per page (default 50)")
    lst.add_argument("--page-token", metavar="TOKEN", help="the page after the one that printed this token")
    lst.set_defaults(func=on_platform(list_page, _ERRORS))

    one = actions.add_parser("show", help="show one message", description="Show one message of the account.")
    common_options(one)
    account_option(one)
    json_option(one)
    one.add_argument("sid", help="the Message SID (SM...)")
    one.set_defaults(func=on_platform(show, _ERRORS))
