"""Use case of an inbound message: a carrier's mobile-originated SMS becomes a message of the number's
account, and its SmsUrl webhook is queued in the same transaction."""

from __future__ import annotations

import mycpaas.metrics as metrics
from mycpaas.domain.accounts import AccountStatus
from mycpaas.domain.carriage import InboundSms
from mycpaas.domain.clock import utcnow
from mycpaas.domain.messages import Message
from mycpaas.domain.webhooks import incoming_message_event
from mycpaas.services.platform import Platform
from mycpaas.storage import accounts as account_store
from mycpaas.storage import messages as store
from mycpaas.storage import numbers as number_store
from mycpaas.storage import parts
from mycpaas.storage import webhooks as webhook_store
from mycpaas.storage.database import Connection


async def record_inbound(platform: Platform, sms: InboundSms) -> Message | None:
    """Keep an inbound message for a number the platform owns; drop anything else (and redeliveries). A part
    of a concatenated message is stored until its last part arrives, then the whole message is kept.

    Parts of one message can arrive together, on two binds or in two processes: each transaction that adds
    a part first locks the destination number's row, so the second one sees the first one's part and no
    message is left waiting for a part that was stored beside it (as two concurrent READ COMMITTED
    transactions could). SQLite serialises every write transaction anyway."""
    now = utcnow()
    async with platform.db.read() as conn:
        if await number_store.owner_of(conn, sms.destination) is None:
            return None

    async def work(conn: Connection) -> tuple[Message | None, bool]:
        number = await number_store.find_by_phone_number(
            conn, sms.destination, for_update=sms.part is not None
        )
        if number is None:
            return None, False
        found = await account_store.get_account(conn, number.account_sid)
        if found is None or found[0].status is not AccountStatus.ACTIVE:
            return None, False
        if await store.get_by_carrier_id(conn, sms.carrier_message_id) is not None:
            return None, False
        body = sms.text
        if sms.part is not None:
            texts = await parts.add_inbound_part(
                conn, sms.carrier, sms.source, sms.destination, sms.part, sms.text, now
            )
            if texts is None:
                return None, False
            body = "".join(texts)
        message = Message.inbound(
            account_sid=number.account_sid,
            from_number=sms.source,
            to_number=sms.destination,
            body=body,
            carrier_message_id=sms.carrier_message_id,
            now=now,
        )
        await store.insert_new(conn, [message])
        if not number.sms_url:
            return message, False
        event = incoming_message_event(
            message, number.sms_url, number.sms_method, number.sms_fallback_url, number.sms_fallback_method
        )
        return message, await webhook_store.queue_events(conn, [event], now)

    message, notify = await platform.committer.run(work)
    if message is not None:
        metrics.message_created(message.direction.value, message.num_segments)
    if notify:
        platform.wake_webhooks()
    return message
