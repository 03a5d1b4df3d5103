"""The Debugger's use cases: an account's failures, the request an attempt sent, and redelivering it.

An attempt's record keeps what came back (status, excerpt, error), not the request: its parameters are the
message's, and its URL may hold a password. So the request is rebuilt from the message (`event_for`): a status
callback from the message and the status it reported, an inbound message's webhook from the message and the
URL its number (or Messaging Service) has now, so a redelivery reaches the URL the user has just fixed.

A redelivery is a new webhook job, queued as the platform queues any (`storage/webhooks.queue_events`) and sent
by the dispatcher under the original attempt's idempotency token; its attempts name the attempt they repeat
(`redelivery_of`). The page that asks for it only writes the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from mycpaas.domain.accounts import Account
from mycpaas.domain.clock import utcnow
from mycpaas.domain.failures import FAILED_STATUSES, FailureFilter, masked_url
from mycpaas.domain.inbound_routes import inbound_route
from mycpaas.domain.messages import Message, MessageStatus
from mycpaas.domain.webhooks import (
    AttemptOutcome,
    EventKind,
    WebhookAttempt,
    WebhookEvent,
    incoming_message_event,
    status_callback_event,
)
from mycpaas.errors import NotFound
from mycpaas.services.platform import Platform
from mycpaas.storage import failures as store
from mycpaas.storage import messages as message_store
from mycpaas.storage import messaging_services as service_store
from mycpaas.storage import numbers as number_store
from mycpaas.storage import webhooks as webhook_store
from mycpaas.storage.database import Connection

MAX_LISTED = 1000  # a message's attempts read at most (its redeliveries; a fallback's primary failure)
SIGNATURE_NOTE = "present: an HMAC of the URL and parameters keyed with the account's Auth Token (not shown)"


class CannotRedeliver(Exception):
    """The attempt's event cannot be sent again; the message says why, in words for the page."""


@dataclass(slots=True)
class FailedAttempt:
    attempt: WebhookAttempt
    to_number: str | None  # its message's; None once the message is gone
    from_number: str | None


@dataclass(slots=True)
class SentRequest:
    """What an attempt's request carries, without secrets: the URL's password masked, the signature and
    any Basic credentials named as present, never printed."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    params: dict[str, str] = field(default_factory=dict)


async def failed_messages(
    platform: Platform, account: Account, where: FailureFilter, limit: int, before_sid: str = ""
) -> list[Message]:
    async with platform.db.read() as conn:
        before = await message_store.cursor_id(conn, account.sid, before_sid) if before_sid else None
        if before_sid and before is None:
            return []
        return await store.failed_messages(conn, account.sid, where, limit, before)


async def failed_attempts(
    platform: Platform, account: Account, where: FailureFilter, limit: int, before_sid: str = ""
) -> list[FailedAttempt]:
    async with platform.db.read() as conn:
        before = None
        if before_sid:
            found = await store.attempt_of_account(conn, account.sid, before_sid)
            if found is None:
                return []
            before = found[0]
        rows = await store.failed_attempts(conn, account.sid, where, limit, before)
    return [FailedAttempt(*row) for row in rows]


async def get_attempt(platform: Platform, account: Account, sid: str) -> WebhookAttempt:
    """One of the account's attempts; NotFound for any other (another account's looks like none at all)."""
    async with platform.db.read() as conn:
        found = await store.attempt_of_account(conn, account.sid, sid)
    if found is None:
        raise NotFound(f"/debugger/attempts/{sid}")
    return found[1]


async def redeliveries(platform: Platform, attempt: WebhookAttempt) -> list[WebhookAttempt]:
    """The attempts made by redelivering `attempt`, oldest first (read with its message's, a short list)."""
    async with platform.db.read() as conn:
        attempts = await webhook_store.list_for_message(conn, attempt.message_sid, MAX_LISTED)
    return [a for a in attempts if a.redelivery_of == attempt.sid]


async def sent_request(platform: Platform, attempt: WebhookAttempt) -> SentRequest | None:
    """The request the attempt's event sends, as it may be shown; None if it can no longer be rebuilt."""
    async with platform.db.read() as conn:
        try:
            event = await event_for(conn, attempt)
        except CannotRedeliver:
            return None
    headers = [("I-Twilio-Idempotency-Token", event.token)]
    if event.method == "POST":
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))
    if _has_credentials(event.url):
        headers.append(("Authorization", "Basic, from the URL's user:password (not shown)"))
    headers.append(("X-Twilio-Signature", SIGNATURE_NOTE))
    return SentRequest(event.method, masked_url(event.url), headers, dict(event.params))


