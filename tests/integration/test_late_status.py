"""A status the message has already passed (a late `sent` after `delivered`, a second receipt) is recorded in
the attempt log as skipped and never sent, and the message does not move backwards. Driven through the
delivery use cases on a real SQLite database, because the sandbox carrier never reports out of order (an SMPP
carrier can: a receipt may overtake its submit_sm_resp)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mycpaas.bootstrap import build_platform
from mycpaas.delivery.carriers.base import Outcome, Receipt
from mycpaas.domain.webhooks import EVENT_KINDS
from mycpaas.services import accounts, delivery, messaging, numbers, webhooks
from mycpaas.settings import Settings
from mycpaas.storage import migrate, queue
from tests.integration.helpers import unique_number


async def scenario(data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
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
        [send_job] = await delivery.claim_jobs(platform, 1)
        ready = await delivery.start_sending(platform, [send_job])
        assert [m.sid for _, m in ready] == [message.sid]
        await delivery.record_submitted(platform, message, "carrier-1", send_job.id)
        await delivery.apply_receipt(platform, Receipt("carrier-1", Outcome.DELIVERED))
        # Now the same receipt again, and a late failure: neither may regress the message or be sent.
        await delivery.apply_receipt(platform, Receipt("carrier-1", Outcome.DELIVERED))
        await delivery.record_failed(platform, message, Outcome.UNREACHABLE, send_job.id)

        current = await messaging.get_message(platform, owner, message.sid)
        assert current is not None and current.status.value == "delivered"
        async with platform.db.read() as conn:
            pending = await queue.pending_ids(conn, EVENT_KINDS, [message.sid])
        assert len(pending[message.sid]) == 3, (
            "the three real callbacks (sending, sent, delivered) are queued"
        )
        log = await webhooks.list_attempts(platform, message, 50, None)
        skipped = [(a.message_status, a.outcome.value) for a in log]
        assert skipped == [("delivered", "skipped"), ("undelivered", "skipped")]
        assert "after the message was delivered" in (log[0].error_message or "")
    finally:
        await platform.committer.close()
        await platform.db.dispose()


def test_a_late_status_is_recorded_not_sent(tmp_path: Path) -> None:
    migrate.upgrade(Settings(data_dir=tmp_path).effective_database_url)
    asyncio.run(scenario(tmp_path))
