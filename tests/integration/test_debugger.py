"""The Debugger's use cases (services/failures.py) on SQLite and PostgreSQL: an account's failures and nobody
else's, each filter, paging, the request an attempt sent without its secrets, and a redelivery queued as a
webhook job under the original idempotency token (another account's attempt: 404)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from mycpaas.domain.accounts import Account
from mycpaas.domain.clock import utcnow
from mycpaas.domain.failures import FailureFilter
from mycpaas.domain.messages import Direction, Message, MessageStatus
from mycpaas.domain.webhooks import (
    EVENT_KINDS,
    AttemptOutcome,
    WebhookAttempt,
    WebhookEvent,
    incoming_message_event,
    status_callback_event,
)
from mycpaas.errors import NotFound
from mycpaas.services import accounts, failures, numbers
from mycpaas.services.failures import CannotRedeliver
from mycpaas.services.platform import Platform
from mycpaas.settings import Settings
from mycpaas.storage import failures as failures_store
from mycpaas.storage import messages as message_store
from mycpaas.storage import queue
from mycpaas.storage import webhooks as webhook_store
from tests.integration.helpers import unique_number
from tests.platform_support import run_on_platform

CALLBACK = "https://hooks:s3cret-pass@app.example/status?x=1"
PEER = "+447700900123"


def outbound(
    account: Account, to: str, status: MessageStatus, error: int | None, minutes_ago: int
) -> Message:
    now = utcnow() - timedelta(minutes=minutes_ago)
    message = Message.outbound(
        account_sid=account.sid,
        direction=Direction.OUTBOUND_API,
        from_number="+15005550006",
        to_number=to,
        body="hello",
        num_media=0,
        status_callback=CALLBACK,
        validity_period=None,
        now=now,
    )
    return dataclasses.replace(message, status=status, error_code=error, updated_at=now)


def attempt_of(
    event: WebhookEvent, outcome: AttemptOutcome, code: int | None, minutes_ago: int
) -> WebhookAttempt:
    attempt = WebhookAttempt.of(
        event,
        1,
        outcome,
        request_url="https://app.example/status?x=1",
        response_status=500 if code else 200,
        error_code=code,
        error_message="the receiver answered HTTP 500" if code else None,
        response_excerpt="oops" if code else "OK",
    )
    attempt.created_at = utcnow() - timedelta(minutes=minutes_ago)
    return attempt


@dataclasses.dataclass
class Seeded:
    mine: Account
    other: Account
    failed: list[Message]  # mine, oldest first
    attempts: list[WebhookAttempt]  # mine, failed, oldest first
    others_attempt: WebhookAttempt
    inbound_attempt: WebhookAttempt
    number: str


async def seed(platform: Platform) -> Seeded:
    mine = (await accounts.create_account(platform, "mine")).account
    other = (await accounts.create_account(platform, "other")).account
    number = unique_number()
    await numbers.create_number(
        platform, mine, {"PhoneNumber": number, "SmsUrl": "https://u:inbound-pass@app.example/sms"}
    )
    rows = [
        outbound(mine, "+15551230001", MessageStatus.FAILED, 30003, 300),
        outbound(mine, "+15551230002", MessageStatus.UNDELIVERED, 30005, 200),
        outbound(mine, "+15551230001", MessageStatus.DELIVERED, None, 150),
        outbound(mine, "+15551230003", MessageStatus.FAILED, 30003, 100),
        outbound(other, "+15551230001", MessageStatus.FAILED, 30003, 50),
    ]
    received = Message.inbound(
        account_sid=mine.sid, from_number=PEER, to_number=number, body="hi there", carrier_message_id="c1",
        now=utcnow(),
    )  # fmt: skip
    inbound_event = incoming_message_event(
        received, "https://u:inbound-pass@app.example/sms", "POST", "", "POST"
    )
    events = [status_callback_event(m, m.status) for m in rows]
    attempts = [
        attempt_of(events[0], AttemptOutcome.RETRYING, 11200, 299),
        attempt_of(events[0], AttemptOutcome.FAILED, 11200, 298),
        attempt_of(events[1], AttemptOutcome.FAILED, 11205, 199),
        attempt_of(events[2], AttemptOutcome.DELIVERED, None, 149),
        attempt_of(events[4], AttemptOutcome.FAILED, 11200, 49),
        attempt_of(inbound_event, AttemptOutcome.FAILED, 12300, 1),
    ]
    async with platform.db.write() as conn:
        await message_store.insert_new(conn, [*rows, received])
        await webhook_store.insert_attempts(conn, attempts)
    return Seeded(
        mine,
        other,
        [rows[0], rows[1], rows[3]],
        [*attempts[:3], attempts[5]],
        attempts[4],
        attempts[5],
        number,
    )


def sids(items: list[Message]) -> list[str]:
    return [m.sid for m in items]


@pytest.mark.parametrize("few", [failures_store.FEW_MESSAGES, 0], ids=["number-by-sids", "number-by-walk"])
def test_failures_are_the_accounts_own_and_every_filter_narrows_them(
    platform_settings: Settings, few: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`few`: the bound under which a number's attempts are found through its messages' sids (both ways)."""
    monkeypatch.setattr(failures_store, "FEW_MESSAGES", few)

    async def scenario(platform: Platform) -> None:
        s = await seed(platform)
        newest_first = list(reversed(sids(s.failed)))
        everything = FailureFilter()
        assert sids(await failures.failed_messages(platform, s.mine, everything, 50)) == newest_first
        assert sids(await failures.failed_messages(platform, s.other, everything, 50)) != []
        by_code = FailureFilter(error_code=30003)
        assert sids(await failures.failed_messages(platform, s.mine, by_code, 50)) == [
            s.failed[2].sid,
            s.failed[0].sid,
        ]
        assert await failures.failed_messages(platform, s.mine, FailureFilter(error_code=99999), 50) == []
        by_number = FailureFilter(
            number="+15551230001"
        )  # the delivered one and the other account's are left out
        assert sids(await failures.failed_messages(platform, s.mine, by_number, 50)) == [s.failed[0].sid]
        now = utcnow()
        window = FailureFilter(since=now - timedelta(minutes=250), until=now - timedelta(minutes=150))
        assert sids(await failures.failed_messages(platform, s.mine, window, 50)) == [s.failed[1].sid]
        long_ago = FailureFilter(until=now - timedelta(days=365))
        assert await failures.failed_messages(platform, s.mine, long_ago, 50) == []
        # Keyset paging: one a page, then the rest after it; an unknown cursor (another account's) is empty.
        first = await failures.failed_messages(platform, s.mine, everything, 1)
        rest = await failures.failed_messages(platform, s.mine, everything, 50, first[0].sid)
        assert sids(first + rest) == newest_first
        others = await failures.failed_messages(platform, s.other, everything, 1)
        assert await failures.failed_messages(platform, s.mine, everything, 50, others[0].sid) == []

        listed = await failures.failed_attempts(platform, s.mine, everything, 50)
        assert [f.attempt.sid for f in listed] == [a.sid for a in reversed(s.attempts)]
        assert s.others_attempt.sid not in {f.attempt.sid for f in listed}
        assert listed[-1].to_number == "+15551230001"  # with its message's numbers
        by_code_attempts = await failures.failed_attempts(
            platform, s.mine, FailureFilter(error_code=11205), 50
        )
        assert [f.attempt.sid for f in by_code_attempts] == [s.attempts[2].sid]
        by_number_attempts = await failures.failed_attempts(platform, s.mine, by_number, 50)
        assert [f.attempt.sid for f in by_number_attempts] == [s.attempts[1].sid, s.attempts[0].sid]
        inbound_only = await failures.failed_attempts(platform, s.mine, FailureFilter(number=PEER), 50)
        assert [f.attempt.event for f in inbound_only] == ["incoming message"]
        recent = FailureFilter(since=now - timedelta(minutes=10))
        assert [f.attempt.sid for f in await failures.failed_attempts(platform, s.mine, recent, 50)] == [
            s.inbound_attempt.sid
        ]
        page = await failures.failed_attempts(platform, s.mine, everything, 2)
        after = await failures.failed_attempts(platform, s.mine, everything, 50, page[-1].attempt.sid)
        assert [f.attempt.sid for f in page + after] == [a.sid for a in reversed(s.attempts)]

    run_on_platform(platform_settings, scenario)


