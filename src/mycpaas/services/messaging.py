"""Use cases for messages: send (validate, persist, queue), read, redact, cancel, delete.

Validation follows Twilio's order, so the first error a caller sees is the one Twilio would report. A message
that gets its 201 has been committed together with its delivery job before the response is written.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime

import mycpaas.metrics as metrics
from mycpaas.domain.accounts import Account, AccountStatus
from mycpaas.domain.addresses import is_alphanumeric_sender, is_nanp, parse_e164, parse_sender
from mycpaas.domain.clock import utcnow
from mycpaas.domain.jobs import SEND_MESSAGE
from mycpaas.domain.messages import (
    IN_FLIGHT_STATUSES,
    UNREDACTABLE_STATUSES,
    Direction,
    Message,
    MessageFilter,
    MessageStatus,
)
from mycpaas.domain.messaging_services import ServicePool
from mycpaas.domain.numbers import NumberOwner
from mycpaas.domain.sandbox_numbers import MAGIC_FROM_ERRORS, MAGIC_TO_ERRORS, MAGIC_VALID_FROM
from mycpaas.domain.scheduling import parse_send_at, requested_send_time
from mycpaas.domain.senders import queue_limit, sender_kind
from mycpaas.domain.urls import callback_url_problem, url_problem
from mycpaas.errors import ErrorCode, InvalidRequest
from mycpaas.services import scheduling, service_sending
from mycpaas.services.platform import Platform
from mycpaas.storage import messages as store
from mycpaas.storage import numbers as number_store
from mycpaas.storage import queue
from mycpaas.storage import webhooks as webhook_store

BODY_MAX_CHARS = 1600
MEDIA_MAX = 10
VALIDITY_MIN, VALIDITY_MAX = 1, 36000

# SmartEncoded: characters with a GSM-7 look-alike, replaced so the message does not fall back to UCS-2.
_SMART_REPLACEMENTS = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2002": " ",
        "\u2003": " ",
        "\u2009": " ",
        "\u200b": "",
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2022": "-",
    }
)


@dataclass(slots=True)
class SendRequest:
    """The create parameters the platform acts on, in Twilio's meaning, still as the caller sent them."""

    to: str | None
    from_: str | None
    messaging_service_sid: str | None
    body: str | None
    media_urls: list[str] = field(default_factory=list)
    status_callback: str | None = None
    validity_period: str | None = None
    smart_encoded: bool = False
    schedule_type: str | None = None
    send_at: str | None = None
    content_sid: str | None = None
    content_variables: str | None = None
    direction: Direction = Direction.OUTBOUND_API


def _require(request: SendRequest) -> None:
    if not (request.to or "").strip():
        raise InvalidRequest(ErrorCode.TO_REQUIRED)
    if not (request.from_ or "").strip() and not request.messaging_service_sid:
        raise InvalidRequest(ErrorCode.FROM_REQUIRED)
    if not request.body and not request.media_urls and not request.content_sid:
        raise InvalidRequest(ErrorCode.BODY_REQUIRED)


def _parse_addresses(request: SendRequest) -> tuple[str, str | None]:
    """To, and From when given (None: the Messaging Service's pool provides it)."""
    raw_to = (request.to or "").strip()
    to = parse_e164(request.to or "")
    if to in MAGIC_TO_ERRORS:
        raise InvalidRequest(MAGIC_TO_ERRORS[to], to=to)
    if to is None:
        raise InvalidRequest(ErrorCode.TO_INVALID, to=raw_to)
    sender = None
    raw_from = (request.from_ or "").strip()
    if raw_from:
        sender = parse_sender(request.from_ or "")
        if sender in MAGIC_FROM_ERRORS:
            raise InvalidRequest(MAGIC_FROM_ERRORS[sender], from_=sender)
        if sender is None:
            raise InvalidRequest(ErrorCode.FROM_INVALID, from_=raw_from)
    return to, sender


def _check_content(request: SendRequest, smart_encoding: bool = False) -> str:
    """The body to send; `smart_encoding` is the Messaging Service's setting (SmartEncoded=true is the message's)."""
    body = request.body or ""
    if request.smart_encoded or smart_encoding:
        body = unicodedata.normalize("NFC", body).translate(_SMART_REPLACEMENTS)
    if len(body) > BODY_MAX_CHARS:
        raise InvalidRequest(ErrorCode.BODY_TOO_LONG)
    if len(request.media_urls) > MEDIA_MAX:
        raise InvalidRequest(ErrorCode.TOO_MANY_MEDIA)
    if any(url_problem(url) for url in request.media_urls):
        raise InvalidRequest(ErrorCode.MEDIA_URL_INVALID)
    return body


