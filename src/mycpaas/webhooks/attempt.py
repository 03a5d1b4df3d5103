"""One turn of a webhook job: the request, and for an inbound message its LaML reply with any <Redirect>ed
documents, turned into a Settlement (the attempt records and the job's fate) and the replies to send.

Both are bounded per inbound message: at most MAX_REDIRECT_DOCUMENTS documents, and at most `max_replies`
<Message>s across them (Twilio's 10; warning 14109 for the rest), so one inbound message cannot fan out into
thousands of outbound ones.

It needs only something that sends a signed request (`Sender`; webhooks/client.py in the platform), so it
can be driven with a scripted sender in tests; scheduling, the breaker and writing outcomes are the
dispatcher's.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Protocol

import mycpaas.metrics as metrics
from mycpaas.domain.clock import utcnow
from mycpaas.domain.connection_policy import ConnectionPolicy, InvalidOverride, split_overrides
from mycpaas.domain.jobs import backoff_seconds
from mycpaas.domain.webhooks import AttemptOutcome, EventKind, WebhookAttempt
from mycpaas.errors import ErrorCode
from mycpaas.services.webhooks import Dispatch, ReplyRequest, Settlement, skipped
from mycpaas.webhooks import laml
from mycpaas.webhooks.client import Delivery, without_credentials

MAX_REDIRECT_DOCUMENTS = 10
MAX_REPLIES = 10  # <Message>s per inbound message, all documents together (MYCPAAS_LAML_MAX_MESSAGES)
EXCERPT_CHARS = 1024
MAX_RETRY_SECONDS = 60.0


class Sender(Protocol):
    async def send(
        self,
        method: str,
        url: str,
        params: dict[str, str],
        auth_token: str,
        idempotency_token: str,
        policy: ConnectionPolicy,
    ) -> Delivery: ...


@dataclass(slots=True)
class Turn:
    settlement: Settlement
    replies: list[ReplyRequest] | None  # an inbound message's LaML replies, to create with the settlement
    first: Delivery | None  # the first request's result, for the origin's breaker (None: none was made)


class Attempter:
    def __init__(
        self,
        sender: Sender,
        status_policy: ConnectionPolicy,
        inbound_policy: ConnectionPolicy,
        max_replies: int = MAX_REPLIES,
    ) -> None:
        self.sender = sender
        self.status_policy = status_policy
        self.inbound_policy = inbound_policy
        self.max_replies = max_replies

    async def attempt(self, dispatch: Dispatch) -> Turn:
        event, number = dispatch.event, dispatch.job.attempts
        settlement = Settlement(dispatch.job)
        default = self.status_policy if event.kind is EventKind.STATUS_CALLBACK else self.inbound_policy
        try:
            url, policy = _overrides(event.url, default)
        except InvalidOverride as exc:
            settlement.attempts.append(
                record(
                    dispatch,
                    number,
                    AttemptOutcome.FAILED,
                    None,
                    ErrorCode.WEBHOOK_INVALID_OVERRIDE,
                    str(exc),
                )
            )
            return Turn(give_up(dispatch, settlement, ErrorCode.WEBHOOK_INVALID_OVERRIDE), None, None)
        result = await self.sender.send(
            event.method, url, event.params, dispatch.auth_token, event.token, policy
        )
        if not result.ok:
            assert result.failure is not None and result.error is not None
            if policy.should_retry(result.failure, number):
                delay = backoff_seconds(number, random.random(), MAX_RETRY_SECONDS)
                settlement.retry_at = utcnow() + timedelta(seconds=delay)
                settlement.error = result.detail or result.error.template
                settlement.attempts.append(from_delivery(dispatch, number, AttemptOutcome.RETRYING, result))
                return Turn(settlement, None, result)
            settlement.attempts.append(from_delivery(dispatch, number, AttemptOutcome.FAILED, result))
            return Turn(give_up(dispatch, settlement, result.error, result.url), None, result)
        if event.kind is EventKind.STATUS_CALLBACK:
            settlement.attempts.append(from_delivery(dispatch, number, AttemptOutcome.DELIVERED, result))
            return Turn(settlement, None, result)
        replies: list[ReplyRequest] = []
        beyond = await self._follow_laml(dispatch, settlement, number, result, policy, replies)
        if beyond:
            over = skipped(
                event,
                f"{beyond} <Message> replies beyond the limit of {self.max_replies} per inbound message "
                "were not sent (MYCPAAS_LAML_MAX_MESSAGES)",
            )
            over.error_code = int(ErrorCode.LAML_REPLY_LIMIT)
            settlement.attempts.append(over)
        return Turn(settlement, replies, result)

    async def _follow_laml(
        self,
        dispatch: Dispatch,
        settlement: Settlement,
        number: int,
        result: Delivery,
        policy: ConnectionPolicy,
        replies: list[ReplyRequest],
    ) -> int:
        """Parse the reply and any <Redirect>ed documents; collect the messages to send into `replies`, up to
        the limit. Returns how many <Message>s were beyond it."""
        beyond = 0
        for documents in range(1, MAX_REDIRECT_DOCUMENTS + 1):
            try:
                if result.too_large:
                    raise laml.LamlError(
                        ErrorCode.WEBHOOK_RESPONSE_TOO_LARGE, "the reply is larger than 64 KB"
                    )
                document = laml.parse(result.content_type, result.body, result.url)
            except laml.LamlError as bad:
                attempt = from_delivery(dispatch, number, AttemptOutcome.FAILED, result)
                attempt.error_code, attempt.error_message = int(bad.code), bad.detail
                settlement.attempts.append(attempt)
                if documents == 1:
                    give_up(dispatch, settlement, bad.code, result.url)
                return beyond  # after a <Redirect>, the SmsUrl itself answered: as for a failed <Redirect>
            attempt = from_delivery(dispatch, number, AttemptOutcome.DELIVERED, result)
            if document.warnings:
                attempt.error_code = int(ErrorCode.LAML_SCHEMA_WARNING)
                attempt.error_message = "; ".join(document.warnings)
            settlement.attempts.append(attempt)
            room = max(0, self.max_replies - len(replies))
            replies += [
                ReplyRequest(r.to, r.from_, r.body, r.media, r.status_callback)
                for r in document.replies[:room]
            ]
            beyond += max(0, len(document.replies) - room)
            if document.redirect is None:
                return beyond
            if documents == MAX_REDIRECT_DOCUMENTS:
                break
            event = dispatch.event
            result = await self.sender.send(
                document.redirect.method,
                document.redirect.url,
                event.params,
                dispatch.auth_token,
                event.token,
                policy,
            )
            if not result.ok:
                settlement.attempts.append(from_delivery(dispatch, number, AttemptOutcome.FAILED, result))
                return beyond  # what was collected before the broken <Redirect> still goes out
        settlement.attempts.append(
            record(
                dispatch,
                number,
                AttemptOutcome.FAILED,
                None,
                ErrorCode.WEBHOOK_TOO_MANY_REDIRECTS,
                f"more than {MAX_REDIRECT_DOCUMENTS} <Redirect> documents",
            )
        )
        return beyond


def counted(attempts: Iterable[WebhookAttempt]) -> None:
    """Count what `record` made (every outcome but skipped, which names no request) in the metrics, at once."""
    metrics.webhook_attempts(
        (a.outcome.value, a.duration_ms) for a in attempts if a.outcome is not AttemptOutcome.SKIPPED
    )


@lru_cache(maxsize=4096)
def _overrides(url: str, default: ConnectionPolicy) -> tuple[str, ConnectionPolicy]:
    """split_overrides, once per URL: one account's events share a few URLs (an invalid one raises each time)."""
    return split_overrides(url, default)


