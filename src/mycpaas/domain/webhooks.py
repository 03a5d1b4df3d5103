"""Webhook events: what the platform owes a customer's URL, and the record of each attempt to pay it.

An event is built when its cause commits (a status change, an inbound message) and stored as the payload of a
job in the durable queue, so it is self-contained: the URL, method and parameters are those of the moment the
event happened, and its idempotency token is the same for every attempt to deliver it.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Protocol
from urllib.parse import urlsplit

from mycpaas.domain.addresses import region_of
from mycpaas.domain.clock import utcnow
from mycpaas.domain.messages import Message, MessageStatus
from mycpaas.domain.sids import Prefix, new_ordered_sid

API_VERSION = "2010-04-01"


class EventKind(StrEnum):
    """Also the job kind in the queue."""

    STATUS_CALLBACK = "webhook.status"
    INCOMING_MESSAGE = "webhook.inbound"
    INCOMING_FALLBACK = "webhook.fallback"


EVENT_KINDS = tuple(kind.value for kind in EventKind)  # the job kinds a webhook dispatcher claims


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"  # the receiver answered 2xx (and, for an inbound message, valid LaML)
    RETRYING = "retrying"  # failed; another attempt is scheduled
    FAILED = "failed"  # failed for good (or handed to the fallback URL)
    SKIPPED = "skipped"  # nothing was sent, e.g. a late status that the message had already passed


@lru_cache(maxsize=4096)
def origin_of(url: str) -> str:
    """Where a webhook goes, as the dispatcher shares out its capacity: scheme, host and port. Kept per URL
    (an account's events share a few): the dispatcher asks twice per job, at ~4 us a parse (timeit, 2026-12-07)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url[:255]
    return f"{parts.scheme}://{parts.hostname or ''}:{port or ''}"[:255]


def new_idempotency_token() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    kind: EventKind
    token: str
    account_sid: str
    message_sid: str
    url: str  # as configured, #fragment (connection overrides) included
    method: str
    params: dict[str, str]
    fallback_url: str = ""
    fallback_method: str = "POST"
    message_status: str = ""  # the status a status callback reports
    redelivery_of: str = ""  # the sid of the attempt this event repeats, when the Debugger redelivers one

    @property
    def origin(self) -> str:
        return origin_of(self.url)

    def to_json(self) -> str:
        # Field by field rather than dataclasses.asdict, whose deep copy was a tenth of a status change.
        fields = {name: getattr(self, name) for name in _EVENT_FIELDS}
        fields["kind"] = self.kind.value
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, payload: str) -> WebhookEvent:
        data = json.loads(payload)
        if len(data) != len(_EVENT_FIELDS) or cls is not WebhookEvent:
            data["kind"] = EventKind(data["kind"])
            return cls(**data)
        # What to_json writes (every field): set field by field, as the frozen dataclass's __init__ does, without
        # its keyword call and the Enum's lookup: 2.6 -> 1.3 us beyond json.loads per event (timeit, 2026-12-07,
        # issue 15; the dispatcher parses every claimed job). A missing name raises KeyError, as cls(**data)
        # raised TypeError: either is an unreadable payload.
        event = _new(cls)
        for name in _EVENT_FIELDS:
            _set(event, name, data[name])
        _set(event, "kind", _KINDS[data["kind"]])
        return event

    def for_fallback(self, error_code: int, error_url: str) -> WebhookEvent:
        """The same event, for the SmsFallbackUrl, with Twilio's ErrorCode and ErrorUrl added."""
        params = {**self.params, "ErrorCode": str(error_code), "ErrorUrl": error_url}
        return WebhookEvent(
            EventKind.INCOMING_FALLBACK,
            self.token,
            self.account_sid,
            self.message_sid,
            self.fallback_url,
            self.fallback_method,
            params,
            redelivery_of=self.redelivery_of,
        )


_EVENT_FIELDS = tuple(WebhookEvent.__dataclass_fields__)
_EVENT_LABELS = {
    EventKind.STATUS_CALLBACK: "status callback",
    EventKind.INCOMING_MESSAGE: "incoming message",
    EventKind.INCOMING_FALLBACK: "incoming message, fallback URL",
}
_KINDS = {kind.value: kind for kind in EventKind}
_new = object.__new__
_set = object.__setattr__


class CallbackSubject(Protocol):
    """What a status callback says of its message: a Message, or the few columns a status change returns
    (storage/messages.StatusChanged; not the whole row, whose body is most of it)."""

    @property
    def sid(self) -> str: ...
    @property
    def account_sid(self) -> str: ...
    @property
    def from_number(self) -> str | None: ...
    @property
    def to_number(self) -> str: ...
    @property
    def error_code(self) -> int | None: ...
    @property
    def messaging_service_sid(self) -> str | None: ...
    @property
    def status_callback(self) -> str | None: ...