def _check_options(request: SendRequest) -> int | None:
    validity: int | None = None
    if request.validity_period is not None and request.validity_period.strip() != "":
        try:
            validity = int(request.validity_period)
        except ValueError:
            raise InvalidRequest(ErrorCode.VALIDITY_PERIOD_INVALID) from None
        if not VALIDITY_MIN <= validity <= VALIDITY_MAX:
            raise InvalidRequest(ErrorCode.VALIDITY_PERIOD_INVALID)
    if request.status_callback and (problem := callback_url_problem(request.status_callback)):
        raise InvalidRequest(ErrorCode.STATUS_CALLBACK_INVALID, reason=problem)
    if request.content_variables and not request.content_sid:
        raise InvalidRequest(ErrorCode.CONTENT_SID_REQUIRED)
    if request.content_sid:
        raise InvalidRequest(
            ErrorCode.INVALID_PARAMETER, reason="Content templates (ContentSid) are not available on mycpaas"
        )
    return validity


async def send_message(platform: Platform, account: Account, request: SendRequest) -> Message:
    message = await compose(platform, account, request)
    # The message and its delivery job commit together, or not at all.
    await platform.committer.insert(*store.new_message_rows(message, _send_at(message, request)))
    metrics.message_created(message.direction.value, message.num_segments)
    platform.wake_worker()
    return message


async def compose(platform: Platform, account: Account, request: SendRequest) -> Message:
    """Validate a send request in Twilio's order and build its message (not yet stored). Through a Messaging
    Service the message is `accepted` (`scheduled` when scheduled): the delivery worker picks its sender, or
    checks the From it names, when it goes (services/service_sending.py)."""
    if account.status is not AccountStatus.ACTIVE:
        raise InvalidRequest(ErrorCode.ACCOUNT_NOT_ACTIVE)
    _require(request)
    to, sender = _parse_addresses(request)
    pool = None
    if request.messaging_service_sid:
        pool = await service_sending.service_to_send(
            platform, account, request.messaging_service_sid, sender, to
        )
    number_callback = None
    if sender is not None and sender != MAGIC_VALID_FROM and not is_alphanumeric_sender(sender):
        number = await _number_owner(platform, sender)
        # A number belongs to one account: not its parent's, nor its subaccounts' (Twilio's rule, 21606).
        if number is None or number.account_sid != account.sid:
            raise InvalidRequest(ErrorCode.FROM_NOT_OWNED, from_=sender)
        number_callback = number.status_callback or None
    if pool is not None and sender is not None:
        service_sending.check_from_in_pool(pool, sender)
    body = _check_content(request, pool is not None and pool.service.smart_encoding)
    validity = _check_options(request)
    status_callback, validity = _callback_and_validity(request, pool, number_callback, validity)
    scheduled = _check_schedule(platform, request, pool is not None)
    if sender is not None:
        if not scheduled:  # a scheduled message queues nothing until SendAt
            await _check_sender_queue(platform, sender)
        if is_alphanumeric_sender(sender) and is_nanp(to):
            raise InvalidRequest(ErrorCode.TO_UNREACHABLE, to=to)
    if pool is not None:
        # Through a service, From or not: `accepted` as at Twilio; the worker picks or checks its sender.
        accepted = Message.accepted(
            account_sid=account.sid,
            direction=request.direction,
            messaging_service_sid=pool.service.sid,
            to_number=to,
            body=body,
            num_media=len(request.media_urls),
            status_callback=status_callback,
            validity_period=validity,
            now=utcnow(),
            from_number=sender,
        )
        return _as_scheduled(accepted) if scheduled else accepted
    assert sender is not None  # _require: a From, or a MessagingServiceSid
    message = Message.outbound(
        account_sid=account.sid,
        direction=request.direction,
        from_number=sender,
        to_number=to,
        body=body,
        num_media=len(request.media_urls),
        status_callback=status_callback,
        validity_period=validity,
        now=utcnow(),
    )
    return message


async def _number_owner(platform: Platform, phone_number: str) -> NumberOwner | None:
    """The number's owner and StatusCallback, from the cache that every change of a number empties (the
    NUMBERS topic, services/lookup_cache.py: it was 14% of a create's time as a SELECT per create). Numbers
    nobody owns are not kept: a refusal costs its lookup, and cannot fill the cache."""
    cache = platform.number_owners
    owner = cache.get(phone_number)
    if owner is None:
        generation = cache.generation
        async with platform.db.read() as conn:
            owner = await number_store.number_owner(conn, phone_number)
        if owner is not None:
            cache.put(phone_number, owner, generation)
    return owner


def _callback_and_validity(
    request: SendRequest, pool: ServicePool | None, number_callback: str | None, validity: int | None
) -> tuple[str | None, int | None]:
    """The message's own StatusCallback, else its Messaging Service's, else the sending number's; its own
    ValidityPeriod, else its Messaging Service's."""
    if pool is None:
        return request.status_callback or number_callback, validity
    service = pool.service
    callback = request.status_callback or service.status_callback or number_callback
    return callback, validity if validity is not None else service.validity_period