def give_up(dispatch: Dispatch, settlement: Settlement, error: ErrorCode, url: str = "") -> Settlement:
    """The job ends failed; an inbound message with a fallback URL is handed to it as a new event."""
    event = dispatch.event
    if event.kind is EventKind.INCOMING_MESSAGE and event.fallback_url:
        settlement.follow_up = event.for_fallback(int(error), without_credentials(url or event.url))
    return settlement


def from_delivery(
    dispatch: Dispatch, number: int, outcome: AttemptOutcome, result: Delivery
) -> WebhookAttempt:
    attempt = record(dispatch, number, outcome, result, result.error, result.detail)
    attempt.request_method, attempt.request_url = result.method, result.url
    return attempt


def record(
    dispatch: Dispatch,
    number: int,
    outcome: AttemptOutcome,
    result: Delivery | None,
    error: ErrorCode | None,
    detail: str | None,
) -> WebhookAttempt:
    """The attempt log's record of one request (or of a failure before any request). It is counted in the
    metrics (`counted`) by the dispatcher, a batch at a time, before its outcome is written."""
    event = dispatch.event
    excerpt = None
    if result is not None and result.body:
        # Redacted before it is cut, so half a token at the cut cannot survive; NUL is refused by PostgreSQL.
        text = result.body.decode("utf-8", "replace").replace(dispatch.auth_token, "[redacted]")
        excerpt = text[:EXCERPT_CHARS].replace("\x00", "")
    if detail is not None:
        detail = detail.replace("\x00", "")
    return WebhookAttempt.of(
        event,
        number,
        outcome,
        request_url=without_credentials(event.url),
        response_status=result.status if result is not None else None,
        duration_ms=result.duration_ms if result is not None else None,
        error_code=int(error) if error is not None else None,
        error_message=detail if error is not None else None,
        response_excerpt=excerpt,
    )
