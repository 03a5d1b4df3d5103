"""The sender choice at the depth of its use cases (services/service_sending.py), on a migrated database of each
test's own (SQLite and PostgreSQL: the loads, sticky rows and the service lock are SQL): what a message through a
service is created with, and what `assign_senders` makes of a batch when senders are over their queue limit, the
pool has emptied or the service is gone. The HTTP path is tests/clients/test_messaging_service_sending.py."""

from __future__ import annotations

from dataclasses import replace

from mycpaas.domain.clock import utcnow
from mycpaas.domain.messages import Message, MessageStatus
from mycpaas.services import accounts, messaging, numbers, service_sending
from mycpaas.services import messaging_services as services
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import messages as message_store
from tests.integration.helpers import unique_number
from tests.platform_support import run_on_platform

CALLBACK = "https://app.example/service-status"


async def _assign(platform: Platform, messages: list[Message]) -> service_sending.Assigned:
    async with platform.db.write() as conn:
        return await service_sending.assign_senders(conn, platform.settings, messages, utcnow())


async def _stored(platform: Platform, sids: list[str]) -> dict[str, Message]:
    async with platform.db.read() as conn:
        return {m.sid: m for m in await message_store.get_many(conn, sids)}


def test_queue_limits_an_emptied_pool_and_a_deleted_service(platform_settings: Settings) -> None:
    # At 0.01 message/s and 1 s of queue, each number may hold one queued message.
    settings = replace(platform_settings, sender_mps_long_code=0.01, sender_queue_seconds=1.0)

    async def scenario(platform: Platform) -> None:
        account = (await accounts.create_account(platform, "mg")).account
        service = await services.create_service(
            platform,
            account,
            {"FriendlyName": "pool", "StatusCallback": CALLBACK, "ValidityPeriod": "600"},
        )
        pooled = [
            await numbers.create_number(platform, account, {"PhoneNumber": unique_number()}) for _ in range(2)
        ]
        for number in pooled:
            await services.add_number(platform, service, number.sid)

        def request(to: str, **kw: object) -> messaging.SendRequest:
            return messaging.SendRequest(
                to=to, from_=None, messaging_service_sid=service.sid, body="caf\u00e9 \u2019", **kw
            )

        made = [await messaging.send_message(platform, account, request(unique_number())) for _ in range(3)]
        first = made[0]
        assert (first.status, first.from_number, first.num_segments) == (MessageStatus.ACCEPTED, None, 0)
        # The service's StatusCallback and ValidityPeriod apply when the message gives none, and its smart
        # encoding (on by default) replaced the curly quote.
        assert (first.status_callback, first.validity_period, first.body) == (CALLBACK, 600, "caf\u00e9 '")
        own = await messaging.compose(
            platform, account, request(unique_number(), status_callback="https://app.example/own")
        )
        assert own.status_callback == "https://app.example/own"

        done = await _assign(platform, made)
        assert [m.from_number for m in done.queued] == [
            n.phone_number for n in sorted(pooled, key=lambda n: n.sid)
        ]
        assert done.failed == 1
        stored = await _stored(platform, [m.sid for m in made])
        full = stored[made[2].sid]
        assert (full.status, full.error_code, full.from_number) == (MessageStatus.FAILED, 21611, None)
        queued = stored[made[0].sid]
        assert (queued.status, queued.num_segments, queued.encoding) == (MessageStatus.QUEUED, 1, "GSM-7")
        assert [e.params["MessageStatus"] for e in done.events if e] == ["queued", "queued", "failed"]
        assert [e.params.get("ErrorCode") for e in done.events if e] == [None, None, "21611"]

        # The pool emptied before the message's turn: 21703; the service deleted: 21701.
        emptied, deleted = [
            await messaging.send_message(platform, account, request(unique_number())) for _ in "ab"
        ]
        for number in pooled:
            found = await services.get_pool_number(platform, service, number.sid)
            assert found is not None
            await services.remove_number(platform, found)
        assert (await _assign(platform, [emptied])).failed == 1
        await services.delete_service(platform, service)
        assert (await _assign(platform, [deleted])).failed == 1
        stored = await _stored(platform, [emptied.sid, deleted.sid])
        assert [(stored[m.sid].status, stored[m.sid].error_code) for m in (emptied, deleted)] == [
            (MessageStatus.FAILED, 21703),
            (MessageStatus.FAILED, 21701),
        ]

    run_on_platform(settings, scenario)