def status_callback_event(message: CallbackSubject, status: MessageStatus) -> WebhookEvent | None:
    """The callback owed for `message` reaching `status`, or None when it has no StatusCallback."""
    if not message.status_callback:
        return None
    params = {
        "ApiVersion": API_VERSION,
        "AccountSid": message.account_sid,
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "MessageStatus": status.value,
        "SmsStatus": status.value,
        "From": message.from_number or "",
        "To": message.to_number,
    }
    if message.error_code is not None:
        params["ErrorCode"] = str(message.error_code)
    if message.messaging_service_sid:
        params["MessagingServiceSid"] = message.messaging_service_sid
    return WebhookEvent(
        EventKind.STATUS_CALLBACK,
        new_idempotency_token(),
        message.account_sid,
        message.sid,
        message.status_callback,
        "POST",
        params,
        message_status=status.value,
    )


def incoming_message_event(
    message: Message, url: str, method: str, fallback_url: str, fallback_method: str
) -> WebhookEvent:
    """Twilio's inbound-message parameters; geographic fields it cannot know are present and empty, and
    MessagingServiceSid only when the number is in a service's pool (as Twilio sends it)."""
    sender = message.from_number or ""
    params = {
        "ApiVersion": API_VERSION,
        "AccountSid": message.account_sid,
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "SmsMessageSid": message.sid,
        "SmsStatus": MessageStatus.RECEIVED.value,
        "From": sender,
        "To": message.to_number,
        "Body": message.body,
        "NumMedia": str(message.num_media),
        "NumSegments": str(message.num_segments),
        "FromCity": "",
        "FromState": "",
        "FromZip": "",
        "FromCountry": region_of(sender),
        "ToCity": "",
        "ToState": "",
        "ToZip": "",
        "ToCountry": region_of(message.to_number),
    }
    if message.messaging_service_sid:
        params["MessagingServiceSid"] = message.messaging_service_sid
    return WebhookEvent(
        EventKind.INCOMING_MESSAGE,
        new_idempotency_token(),
        message.account_sid,
        message.sid,
        url,
        method,
        params,
        fallback_url=fallback_url,
        fallback_method=fallback_method,
    )


@dataclass(slots=True)
class WebhookAttempt:
    """One request to a customer URL (or one decision not to send), as the API and dashboard list it."""

    sid: str
    account_sid: str
    message_sid: str
    kind: EventKind
    idempotency_token: str
    message_status: str
    request_method: str
    request_url: str  # user:password@ removed
    attempt: int
    outcome: AttemptOutcome
    response_status: int | None
    duration_ms: int | None
    error_code: int | None
    error_message: str | None
    response_excerpt: str | None
    redelivery_of: str | None  # the attempt this one repeats (a Debugger redelivery), under the same token
    created_at: datetime

    @property
    def event(self) -> str:
        """Its event in words, as the dashboard shows it: 'status callback: delivered', 'incoming message'."""
        label = _EVENT_LABELS[self.kind]
        return f"{label}: {self.message_status}" if self.message_status else label

    @classmethod
    def of(
        cls,
        event: WebhookEvent,
        attempt: int,
        outcome: AttemptOutcome,
        *,
        request_url: str = "",
        response_status: int | None = None,
        duration_ms: int | None = None,
        error_code: int | None = None,
        error_message: str | None = None,
        response_excerpt: str | None = None,
    ) -> WebhookAttempt:
        """A new record of `event`'s attempt number `attempt` (0: nothing was sent). Its sid is time-ordered
        (domain/sids.new_ordered_sid): with a random one each insert took a random page of the unique index on
        webhook_attempts.sid. Driver-level, 60-row transactions on SQLite: 11 -> 7 us per attempt and WAL
        3.9 -> 1.5 KB per attempt on an empty log, 18-20 -> 7-11 us and 6.5 -> 1.5 KB beside 200,000 attempts
        (bench/results/webhooks.txt, 2026-12-07, h15-wh3)."""
        return cls(
            sid=new_ordered_sid(Prefix.NOTIFICATION),
            account_sid=event.account_sid,
            message_sid=event.message_sid,
            kind=event.kind,
            idempotency_token=event.token,
            message_status=event.message_status,
            request_method=event.method,
            request_url=request_url,
            attempt=attempt,
            outcome=outcome,
            response_status=response_status,
            duration_ms=duration_ms,
            error_code=error_code,
            error_message=error_message,
            response_excerpt=response_excerpt,
            redelivery_of=event.redelivery_of or None,
            created_at=utcnow(),
        )
