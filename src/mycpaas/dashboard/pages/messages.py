"""The message log (filtered, searched, keyset-paged, so a page costs the same with a million rows) and its
CSV export, one message with its status timeline and webhook attempts, and a form to send a test message. The
log and a message's page follow changes while open (dashboard/live.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.responses import Response, StreamingResponse

from mycpaas.dashboard import live
from mycpaas.dashboard.csv_export import csv_chunks
from mycpaas.dashboard.page import Page, redirect
from mycpaas.domain import segments
from mycpaas.domain.addresses import national_format, parse_e164
from mycpaas.domain.clock import utcnow
from mycpaas.domain.message_search import BadSearch, parse_search
from mycpaas.domain.messages import Direction, Message, MessageFilter, MessageStatus
from mycpaas.domain.numbers import IncomingNumber
from mycpaas.domain.sandbox_numbers import MAGIC_VALID_FROM
from mycpaas.domain.status_times import passed
from mycpaas.errors import InvalidRequest, NotFound
from mycpaas.services import message_progress, messaging, numbers, scheduling, webhooks
from mycpaas.services.messaging import ListQuery, SendRequest

PAGE_SIZE = 50
FILTERS = ("q", "to", "from", "status", "direction", "date_from", "date_to")
# What the filters offer: the statuses and directions this platform records on a message, in the order a message
# passes them. Twilio's enumerations (domain/messages.py) also hold receiving, read, partially_delivered and
# outbound-call, which nothing here produces, so a filter on them could only ever match nothing.
S = MessageStatus
STATUSES = (
    S.ACCEPTED,
    S.SCHEDULED,
    S.QUEUED,
    S.SENDING,
    S.SENT,
    S.DELIVERED,
    S.UNDELIVERED,
    S.FAILED,
    S.CANCELED,
    S.RECEIVED,
)
DIRECTIONS = (Direction.OUTBOUND_API, Direction.OUTBOUND_REPLY, Direction.INBOUND)
# The send form's live segment counter (static/app.js) counts by domain/segments.py's rules; the alphabets and
# limits come from there, through the page, so that the script holds no copy of them.
SEGMENT_RULES = {
    "gsm7": "".join(sorted(segments.GSM7_BASIC)),
    "extension": "".join(sorted(segments.GSM7_EXTENSION)),
    "gsm7Single": segments.GSM7_SINGLE,
    "gsm7Part": segments.GSM7_PART,
    "ucs2Single": segments.UCS2_SINGLE,
    "ucs2Part": segments.UCS2_PART,
}


class _BadFilter(Exception):
    pass


def _date(value: str, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise _BadFilter(f"{name} must be a date (YYYY-MM-DD).") from None


def _number(value: str, name: str) -> str | None:
    if not value.strip():
        return None
    parsed = parse_e164(value)
    if parsed is None:
        raise _BadFilter(f"{name} is not a phone number: use E.164, such as +15551234567.")
    return parsed


def _filter(query: dict[str, str]) -> MessageFilter:
    status, direction = query.get("status", ""), query.get("direction", "")
    if status and status not in STATUSES:
        raise _BadFilter("Choose a status from the list.")
    if direction and direction not in DIRECTIONS:
        raise _BadFilter("Choose a direction from the list.")
    date_to = _date(query.get("date_to", ""), "To date")
    try:
        search = parse_search(query.get("q", ""))
    except BadSearch as error:
        raise _BadFilter(str(error)) from None
    return MessageFilter(
        sid=search.sid,
        words=search.words,
        to_number=_number(query.get("to", ""), "To"),
        from_number=_number(query.get("from", ""), "From"),
        status=MessageStatus(status) if status else None,
        direction=Direction(direction) if direction else None,
        created_at_or_after=_date(query.get("date_from", ""), "From date"),
        created_before=date_to + timedelta(days=1) if date_to and date_to.year < 9999 else None,
    )


def _query(page: Page) -> dict[str, str]:
    return {name: page.request.query_params.get(name, "").strip() for name in FILTERS}


def _log_page(page: Page, query: dict[str, str], status: int, error: str) -> Response:
    return page.render("messages.html", status=status, error=error, query=query, messages=[])


async def show(page: Page) -> Response:
    query = _query(page)
    before, after = page.request.query_params.get("before", ""), page.request.query_params.get("after", "")
    try:
        where = _filter(query)
    except _BadFilter as error:
        return _log_page(page, query, 400, str(error))
    token = f"PB{after}" if after else f"PA{before}" if before else None
    try:
        rows = await messaging.list_messages(
            page.platform, page.account, ListQuery(where, PAGE_SIZE + 1, token)
        )
    except InvalidRequest:
        return _log_page(page, query, 400, "That page no longer exists.")
    if after:
        more_newer, rows = len(rows) > PAGE_SIZE, rows[-PAGE_SIZE:]
        more_older = True
    else:
        more_older, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
        more_newer = bool(before)
    mark = live.mark(*((m.sid, m.status.value, m.updated_at.isoformat()) for m in rows))
    if (unchanged := live.unchanged(page, mark)) is not None:
        return unchanged
    filters = {k: v for k, v in query.items() if v}
    return page.render(
        "messages.html",
        query=query,
        messages=rows,
        statuses=STATUSES,
        directions=DIRECTIONS,
        older={**filters, "before": rows[-1].sid} if more_older and rows else None,
        newer={**filters, "after": rows[0].sid} if more_newer and rows else None,
        live=mark,
        filters=filters,
    )


async def export(page: Page) -> Response:
    """The log with the page's filters as a CSV download, streamed a batch at a time (any size, constant
    memory; services/messaging.export_messages)."""
    query = _query(page)
    try:
        where = _filter(query)
    except _BadFilter as error:
        return _log_page(page, query, 400, str(error))
    name = f"messages-{page.account.sid}-{utcnow():%Y%m%dT%H%M%SZ}.csv"
    return StreamingResponse(
        csv_chunks(messaging.export_messages(page.platform, page.account, where)),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


@dataclass(slots=True)
class TimelineStep:
    status: str
    at: datetime
    note: str


_NOTES = {
    MessageStatus.QUEUED: "Accepted by mycpaas",
    MessageStatus.ACCEPTED: "Accepted by mycpaas; waiting for a sender from its Messaging Service",
    MessageStatus.SCHEDULED: "Accepted by mycpaas; waiting for its send time",
    MessageStatus.RECEIVED: "Received by mycpaas",
    MessageStatus.SENDING: "Being handed to the carrier",
    MessageStatus.SENT: "Handed to the carrier",
}


def timeline(message: Message, times: dict[MessageStatus, datetime]) -> list[TimelineStep]:
    """Every status the message passed, each with its time (domain/status_times.py); the first says that
    mycpaas accepted it, a failed or undelivered one its error."""
    steps = []
    for position, (status, at) in enumerate(passed(message, times)):
        note = _NOTES.get(status, "")
        if position and status in (MessageStatus.QUEUED, MessageStatus.ACCEPTED):
            note = "Sender chosen" if status is MessageStatus.QUEUED else "Send time reached"
        if status is message.status and message.error_code:
            note = f"Error {message.error_code}: {message.error_message}"
        steps.append(TimelineStep(status.value, at, note))
    return steps


async def detail(page: Page) -> Response:
    progress = await message_progress.progress(page.platform, page.account, page.param("sid"))
    if progress is None:
        raise NotFound(page.request.url.path)
    mark = live.mark(*progress.mark)
    if (unchanged := live.unchanged(page, mark)) is not None:
        return unchanged
    message = progress.message
    attempts = await webhooks.list_attempts(page.platform, message, 200, None)
    send_at = await scheduling.send_time(page.platform, message)
    times = await message_progress.status_times(page.platform, message)
    return page.render(
        "message.html",
        message=message,
        steps=timeline(message, times),
        attempts=attempts,
        send_at=send_at,
        live=mark,
    )


async def cancel(page: Page) -> Response:
    """The Cancel button of a scheduled message (POST, CSRF-checked like every dashboard form; audited)."""
    message = await messaging.get_message(page.platform, page.account, page.param("sid"))
    if message is None:
        raise NotFound(page.request.url.path)
    try:
        await scheduling.cancel(page.platform, message, page.actor)
    except InvalidRequest:
        return redirect(f"/messages/{message.sid}", "message-not-cancelable")
    return redirect(f"/messages/{message.sid}", "message-canceled")


@dataclass(slots=True, frozen=True)
class Sender:
    number: str
    label: str


def _senders(owned: list[IncomingNumber]) -> list[Sender]:
    """The send form's From choices: the account's numbers, labelled with their friendly name when it says more
    than the number (the default name is the number in national format, which would only repeat it), then
    Twilio's test number, which every account may send from."""
    senders = [
        Sender(n.phone_number, n.phone_number)
        if n.friendly_name in ("", national_format(n.phone_number))
        else Sender(n.phone_number, f"{n.phone_number} · {n.friendly_name}")
        for n in owned
    ]
    return [
        *senders,
        Sender(MAGIC_VALID_FROM, f"{MAGIC_VALID_FROM} · test number, any account may send from it"),
    ]


async def new(page: Page, status: int = 200, error: str = "") -> Response:
    owned = await numbers.list_numbers(page.platform, page.account, None, None, None, 200)
    return page.render(
        "send.html",
        status=status,
        senders=_senders(owned),
        owns_numbers=bool(owned),
        error=error,
        form=page.form,
        segment_rules=SEGMENT_RULES,
    )


async def send(page: Page) -> Response:
    request = SendRequest(
        to=page.form.get("to", ""),
        from_=page.form.get("from", ""),
        messaging_service_sid=None,
        body=page.form.get("body", ""),
    )
    try:
        message = await messaging.send_message(page.platform, page.account, request)
    except InvalidRequest as error:
        return await new(page, 400, f"{error.message} (error {int(error.code)})")
    return redirect(f"/messages/{message.sid}", "message-sent")
