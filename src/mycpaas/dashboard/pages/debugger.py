"""The Debugger: the account's failed and undelivered messages and failed webhook attempts (Twilio's Monitor),
filtered by error code, time and number; an attempt's request, response and redeliveries; Redeliver.

Only the account in view is read (storage filters by its SID); another account's attempt is a 404."""

from __future__ import annotations

import re
from datetime import datetime

from starlette.responses import Response

from mycpaas.dashboard.page import Page, redirect
from mycpaas.domain.addresses import parse_e164
from mycpaas.domain.failures import FailureFilter
from mycpaas.errors import ErrorCode
from mycpaas.services import failures
from mycpaas.services.failures import CannotRedeliver

PAGE_SIZE = 50
FILTERS = ("error_code", "number", "since", "until")
_CODES = {int(code): code for code in ErrorCode}
_TIME_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


class _BadFilter(Exception):
    pass


def _time(value: str, name: str) -> datetime | None:
    if not value:
        return None
    for layout in _TIME_FORMATS:
        try:
            return datetime.strptime(value, layout)
        except ValueError:
            continue
    raise _BadFilter(f"{name} must be a time in UTC (YYYY-MM-DD or YYYY-MM-DDTHH:MM).")


def _filter(query: dict[str, str]) -> FailureFilter:
    code, number = query["error_code"], query["number"]
    if code and not (code.isdigit() and len(code) <= 6):
        raise _BadFilter("Error code must be a number, such as 30003 or 11200.")
    parsed = parse_e164(number) if number else None
    if number and parsed is None:
        raise _BadFilter("Number is not a phone number: use E.164, such as +15551234567.")
    since, until = _time(query["since"], "From"), _time(query["until"], "Until")
    if since and until and until <= since:
        raise _BadFilter("Until must be later than From.")
    return FailureFilter(int(code) if code else None, parsed, since, until)


def meaning(code: int | None) -> str:
    """An error code's meaning from the one table (errors.py), its {placeholders} left out."""
    known = _CODES.get(code) if code is not None else None
    return re.sub(r"\s*\{\w+\}", "", known.template).rstrip(" :") if known else ""


async def show(page: Page) -> Response:
    params = page.request.query_params
    query = {name: params.get(name, "").strip() for name in FILTERS}
    try:
        where = _filter(query)
    except _BadFilter as error:
        return page.render("debugger.html", status=400, error=str(error), query=query, failed=[], attempts=[])
    failed = await failures.failed_messages(
        page.platform, page.account, where, PAGE_SIZE + 1, params.get("messages_before", "")
    )
    attempts = await failures.failed_attempts(
        page.platform, page.account, where, PAGE_SIZE + 1, params.get("attempts_before", "")
    )
    filters = {k: v for k, v in query.items() if v}
    return page.render(
        "debugger.html",
        query=query,
        failed=failed[:PAGE_SIZE],
        attempts=attempts[:PAGE_SIZE],
        older_messages={**filters, "messages_before": failed[PAGE_SIZE - 1].sid}
        if len(failed) > PAGE_SIZE
        else None,
        older_attempts={**filters, "attempts_before": attempts[PAGE_SIZE - 1].attempt.sid}
        if len(attempts) > PAGE_SIZE
        else None,
        meaning=meaning,
    )


async def attempt(page: Page, status: int = 200, error: str = "") -> Response:
    found = await failures.get_attempt(page.platform, page.account, page.param("sid"))
    request = await failures.sent_request(page.platform, found)
    return page.render(
        "attempt.html",
        status=status,
        error=error,
        attempt=found,
        request=request,
        redeliveries=await failures.redeliveries(page.platform, found),
        meaning=meaning,
    )


async def redeliver(page: Page) -> Response:
    """The Redeliver button: queues the attempt's event again under its idempotency token (POST, CSRF-checked
    like every form); the dispatcher sends it, and the attempt's page lists it under Redeliveries."""
    sid = page.param("sid")
    try:
        await failures.redeliver(page.platform, page.account, sid)
    except CannotRedeliver as refused:
        return await attempt(page, 409, str(refused))
    return redirect(f"/debugger/attempts/{sid}", "redelivery-queued")