async def _check_sender_queue(platform: Platform, sender: str) -> None:
    """Twilio's rule: a From may have as many messages queued as it can send in `sender_queue_seconds`
    (4 hours) at its rate; beyond that, 21611."""
    settings = platform.settings
    limit = queue_limit(settings.sender_mps(sender_kind(sender)), settings.sender_queue_seconds)
    if limit is None:
        return
    async with platform.db.read() as conn:
        queued = await store.count_queued_from(conn, sender, limit)
    if queued >= limit:
        raise InvalidRequest(ErrorCode.QUEUE_FULL)


async def get_message(platform: Platform, account: Account, sid: str) -> Message | None:
    async with platform.db.read() as conn:
        message = await store.get_message(conn, sid)
    return message if message and message.account_sid == account.sid else None


@dataclass(slots=True)
class ListQuery:
    where: MessageFilter
    page_size: int
    page_token: str | None


async def list_messages(platform: Platform, account: Account, query: ListQuery) -> list[Message]:
    before_id = after_id = None
    async with platform.db.read() as conn:
        if query.page_token:
            token = query.page_token
            direction, cursor_sid = token[:2], token[2:]
            cursor = (
                await store.cursor_id(conn, account.sid, cursor_sid) if direction in ("PA", "PB") else None
            )
            if cursor is None:
                raise InvalidRequest(ErrorCode.INVALID_PAGE_TOKEN)
            if direction == "PA":
                before_id = cursor
            else:
                after_id = cursor
        return await store.list_page(
            conn, account.sid, query.where, query.page_size, before_id=before_id, after_id=after_id
        )


# Small enough that one read (inline on the event loop on SQLite) delays other requests by a page view's time.
EXPORT_BATCH = 250


async def export_messages(
    platform: Platform, account: Account, where: MessageFilter, batch: int = EXPORT_BATCH
) -> AsyncIterator[list[Message]]:
    """The filtered log, newest first, `batch` messages at a time: each batch is one keyset-paged read in its
    own short read (no connection or snapshot held while the caller writes it out), so a log of any size is
    streamed in constant memory."""
    before_id: int | None = None
    while True:
        async with platform.db.read() as conn:
            rows = await store.list_page(conn, account.sid, where, batch, before_id=before_id)
            if len(rows) == batch:
                before_id = await store.cursor_id(conn, account.sid, rows[-1].sid)
        if rows:
            yield rows
        if len(rows) < batch or before_id is None:
            return


async def update_message(
    platform: Platform, message: Message, body: str | None, status: str | None
) -> Message:
    if (body is None) == (status is None):
        raise InvalidRequest(ErrorCode.UPDATE_INVALID, reason="send exactly one of Body (empty) or Status")
    now = utcnow()
    if body is not None:
        if body != "":
            raise InvalidRequest(ErrorCode.UPDATE_INVALID, reason="Body may only be set to an empty string")
        if message.status in UNREDACTABLE_STATUSES:
            raise InvalidRequest(
                ErrorCode.UPDATE_INVALID,
                reason=f"a message cannot be redacted while it is still {message.status.value}",
            )
        async with platform.db.write() as conn:
            await store.update_message(conn, message.sid, now, body="")
            await webhook_store.redact_queued_events(conn, message.sid)
        message.body, message.updated_at = "", now
        return message
    if status != MessageStatus.CANCELED.value:
        raise InvalidRequest(ErrorCode.UPDATE_INVALID, reason="Status may only be set to canceled")
    return await scheduling.cancel(platform, message)


async def delete_message(platform: Platform, message: Message) -> None:
    if message.status in IN_FLIGHT_STATUSES:
        raise InvalidRequest(ErrorCode.DELETE_IN_PROGRESS)
    async with platform.db.write() as conn:
        if message.status is MessageStatus.SCHEDULED:  # its job first, in the order start_sending locks
            await queue.delete_for_ref(conn, [SEND_MESSAGE], message.sid)
        await store.delete_message(conn, message.sid)
        await webhook_store.delete_for_message(conn, message.sid)
        await webhook_store.drop_queued_events(conn, message.sid)


# ---- scheduled messages (ScheduleType=fixed, SendAt): services/scheduling.py takes over at SendAt ----------


def _check_schedule(platform: Platform, request: SendRequest, has_service: bool) -> bool:
    """Whether the request schedules its message: Twilio's codes (domain/scheduling.requested_send_time) in
    their place in the validation order; the service itself was checked before (service_to_send)."""
    if not request.schedule_type:  # requested_send_time's first answer, without reading the clock
        return False
    return (
        requested_send_time(
            request.schedule_type,
            request.send_at,
            has_service,
            utcnow(),
            platform.settings.schedule_min_lead_seconds,
        )
        is not None
    )


def _as_scheduled(message: Message) -> Message:
    """As Twilio shows a scheduled message: `num_segments` 0 until it goes (its sender, if it has none yet,
    is picked then: services/scheduling.release)."""
    return replace(message, status=MessageStatus.SCHEDULED, num_segments=0)


def _send_at(message: Message, request: SendRequest) -> datetime | None:
    """A scheduled message's SendAt (checked by compose), when its send job is due."""
    if message.status is not MessageStatus.SCHEDULED:
        return None
    return parse_send_at(request.send_at or "")
