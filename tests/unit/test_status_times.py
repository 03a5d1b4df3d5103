"""The timeline of a message from its stored status times (domain/status_times.py): every status passed, in
the order a message passes them, its first at creation; rows stored before the times keep their old timeline."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mycpaas.domain.messages import Direction, Message, MessageStatus
from mycpaas.domain.status_times import TIMED_STATUSES, passed, time_column

S = MessageStatus
T0 = datetime(2026, 12, 7, 9, 0, 0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def message(
    status: MessageStatus, *, service: bool = False, inbound: bool = False, **times: datetime
) -> Message:
    stored = Message.outbound(
        account_sid="AC" + "1" * 32,
        direction=Direction.OUTBOUND_API,
        from_number="+15005550006",
        to_number="+15558675310",
        body="hi",
        num_media=0,
        status_callback=None,
        validity_period=None,
        now=T0,
        messaging_service_sid="MG" + "1" * 32 if service else None,
    )
    stored.status, stored.updated_at = status, max([T0, *times.values()])
    if inbound:
        stored.direction, stored.sent_at = Direction.INBOUND, T0
    elif S.SENT.value in times:
        stored.sent_at = times["sent"]
    return stored


def timeline(stored: Message, **times: datetime) -> list[tuple[str, datetime]]:
    return [(s.value, moment) for s, moment in passed(stored, {S(k): v for k, v in times.items()})]


def test_every_status_passed_is_listed_with_its_own_time() -> None:
    times = {"sending": at(1), "sent": at(2), "delivered": at(5)}
    assert timeline(message(S.DELIVERED, **times), **times) == [
        ("queued", T0),
        ("sending", at(1)),
        ("sent", at(2)),
        ("delivered", at(5)),
    ]


def test_lifecycle_order_wins_over_equal_or_skewed_clocks() -> None:
    times = {"sending": at(1), "sent": at(1), "undelivered": at(1)}
    steps = timeline(message(S.UNDELIVERED, **times), **times)
    assert [s for s, _ in steps] == ["queued", "sending", "sent", "undelivered"]


def test_a_service_message_starts_accepted_and_a_scheduled_one_scheduled() -> None:
    service = {"queued": at(1), "sending": at(1)}
    assert [s for s, _ in timeline(message(S.SENDING, service=True, **service), **service)] == [
        "accepted",
        "queued",
        "sending",
    ]
    scheduled = {"accepted": at(3600), "queued": at(3600), "failed": at(3600)}
    steps = timeline(message(S.FAILED, service=True, **scheduled), **scheduled)
    assert [s for s, _ in steps] == ["scheduled", "accepted", "queued", "failed"]
    canceled = timeline(message(S.CANCELED, service=True, canceled=at(9)), canceled=at(9))
    assert canceled == [("scheduled", T0), ("canceled", at(9))]


def test_an_inbound_message_is_received_at_its_arrival() -> None:
    assert timeline(message(S.RECEIVED, inbound=True)) == [("received", T0)]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (S.QUEUED, ["queued"]),
        (S.SENDING, ["queued", "sending"]),
        (S.SENT, ["queued", "sent"]),
        (S.DELIVERED, ["queued", "sent", "delivered"]),
        (S.FAILED, ["queued", "failed"]),
    ],
)
def test_a_row_stored_before_the_times_keeps_its_timeline(status: MessageStatus, expected: list[str]) -> None:
    """No status times (NULL columns): its creation, sent_at when it has one, and its status at updated_at."""
    stored = message(status, **({"sent": at(2)} if status in (S.SENT, S.DELIVERED) else {}))
    if status is not S.QUEUED:
        stored.updated_at = at(7) if status is not S.SENT else at(2)
    steps = passed(stored, {S.SENT: at(2)} if stored.sent_at else {})
    assert [s.value for s, _ in steps] == expected
    assert steps[-1][1] == stored.updated_at


def test_every_timed_status_has_a_column_named_after_it() -> None:
    assert [time_column(s) for s in TIMED_STATUSES][:4] == [
        "accepted_at",
        "queued_at",
        "sending_at",
        "sent_at",
    ]
    assert S.QUEUED in TIMED_STATUSES and S.RECEIVED not in TIMED_STATUSES