def test_an_attempts_request_is_shown_without_secrets(platform_settings: Settings) -> None:
    async def scenario(platform: Platform) -> None:
        s = await seed(platform)
        status = await failures.sent_request(platform, s.attempts[1])
        assert status is not None and status.method == "POST"
        assert status.url == "https://hooks:****@app.example/status?x=1"
        assert status.params["MessageStatus"] == "failed" and status.params["ErrorCode"] == "30003"
        headers = dict(status.headers)
        assert headers["I-Twilio-Idempotency-Token"] == s.attempts[1].idempotency_token
        assert "not shown" in headers["X-Twilio-Signature"] and "not shown" in headers["Authorization"]
        inbound = await failures.sent_request(platform, s.inbound_attempt)
        assert inbound is not None and inbound.url == "https://u:****@app.example/sms"
        assert inbound.params["Body"] == "hi there" and inbound.params["From"] == PEER
        shown = repr((status, inbound))
        assert "s3cret-pass" not in shown and "inbound-pass" not in shown

    run_on_platform(platform_settings, scenario)


def test_a_redelivery_is_a_webhook_job_under_the_same_token_and_only_for_the_accounts_own(
    platform_settings: Settings,
) -> None:
    async def scenario(platform: Platform) -> None:
        s = await seed(platform)
        original = s.attempts[1]
        await failures.redeliver(platform, s.mine, original.sid)
        async with platform.db.read() as conn:
            queued = await queue.payloads(conn, EVENT_KINDS, original.message_sid)
        assert len(queued) == 1
        event = WebhookEvent.from_json(queued[0][1] or "")
        assert event.token == original.idempotency_token and event.redelivery_of == original.sid
        assert event.url == CALLBACK and event.message_status == "failed"
        # The attempt it makes names the one it repeats, and is read back so.
        again = WebhookAttempt.of(
            event, 1, AttemptOutcome.DELIVERED, request_url="https://app.example/status"
        )
        async with platform.db.write() as conn:
            await webhook_store.insert_attempts(conn, [again])
        assert [a.sid for a in await failures.redeliveries(platform, original)] == [again.sid]
        # Another account's attempt does not exist for this one: the same 404 as an unknown sid.
        with pytest.raises(NotFound):
            await failures.redeliver(platform, s.mine, s.others_attempt.sid)
        with pytest.raises(NotFound):
            await failures.get_attempt(platform, s.mine, s.others_attempt.sid)
        async with platform.db.read() as conn:
            assert await queue.payloads(conn, EVENT_KINDS, s.others_attempt.message_sid) == []
        # An inbound message's webhook goes to the URL its number has now; without one, it cannot.
        await failures.redeliver(platform, s.mine, s.inbound_attempt.sid)
        async with platform.db.read() as conn:
            (job,) = await queue.payloads(conn, EVENT_KINDS, s.inbound_attempt.message_sid)
        assert WebhookEvent.from_json(job[1] or "").token == s.inbound_attempt.idempotency_token
        number = (await numbers.list_numbers(platform, s.mine, None, s.number, None, 1))[0]
        await numbers.update_number(platform, s.mine, number, {"SmsUrl": ""})
        with pytest.raises(CannotRedeliver):
            await failures.redeliver(platform, s.mine, s.inbound_attempt.sid)

    run_on_platform(platform_settings, scenario)
