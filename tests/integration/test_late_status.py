"""A status the message has already passed (a late `sent` after `delivered`, a second receipt) is recorded in
the attempt log as skipped and never sent, and the message does not move backwards. Driven through the
delivery use cases on a real SQLite database, because the sandbox carrier never reports out of order (an SMPP
carrier can: a receipt may overtake its submit_sm_resp)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mycpaas.bootstrap import build_platform
from mycpaas.domain.carriage import Outcome, Receipt, Submitted
from mycpaas.domain.jobs import SEND_MESSAGE, Job
from mycpaas.domain.webhooks import EVENT_KINDS
from mycpaas.services import accounts, delivery, jobs, messaging, numbers, receipts, webhooks
from mycpaas.settings import Settings
from mycpaas.storage import migrate, queue
from tests.integration.helpers import unique_number
from tests.platform_support import TEST_SECRET


async def scenario(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir, secret=TEST_SECRET)
    platform = build_platform(settings)
    try:
        owner = (await accounts.create_account(platform, "late")).account
        number = await numbers.create_number(platform, owner, {"PhoneNumber": unique_number()})
        message = await messaging.send_message(
            platform,
            owner,
            messaging.SendRequest(
                to="+15551250000",
                from_=number.phone_number,
                messaging_service_sid=None,
                body="out of order",
                status_callback="https://app.example/status",
            ),
        )
        [send_job] = await jobs.claim(platform, [SEND_MESSAGE], 1)
        ready = await delivery.start_sending(platform, [send_job])
        assert [s.message.sid for s in ready] == [message.sid]
        await delivery.record_submitted(platform, [(message, Submitted("smsc", ("carrier-1",)), send_job)])
        await receipts.apply_receipts(platform, [Receipt("smsc", ("carrier-1",), Outcome.DELIVERED)])
        # Now the same receipt again, and a late failure: neither may regress the message or be sent.
        await receipts.apply_receipts(platform, [Receipt("smsc", ("carrier-1",), Outcome.DELIVERED)])
        await delivery.record_failed(platform, message, Outcome.UNREACHABLE, send_job)

        current = await messaging.get_message(platform, owner, message.sid)
        assert current is not None and current.status.value == "delivered"
        async with platform.db.read() as conn:
            pending = await queue.pending_ids(conn, EVENT_KINDS, [message.sid])
        assert len(pending[message.sid]) == 3, (
            "the three real callbacks (sending, sent, delivered) are queued"
        )
        log = await webhooks.list_attempts(platform, message, 50, None)
        skipped = [(a.message_status, a.outcome.value) for a in log]
        assert skipped == [("delivered", "skipped"), ("failed", "skipped")]
        assert "after the message was delivered" in (log[0].error_message or "")
    finally:
        await platform.committer.close()
        await platform.db.dispose()


def test_a_late_status_is_recorded_not_sent(tmp_path: Path) -> None:
    migrate.upgrade(Settings(data_dir=tmp_path).effective_database_url)
    asyncio.run(scenario(tmp_path))


async def early_and_multipart(data_dir: Path) -> None:
    """A receipt that overtakes its submit_sm_resp is kept and applied with the submission; a multipart
    message ends only when every part has a receipt, as its first failed part."""
    # Five messages from one number in a row: no sender pacing here (its tests are test_shared_state.py).
    platform = build_platform(Settings(data_dir=data_dir, secret=TEST_SECRET, sender_mps_long_code=0))
    try:
        owner = (await accounts.create_account(platform, "parts")).account
        number = await numbers.create_number(platform, owner, {"PhoneNumber": unique_number()})

        async def send(body: str) -> tuple[messaging.Message, Job]:
            message = await messaging.send_message(
                platform,
                owner,
                messaging.SendRequest(
                    to="+15551250001", from_=number.phone_number, messaging_service_sid=None, body=body
                ),
            )
            [job] = await jobs.claim(platform, [SEND_MESSAGE], 1)
            await delivery.start_sending(platform, [job])
            return message, job

        early, job_id = await send("early")
        await receipts.apply_receipts(platform, [Receipt("smsc", ("ab12", "43794"), Outcome.DELIVERED)])
        assert (await messaging.get_message(platform, owner, early.sid)).status.value == "sending"  # type: ignore[union-attr]
        await delivery.record_submitted(platform, [(early, Submitted("smsc", ("ab12",)), job_id)])
        assert (await messaging.get_message(platform, owner, early.sid)).status.value == "delivered"  # type: ignore[union-attr]

        # Same id reported in decimal by the receipt: not matched by its other reading at once (another
        # message may own that spelling), but by the sweep once the id as reported had time to turn up.
        decimal, job_id = await send("decimal")
        await delivery.record_submitted(platform, [(decimal, Submitted("smsc", ("ff01",)), job_id)])
        await receipts.apply_receipts(
            platform, [Receipt("smsc", ("65281", "ff281", "ff01"), Outcome.DELIVERED)]
        )
        assert (await messaging.get_message(platform, owner, decimal.sid)).status.value == "sent"  # type: ignore[union-attr]
        assert await receipts.retry_pending_receipts(platform) == (0, 1)
        assert await receipts.retry_pending_receipts(platform) == (0, 1)
        assert await receipts.retry_pending_receipts(platform) == (1, 0)
        assert (await messaging.get_message(platform, owner, decimal.sid)).status.value == "delivered"  # type: ignore[union-attr]

        # The other reading of an id must not settle a newer message that owns that spelling.
        older, job_id = await send("older")
        await delivery.record_submitted(platform, [(older, Submitted("smsc", ("1000",)), job_id)])
        newer, job_id = await send("newer")
        await delivery.record_submitted(platform, [(newer, Submitted("smsc", ("4096",)), job_id)])
        await receipts.apply_receipts(platform, [Receipt("smsc", ("1000", "3e8", "4096"), Outcome.DELIVERED)])
        statuses = [
            (await messaging.get_message(platform, owner, m.sid)).status.value for m in (older, newer)
        ]  # type: ignore[union-attr]
        assert statuses == ["delivered", "sent"]

        long, job_id = await send("x" * 400)  # three parts
        await delivery.record_submitted(platform, [(long, Submitted("smsc", ("p1", "p2", "p3")), job_id)])
        await receipts.apply_receipts(platform, [Receipt("smsc", ("p2",), Outcome.UNREACHABLE)])
        await receipts.apply_receipts(platform, [Receipt("smsc", ("p1",), Outcome.DELIVERED)])
        current = await messaging.get_message(platform, owner, long.sid)
        assert current is not None and current.status.value == "sent", "one part still has no receipt"
        await receipts.apply_receipts(platform, [Receipt("smsc", ("p3",), Outcome.DELIVERED)])
        current = await messaging.get_message(platform, owner, long.sid)
        assert current is not None and current.status.value == "undelivered"
        assert current.error_code == 30003

        # A receipt nobody submitted is kept, retried by the sweep, and not lost.
        await receipts.apply_receipts(platform, [Receipt("smsc", ("nobody",), Outcome.DELIVERED)])
        assert await receipts.retry_pending_receipts(platform) == (0, 1)
        assert await receipts.retry_pending_receipts(platform) == (0, 1)
    finally:
        await platform.committer.close()
        await platform.db.dispose()


def test_early_receipts_and_multipart_outcomes(tmp_path: Path) -> None:
    migrate.upgrade(Settings(data_dir=tmp_path).effective_database_url)
    asyncio.run(early_and_multipart(tmp_path))
