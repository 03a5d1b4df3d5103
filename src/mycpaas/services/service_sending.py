"""Sending through a Messaging Service: the checks `MessagingServiceSid` gets when a message is created, and
the sender the delivery worker picks for a message that has a service and no sender yet.

A message created with a service and no From is `accepted` with no sender; the API does not pick one, because
the right one depends on the pool (and on the sticky assignments, the senders' queues) when the message
actually goes. `assign_senders` is the one place that happens: the delivery worker calls it for every such
message whose send job runs, whether it was accepted just now or released at its scheduled time. The choice
itself is domain/sender_choice.py.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime

import mycpaas.metrics as metrics
from mycpaas.domain.accounts import Account, AccountStatus
from mycpaas.domain.addresses import is_nanp
from mycpaas.domain.messages import ALLOWED_PREDECESSORS, Message, MessageStatus
from mycpaas.domain.messaging_services import ServicePool
from mycpaas.domain.segments import split_parts
from mycpaas.domain.sender_choice import Choice, SenderLoad, choose_sender
from mycpaas.domain.senders import queue_limit, sender_kind
from mycpaas.domain.sids import Prefix, is_sid
from mycpaas.domain.webhooks import WebhookEvent, status_callback_event
from mycpaas.errors import ErrorCode, InvalidRequest
from mycpaas.services.messaging_services import pool_for
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import accounts as account_store
from mycpaas.storage import messages as message_store
from mycpaas.storage import messaging_services as store
from mycpaas.storage import numbers as number_store
from mycpaas.storage.database import Connection


async def service_to_send(
    platform: Platform, account: Account, service_sid: str, sender: str | None, to: str
) -> ServicePool:
    """The pool a new message is sent through, or Twilio's refusal: 21705 for a malformed sid, 21701 for a
    service that is not the account's (a subaccount's parent's included), and, when the platform is to pick
    the sender, 21704 for an empty pool and 21703 for a pool with no sender for `to` (an alpha sender only,
    to a +1 number)."""
    sid = service_sid.strip()
    if not is_sid(sid, Prefix.MESSAGING_SERVICE):
        raise InvalidRequest(ErrorCode.MESSAGING_SERVICE_INVALID, sid=sid)
    async with platform.db.read() as conn:
        pool = await pool_for(conn, account.sid, sid)
    if pool is None:
        raise InvalidRequest(ErrorCode.MESSAGING_SERVICE_NOT_FOUND, sid=sid)
    if sender is None:
        if not pool.numbers and pool.alpha_sender is None:
            raise InvalidRequest(ErrorCode.SERVICE_HAS_NO_SENDERS, sid=sid)
        if not pool.numbers and is_nanp(to):
            raise InvalidRequest(ErrorCode.NO_USABLE_SENDER, to=to)
    return pool


def check_from_in_pool(pool: ServicePool, sender: str) -> None:
    """With both From and MessagingServiceSid, the From must be one of the pool's senders (21711)."""
    alpha = pool.alpha_sender.alpha_sender if pool.alpha_sender else None
    if sender != alpha and sender not in {n.phone_number for n in pool.numbers}:
        raise InvalidRequest(ErrorCode.FROM_NOT_IN_SERVICE, from_=sender, sid=pool.service.sid)


def awaits_sender(message: Message) -> bool:
    """A message sent through a service that is still `accepted`: when its send job runs, the service's pool
    provides its sender, or checks the From it named (`assign_senders`)."""
    return message.messaging_service_sid is not None and message.status in (
        MessageStatus.ACCEPTED,
        MessageStatus.SCHEDULED,
    )


@dataclass(slots=True)
class Assigned:
    """What `assign_senders` did: the messages now `queued` from their sender (to send on), the callbacks
    owed (queued, or failed), and how many failed."""

    queued: list[Message] = field(default_factory=list)
    events: list[WebhookEvent | None] = field(default_factory=list)
    failed: int = 0


async def assign_senders(
    conn: Connection, settings: Settings, messages: list[Message], now: datetime
) -> Assigned:
    """Pick a sender for each message (`awaits_sender`) in the caller's transaction, or check the From it
    named: the message goes `queued` with its From, segments and encoding set (Twilio sends a `queued`
    callback then), or `failed`: 20005 when its account is no longer active, 21701 when its service is gone,
    21703 when the pool has no sender for it any more, 21606 / 21711 when the From it named is no longer the
    account's / in the pool (released, transferred or removed since), 21611 when every sender that could take
    it (or the one it named) is over its queue limit. A message that moved on meanwhile is left out of both.

    Each service's row is locked while its messages are assigned (PostgreSQL), in sid order: two delivery
    processes see each other's sticky assignments and queue counts instead of racing them."""
    done = Assigned()
    groups: dict[tuple[str, str], list[Message]] = defaultdict(list)
    for message in messages:
        groups[(message.messaging_service_sid or "", message.account_sid)].append(message)
    for service_sid, account_sid in sorted(groups):
        group = groups[(service_sid, account_sid)]
        if await account_store.status(conn, account_sid) is not AccountStatus.ACTIVE:
            for message in group:  # closed or suspended since it was accepted or scheduled
                await _fail(conn, done, message, ErrorCode.ACCOUNT_NOT_ACTIVE, now)
            continue
        locked = await store.get_service(conn, service_sid, for_update=True)
        pool = await pool_for(conn, account_sid, service_sid) if locked else None
        if pool is None:
            for message in group:
                await _fail(conn, done, message, ErrorCode.MESSAGING_SERVICE_NOT_FOUND, now, sid=service_sid)
            continue
        await _assign_group(conn, settings, pool, group, now, done)
    return done


