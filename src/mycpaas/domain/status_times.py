"""When a message reached each status it passed: the statuses that record their own time, and the timeline
read from those times.

A message is created in its first status (`queued`, `accepted`, `scheduled` or `received`) at `created_at`;
every later status in `TIMED_STATUSES` records its moment in a column of its own (`<status>_at`), set by the
same UPDATE that moves the status (storage/messages.py), so that a later status does not hide an earlier one
(the dashboard showed `sending` only while it lasted) and nothing is written beside the status change itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from mycpaas.domain.messages import Direction, Message, MessageStatus

S = MessageStatus

# In the order a message passes them: the timeline lists them so, whatever their clocks say.
TIMED_STATUSES: tuple[MessageStatus, ...] = (
    S.ACCEPTED,  # a scheduled message at SendAt
    S.QUEUED,  # a message that waited for its sender (accepted) or its SendAt
    S.SENDING,
    S.SENT,
    S.DELIVERED,
    S.UNDELIVERED,
    S.FAILED,
    S.CANCELED,
)


def time_column(status: MessageStatus) -> str:
    """The column (and field) that records when a message reached `status`."""
    return f"{status.value}_at"


def first_status(message: Message, times: Mapping[MessageStatus, datetime]) -> MessageStatus:
    """The status a message was created in. Only a scheduled message becomes `accepted` later (at SendAt);
    a message sent through a Messaging Service starts `accepted`, any other outbound one `queued`."""
    if message.direction is Direction.INBOUND:
        return S.RECEIVED
    if message.status in (S.SCHEDULED, S.CANCELED) or S.ACCEPTED in times:
        return S.SCHEDULED
    return S.ACCEPTED if message.messaging_service_sid else S.QUEUED


def passed(message: Message, times: Mapping[MessageStatus, datetime]) -> list[tuple[MessageStatus, datetime]]:
    """Every status the message passed, with its time, first to last. A message stored before the times were
    recorded (or a status without a time of its own) still shows its current status, at `updated_at`."""
    first = first_status(message, times)
    steps = [(first, message.created_at)]
    if message.direction is not Direction.INBOUND:  # an inbound message's sent_at is its arrival
        steps += [(s, times[s]) for s in TIMED_STATUSES if s in times and s is not first]
    if all(status is not message.status for status, _ in steps):
        steps.append((message.status, message.updated_at))
    return steps
