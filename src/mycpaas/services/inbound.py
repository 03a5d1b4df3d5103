"""Use case of an inbound message: a carrier's mobile-originated SMS becomes a message of the number's
account, and its webhook is queued in the same transaction: the number's SmsUrl, or its Messaging Service's
inbound URL when the number is in a pool (`domain/inbound_routes.py`).

Three things make one delivery one message: a redelivery (the SMSC's acknowledgement lost) is recognised by its
fingerprint for MYCPAAS_SMPP_MO_DEDUPE_SECONDS; the parts of a concatenated message are joined before they are
decoded; and parts whose message never completes are delivered as what arrived after
MYCPAAS_INBOUND_PARTS_TIMEOUT_SECONDS (`flush_stale_inbound_parts`), instead of being kept for ever."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

import mycpaas.metrics as metrics
from mycpaas.domain.accounts import AccountStatus
from mycpaas.domain.alphabets import assemble
from mycpaas.domain.carriage import InboundSms
from mycpaas.domain.clock import utcnow
from mycpaas.domain.inbound_routes import inbound_route
from mycpaas.domain.messages import Message
from mycpaas.domain.numbers import IncomingNumber
from mycpaas.domain.webhooks import incoming_message_event
from mycpaas.services.platform import Platform
from mycpaas.storage import accounts as account_store
from mycpaas.storage import inbound_parts, inbound_seen
from mycpaas.storage import messages as store
from mycpaas.storage import messaging_services as service_store
from mycpaas.storage import numbers as number_store
from mycpaas.storage import webhooks as webhook_store
from mycpaas.storage.database import Connection

log = logging.getLogger("mycpaas.inbound")

STALE_GROUPS_PER_SWEEP = 100


async def record_inbound(platform: Platform, sms: InboundSms) -> Message | None:
    """Keep an inbound message for a number the platform owns; drop anything else (and redeliveries). A part
    of a concatenated message is stored until its last part arrives, then the whole message is kept.

    Parts of one message can arrive together, on two binds or in two processes: each transaction that adds
    a part first locks the destination number's row, so the second one sees the first one's part and no
    message is left waiting for a part that was stored beside it (as two concurrent READ COMMITTED
    transactions could). SQLite serialises every write transaction anyway. The fingerprint is claimed in the
    same transaction: if it fails, the SMSC's redelivery is not mistaken for a duplicate."""
    now = utcnow()
    if not await _may_own(platform, sms.destination):
        return None
    window = platform.settings.smpp_mo_dedupe_seconds

    async def work(conn: Connection) -> tuple[Message | None, frozenset[str]] | None:
        """The message and the origins of the webhook queued (if any); None for a redelivery (counted once committed)."""
        number = await _active_number(conn, sms.destination, lock=sms.part is not None)
        if number is None:
            return None, frozenset()
        if await store.get_by_carrier_id(conn, sms.carrier_message_id) is not None:
            return None, frozenset()
        cutoff = now - timedelta(seconds=window)
        if (
            sms.fingerprint
            and window > 0
            and not await inbound_seen.claim(conn, sms.fingerprint, now, cutoff)
        ):
            return None
        body = sms.text
        if sms.part is not None:
            reference, total, seqnum = sms.part
            group = inbound_parts.PartGroup(sms.carrier, sms.source, sms.destination, reference, total)
            payload = sms.payload if sms.payload is not None else sms.text.encode("utf-16-be")
            coding = sms.coding if sms.payload is not None else 8
            pieces = await inbound_parts.add_inbound_part(conn, group, seqnum, payload, coding, now)
            if pieces is None:
                return None, frozenset()
            body = assemble(pieces)
        return await _keep(conn, number, sms.source, body, sms.carrier_message_id, now)

    outcome = await platform.committer.run(work)
    if outcome is None:
        metrics.INBOUND_DUPLICATES.labels(sms.carrier).inc()
        log.info("a redelivered inbound message was dropped", extra={"action": "inbound_duplicate"})
        return None
    message, notify = outcome
    if message is not None:
        metrics.message_created(message.direction.value, message.num_segments)
    if notify:
        platform.wake_webhooks(notify)
    return message