def _has_credentials(url: str) -> bool:
    try:
        return urlsplit(url).username is not None
    except ValueError:
        return False


async def event_for(conn: Connection, attempt: WebhookAttempt) -> WebhookEvent:
    """The event `attempt` was an attempt of, under its idempotency token, marked as a redelivery of it."""
    message = await message_store.get_message(conn, attempt.message_sid)
    if message is None or message.account_sid != attempt.account_sid:
        raise CannotRedeliver("The message no longer exists.")
    event: WebhookEvent | None
    if attempt.kind is EventKind.STATUS_CALLBACK:
        status = MessageStatus(attempt.message_status) if attempt.message_status else message.status
        if status not in FAILED_STATUSES:  # the error came later: the callback of an earlier status had none
            message = replace(message, error_code=None)
        event = status_callback_event(message, status)
    else:
        event = await _incoming_event(conn, message)
        if event is not None and attempt.kind is EventKind.INCOMING_FALLBACK:
            if not event.fallback_url:
                raise CannotRedeliver("The number has no fallback URL now.")
            code, url = await _primary_failure(conn, attempt)
            event = event.for_fallback(code, url)
    if event is None:
        raise CannotRedeliver("The message has no webhook URL now: configure one, then redeliver.")
    return replace(event, token=attempt.idempotency_token, redelivery_of=attempt.sid)


async def _incoming_event(conn: Connection, message: Message) -> WebhookEvent | None:
    number = await number_store.find_by_phone_number(conn, message.to_number)
    if number is None or number.account_sid != message.account_sid:
        return None
    service_sid = await service_store.service_of_number(conn, number.sid)
    service = await service_store.get_service(conn, service_sid) if service_sid else None
    route = inbound_route(number, service)
    if route is None:
        return None
    return incoming_message_event(message, route.url, route.method, route.fallback_url, route.fallback_method)


async def _primary_failure(conn: Connection, fallback: WebhookAttempt) -> tuple[int, str]:
    """The ErrorCode and ErrorUrl a fallback request carries: those of the request to the SmsUrl that failed."""
    attempts = await webhook_store.list_for_message(conn, fallback.message_sid, MAX_LISTED)
    for attempt in reversed(attempts):
        if (
            attempt.kind is EventKind.INCOMING_MESSAGE
            and attempt.idempotency_token == fallback.idempotency_token
            and attempt.outcome is AttemptOutcome.FAILED
        ):
            return attempt.error_code or 0, attempt.request_url
    return 0, ""


async def redeliver(platform: Platform, account: Account, sid: str) -> WebhookAttempt:
    """Queue the attempt's event again (a new webhook job; the dispatcher sends it). NotFound if the attempt is
    not the account's; CannotRedeliver if its event cannot be rebuilt or nothing was ever sent."""
    attempt = await get_attempt(platform, account, sid)
    if attempt.outcome is AttemptOutcome.SKIPPED:
        raise CannotRedeliver("Nothing was sent for this attempt, so there is nothing to redeliver.")
    async with platform.db.write() as conn:
        event = await event_for(conn, attempt)
        await webhook_store.queue_events(conn, [event], utcnow())
    platform.wake_webhooks()
    return attempt