async def _assign_group(
    conn: Connection,
    settings: Settings,
    pool: ServicePool,
    group: list[Message],
    now: datetime,
    done: Assigned,
) -> None:
    service = pool.service
    senders = [n.phone_number for n in pool.numbers]
    if pool.alpha_sender:
        senders.append(pool.alpha_sender.alpha_sender)
    found = await message_store.sender_loads(conn, service.account_sid, senders)
    loads = {
        sender: SenderLoad(
            queued,
            queue_limit(settings.sender_mps(sender_kind(sender)), settings.sender_queue_seconds),
            last_used,
        )
        for sender, (queued, last_used) in found.items()
    }
    turn = max((load.last_used for load in loads.values()), default=0) + 1
    in_pool = {n.sid for n in pool.numbers}
    sticky: dict[str, str] = {}
    if service.sticky_sender:
        sticky = await store.sticky_numbers(conn, service.sid, sorted({m.to_number for m in group}))
    for message in group:
        current = sticky.get(message.to_number)
        if message.from_number is not None:
            refusal = await _named_sender_problem(conn, pool, message.from_number, loads)
            if refusal is not None:
                await _fail(conn, done, message, refusal, now, from_=message.from_number, sid=service.sid)
                continue
            choice = Choice(message.from_number)  # the From it named: no choice, no sticky assignment
        else:
            choice = choose_sender(pool, message.to_number, current, loads)
        if choice.sender is None:
            await _fail(
                conn, done, message, choice.error or ErrorCode.NO_USABLE_SENDER, now, to=message.to_number
            )
            continue
        segmentation = split_parts(message.body)
        values: dict[str, object] = {
            "from_number": choice.sender,
            "num_segments": segmentation.count if message.body else 1,  # a media-only message costs one
            "encoding": segmentation.encoding.value,
        }
        allowed = ALLOWED_PREDECESSORS[MessageStatus.QUEUED]
        if not await message_store.advance_status(
            conn, message.sid, MessageStatus.QUEUED, allowed, now, **values
        ):
            continue
        queued = replace(message, status=MessageStatus.QUEUED, updated_at=now, **values)  # type: ignore[arg-type]
        done.queued.append(queued)
        done.events.append(status_callback_event(queued, MessageStatus.QUEUED))
        loads.setdefault(choice.sender, SenderLoad()).took(turn)
        turn += 1
        # A sticky number that is only full keeps its destination; one that left the pool gives it up.
        if (
            service.sticky_sender
            and choice.number_sid
            and (current not in in_pool or current == choice.number_sid)
        ):
            await store.set_sticky(conn, service.sid, message.to_number, choice.number_sid, now)
            sticky[message.to_number] = choice.number_sid


async def _named_sender_problem(
    conn: Connection, pool: ServicePool, sender: str, loads: dict[str, SenderLoad]
) -> ErrorCode | None:
    """Why the From a message named (checked in the pool when it was created) cannot send it now: no longer the
    account's number (21606: released, or moved to another account, whose pool it may be in now), no longer in
    the pool (21711), or over its queue limit (21611); None if it can."""
    alpha = pool.alpha_sender.alpha_sender if pool.alpha_sender else None
    if sender != alpha and sender not in {n.phone_number for n in pool.numbers}:
        number = await number_store.find_by_phone_number(conn, sender)
        if number is None or number.account_sid != pool.service.account_sid:
            return ErrorCode.FROM_NOT_OWNED
        return ErrorCode.FROM_NOT_IN_SERVICE
    load = loads.get(sender)
    return ErrorCode.QUEUE_FULL if load is not None and load.full else None


async def _fail(
    conn: Connection, done: Assigned, message: Message, error: ErrorCode, now: datetime, **params: object
) -> None:
    values: dict[str, object] = {"error_code": int(error), "error_message": error.render(**params)}
    status = MessageStatus.FAILED
    if await message_store.advance_status(
        conn, message.sid, status, ALLOWED_PREDECESSORS[status], now, **values
    ):
        done.events.append(status_callback_event(replace(message, **values), status))  # type: ignore[arg-type]
        done.failed += 1
        metrics.message_finished(status.value, int(error))