async def _may_own(platform: Platform, phone_number: str) -> bool:
    """Whether the platform owns the number, as far as the caches of numbers say (the write transaction checks
    the row again): a number known to send from is owned; one found unowned is kept in `unowned_numbers`,
    which every change of a number empties (the NUMBERS topic: in this process right after the change's commit,
    in others at the ChangeWatcher's next poll, as for the owners' cache), and an answer read before an emptying
    is not kept (services/lookup_cache.py), so a number added is never taken for unowned here afterwards."""
    if platform.number_owners.get(phone_number) is not None:
        return True
    unowned = platform.unowned_numbers
    if unowned.get(phone_number):
        return False
    generation = unowned.generation
    async with platform.db.read() as conn:
        owner = await number_store.owner_of(conn, phone_number)
    if owner is None:
        unowned.put(phone_number, True, generation)
    return owner is not None


async def flush_stale_inbound_parts(platform: Platform, older_than: float) -> int:
    """Deliver the parts of every concatenated message whose first part came over `older_than` seconds ago as
    one message (the parts that arrived, in order; a warning names the missing ones) and remove them. Returns
    how many messages were created. Safe in several processes at once: a group is taken by one transaction."""
    cutoff = utcnow() - timedelta(seconds=older_than)
    async with platform.db.read() as conn:
        groups = await inbound_parts.stale_groups(conn, cutoff, STALE_GROUPS_PER_SWEEP)
    created = 0
    for group in groups:

        async def work(
            conn: Connection, group: inbound_parts.PartGroup = group
        ) -> tuple[Message | None, frozenset[str], list[int]]:
            number = await _active_number(conn, group.destination, lock=True)
            taken = await inbound_parts.take_group(conn, group)
            if taken is None:
                return None, frozenset(), []
            in_order = [taken.get(n) for n in range(1, group.total + 1)]
            missing = [n for n, piece in enumerate(in_order, 1) if piece is None]
            if number is None:
                return (
                    None,
                    frozenset(),
                    missing,
                )  # the number was released meanwhile: as for any inbound message
            carrier_id = f"incomplete-{secrets.token_hex(10)}"
            kept = await _keep(conn, number, group.source, assemble(in_order), carrier_id, utcnow())
            return *kept, missing

        message, notify, missing = await platform.committer.run(work)
        if message is None:
            continue
        created += 1
        metrics.message_created(message.direction.value, message.num_segments)
        metrics.INBOUND_INCOMPLETE.labels(group.carrier).inc()
        log.warning(
            "inbound message %s kept without part(s) %s of %d: they did not arrive within %g s",
            message.sid,
            ",".join(map(str, missing)),
            group.total,
            older_than,
            extra={"action": "inbound_incomplete"},
        )
        if notify:
            platform.wake_webhooks(notify)
    return created


async def _active_number(conn: Connection, phone_number: str, lock: bool) -> IncomingNumber | None:
    number = await number_store.find_by_phone_number(conn, phone_number, for_update=lock)
    if number is None:
        return None
    found = await account_store.get_account(conn, number.account_sid)
    if found is None or found[0].status is not AccountStatus.ACTIVE:
        return None
    return number


async def _keep(
    conn: Connection, number: IncomingNumber, source: str, body: str, carrier_message_id: str, now: datetime
) -> tuple[Message | None, frozenset[str]]:
    service_sid = await service_store.service_of_number(conn, number.sid)
    service = await service_store.get_service(conn, service_sid) if service_sid else None
    message = Message.inbound(
        account_sid=number.account_sid,
        from_number=source,
        to_number=number.phone_number,
        body=body,
        carrier_message_id=carrier_message_id,
        now=now,
        messaging_service_sid=service.sid if service else None,
    )
    await store.insert_new(conn, [message])
    route = inbound_route(number, service)
    if route is None:
        return message, frozenset()
    event = incoming_message_event(
        message, route.url, route.method, route.fallback_url, route.fallback_method
    )
    return message, await webhook_store.queue_events(conn, [event], now)
