"""The webhook dispatcher: claims webhook jobs from the durable queue, sends them, and settles the outcomes.

It runs beside the delivery worker inside `mycpaas serve`, with its own claims and its own concurrency, so a
slow customer endpoint never holds a message send back. Fairness between customers:

- each origin (scheme, host, port) has a bounded number of requests in flight and a bounded line in memory;
  while the line is full, or the origin is paused, claims skip its jobs (`jobs.origin`), which wait in the
  queue instead of occupying slots others could use;
- an origin that keeps failing at the connection level is paused (a circuit breaker) with growing delays;
- events of one message are sent in the order they happened: a later event waits for an earlier one to
  settle (delivered, or failed for good), in this process or, across processes, through the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum

from mycpaas.domain.clock import utcnow
from mycpaas.domain.connection_policy import (
    CONNECT,
    READ,
    ConnectionPolicy,
    InvalidOverride,
    split_overrides,
)
from mycpaas.domain.webhooks import AttemptOutcome, EventKind, WebhookAttempt
from mycpaas.errors import ErrorCode
from mycpaas.services import delivery, webhooks
from mycpaas.services.platform import Platform
from mycpaas.services.webhooks import Dispatch, ReplyRequest, Settlement
from mycpaas.webhooks import laml
from mycpaas.webhooks.client import Delivery, WebhookClient, without_credentials

log = logging.getLogger("mycpaas.webhooks")

IDLE_POLL_SECONDS = 1.0
MAX_REDIRECT_DOCUMENTS = 10
SETTLE_BATCH = 256
EXCERPT_CHARS = 1024
SETTLED_MEMORY = 100_000  # ids of recently finished jobs, for events that were in line behind them
BREAKER_THRESHOLD = 5  # consecutive connection-level failures before an origin is paused
MAX_PAUSE_SECONDS = 60.0
MAX_TURNS = 10  # a job whose turn keeps failing inside the platform is given up after this many claims
MAX_SKIPPED_ORIGINS = 500


class Turn(Enum):
    """How one job's turn ended, as the next event of the same message needs to know."""

    SETTLED = "settled"  # delivered or failed for good: the next event may go
    PENDING = "pending"  # retrying or postponed: the next event must wait for it


@dataclass(slots=True)
class _Origin:
    slots: asyncio.Semaphore
    assigned: int = 0  # tasks holding or awaiting one of the slots
    waiting: deque[Dispatch] = field(default_factory=deque)  # claimed, to start when `assigned` drops
    saturated: bool = False  # the line is full: claims skip this origin until it has drained by half
    failures: int = 0
    paused_until: float = 0.0


@dataclass(slots=True)
class _Pending:
    settlements: list[Settlement] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


def retry_delay(attempt: int) -> float:
    """Exponential backoff with jitter: about 1, 2, 4 ... seconds after the 1st, 2nd, 3rd attempt."""
    return min(MAX_PAUSE_SECONDS, 2.0 ** max(0, attempt - 1)) * random.uniform(0.5, 1.0)


class WebhookDispatcher:
    def __init__(self, platform: Platform, client: WebhookClient) -> None:
        settings = platform.settings
        self.platform = platform
        self.client = client
        self.concurrency = settings.webhook_concurrency
        self.per_origin = settings.webhook_origin_concurrency
        # Per origin: `per_origin` requests in flight and as many again ready (started tasks count against
        # the dispatcher's concurrency), plus a line in memory that costs no slot; so even several slow
        # origins cannot take every slot before their breakers open.
        self.origin_backlog = self.per_origin * 2
        self.origin_line = self.per_origin * 8
        self.batch_size = settings.worker_batch_size
        self.status_policy = ConnectionPolicy(
            connect_timeout=settings.webhook_connect_timeout_seconds,
            read_timeout=settings.webhook_timeout_seconds,
            total_timeout=settings.webhook_timeout_seconds,
            retries=settings.webhook_retries,
        )
        # Twilio retries an inbound-message webhook once, then goes to the fallback URL.
        self.inbound_policy = ConnectionPolicy(
            connect_timeout=settings.webhook_connect_timeout_seconds,
            read_timeout=settings.webhook_timeout_seconds,
            total_timeout=settings.webhook_timeout_seconds,
            retries=1,
        )
        self._wake = asyncio.Event()
        self._origins: dict[str, _Origin] = {}
        self._running: dict[int, asyncio.Task[Turn]] = {}  # job id -> its task
        self._tail: dict[str, asyncio.Task[Turn]] = {}  # message sid -> its latest task
        self._pending = _Pending()
        self._unflushed: set[int] = set()  # jobs finished here whose end is not yet written
        self._settled: OrderedDict[int, None] = OrderedDict()  # jobs finished here and written, the latest
        self._held: set[int] = set()  # jobs in some origin's `waiting`
        self._stopping = False
        self._chores: set[asyncio.Future[None]] = set()
        self._flushing = asyncio.Lock()
        self._background: list[asyncio.Task[None]] = []  # claiming, lease heartbeat, settling

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._background = [
            asyncio.create_task(self._loop()),
            asyncio.create_task(self._heartbeat()),
            asyncio.create_task(self._settler()),
        ]

    async def stop(self) -> None:
        self._stopping = True  # finishing turns start nothing more
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        unsent = sorted(self._held | self._running.keys())
        for turn in list(self._running.values()):
            turn.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        await self._flush()
        unsent = [job_id for job_id in unsent if job_id not in self._unflushed]
        with contextlib.suppress(Exception):
            # Hand unsent jobs back now rather than when their leases run out.
            await webhooks.postpone(self.platform, unsent, utcnow())
        await self.client.close()

    # ---- claiming and scheduling -------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            free = self.concurrency - len(self._running)
            dispatches: list[Dispatch] = []
            if free > 0:
                try:
                    dispatches = await webhooks.claim(
                        self.platform, min(self.batch_size, free), self._origins_to_skip()
                    )
                except Exception:
                    log.exception("claiming webhook jobs failed", extra={"action": "webhook_claim_failed"})
            taken = 0
            try:
                taken = await self._schedule(dispatches)
            except Exception:
                log.exception("scheduling webhook jobs failed", extra={"action": "webhook_schedule_failed"})
            if taken < min(self.batch_size, max(free, 1)):
                # Idle, full, or what was claimed had to wait: claim again when something finishes.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)
            else:
                await asyncio.sleep(0)  # SQLite statements do not yield; let the turns run

    def _origins_to_skip(self) -> list[str]:
        """Origins with no room (a full line) or paused: their jobs stay in the queue, unclaimed. The list is
        capped so the claim's NOT IN stays small; beyond it, jobs are claimed and handed back."""
        now = time.monotonic()
        skip = [key for key, origin in self._origins.items() if origin.saturated or origin.paused_until > now]
        return skip[:MAX_SKIPPED_ORIGINS]

    async def _schedule(self, dispatches: list[Dispatch]) -> int:
        """Start what may start now, hold what waits for a busy origin, and give back to the queue what waits
        for another process or a paused origin. Returns how many were started or held."""
        now = time.monotonic()
        later: dict[float, list[int]] = {}
        taken = 0
        for dispatch in sorted(dispatches, key=lambda d: d.job.id):
            if self._is_local(dispatch.job.id):
                continue  # its lease lapsed while it was still ours: it is being handled here already
            origin = self._origin(dispatch.event.origin)
            ahead = dispatch.before
            if not all(self._is_local(job_id) for job_id in ahead):
                delay = 1.0  # an earlier event of this message is queued or being sent by another process
            elif origin.paused_until > now:
                delay = origin.paused_until - now
            elif (
                any(job_id in self._held for job_id in ahead)
                or origin.waiting
                or origin.assigned >= self.origin_backlog
            ):
                # Behind others for this origin (or behind this message's earlier event): wait in line. Once
                # the line is as long as the started backlog, the origin is skipped by the next claims.
                origin.waiting.append(dispatch)
                self._held.add(dispatch.job.id)
                origin.saturated = len(origin.waiting) >= self.origin_line
                taken += 1
                continue
            else:
                self._spawn(dispatch, origin)
                taken += 1
                continue
            later.setdefault(round(delay + random.uniform(0, min(delay, 5.0)), 1), []).append(dispatch.job.id)
        for delay, job_ids in later.items():
            await webhooks.postpone(self.platform, job_ids, utcnow() + timedelta(seconds=delay))
        return taken

    def _is_local(self, job_id: int) -> bool:
        """Started, in line or finished here: a later event of its message can be ordered behind it here."""
        return job_id in self._running or job_id in self._held or job_id in self._unflushed

    def _origin(self, key: str) -> _Origin:
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _Origin(asyncio.Semaphore(self.per_origin))
        return origin

    def _spawn(self, dispatch: Dispatch, origin: _Origin) -> None:
        previous = self._tail.get(dispatch.job.ref)
        origin.assigned += 1
        task = asyncio.create_task(self._turn(dispatch, origin, previous))
        self._running[dispatch.job.id] = task
        self._tail[dispatch.job.ref] = task
        task.add_done_callback(lambda done: self._finished(dispatch, origin, done))

    def _finished(self, dispatch: Dispatch, origin: _Origin, task: asyncio.Task[Turn]) -> None:
        origin.assigned -= 1
        self._running.pop(dispatch.job.id, None)
        if self._tail.get(dispatch.job.ref) is task:
            del self._tail[dispatch.job.ref]
        if self._stopping:
            return
        give_back: list[int] = []
        while origin.waiting and origin.assigned < self.origin_backlog:
            held = origin.waiting.popleft()
            self._held.discard(held.job.id)
            # An earlier event of its message that ended here without settling (a retry) must go first.
            if all(self._ended_or_running(job_id) for job_id in held.before):
                self._spawn(held, origin)  # a paused origin's turn hands the job back itself
            else:
                give_back.append(held.job.id)
        if give_back:
            self._spawn_background(self._give_back(give_back, 1.0))
        # A saturated origin is claimed for again once half its line has gone; anything else finishing may
        # make room for a claim at once.
        if origin.saturated and len(origin.waiting) <= self.origin_line // 2:
            origin.saturated = False
        if not origin.saturated:
            self._wake.set()
        if not (origin.assigned or origin.waiting or origin.failures or origin.saturated):
            self._origins.pop(dispatch.event.origin, None)  # idle and healthy: forget it

    def _ended_or_running(self, job_id: int) -> bool:
        return job_id in self._running or job_id in self._unflushed or job_id in self._settled

    def _spawn_background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _give_back(self, job_ids: list[int], delay: float) -> None:
        try:
            await webhooks.postpone(self.platform, job_ids, utcnow() + timedelta(seconds=delay))
        except Exception:
            log.exception("handing webhook jobs back failed", extra={"action": "webhook_postpone_failed"})

    async def _heartbeat(self) -> None:
        lease = self.platform.settings.worker_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            try:
                await delivery.extend_leases(
                    self.platform, sorted({*self._running, *self._held, *self._unflushed})
                )
            except Exception:
                log.exception("extending webhook leases failed", extra={"action": "lease_heartbeat_failed"})

    # ---- one job's turn --------------------------------------------------------------------------------

    async def _turn(self, dispatch: Dispatch, origin: _Origin, previous: asyncio.Task[Turn] | None) -> Turn:
        if previous is not None:
            await asyncio.wait([previous])  # never raises for the other task's failure or cancellation
            ahead = Turn.PENDING if previous.cancelled() or previous.exception() else previous.result()
            if ahead is Turn.PENDING:
                await webhooks.postpone(self.platform, [dispatch.job.id], utcnow() + timedelta(seconds=1.0))
                return Turn.PENDING
        async with origin.slots:
            if origin.paused_until > time.monotonic():
                # The origin's breaker opened while this job waited for a slot: hand it back untried.
                pause = origin.paused_until - time.monotonic()
                await webhooks.postpone(
                    self.platform,
                    [dispatch.job.id],
                    utcnow() + timedelta(seconds=pause + random.uniform(0, pause)),
                )
                return Turn.PENDING
            try:
                settlement, replies = await self._attempt(dispatch, origin)
            except Exception:
                log.exception(
                    "webhook job %s failed", dispatch.job.id, extra={"action": "webhook_job_failed"}
                )
                if dispatch.job.attempts < MAX_TURNS:
                    return Turn.PENDING  # the lease runs out and the job is claimed again
                settlement, replies = self._broken(dispatch), None
        if replies is not None:
            try:
                await webhooks.settle_with_replies(self.platform, settlement, dispatch.event, replies)
            except Exception:
                # Nothing was committed: the lease runs out and the inbound webhook is sent again.
                log.exception("recording a LaML reply failed", extra={"action": "webhook_reply_failed"})
                return Turn.PENDING
        else:
            self._pending.settlements.append(settlement)
            if settlement.retry_at is None:
                self._unflushed.add(settlement.job_id)  # settled: a later event may go before this is written
            self._pending.wake.set()
        return Turn.PENDING if settlement.retry_at is not None else Turn.SETTLED

    async def _attempt(
        self, dispatch: Dispatch, origin: _Origin
    ) -> tuple[Settlement, list[ReplyRequest] | None]:
        event, number = dispatch.event, dispatch.job.attempts
        settlement = Settlement(dispatch.job.id, dispatch.job.attempts)
        default = self.status_policy if event.kind is EventKind.STATUS_CALLBACK else self.inbound_policy
        try:
            url, policy = split_overrides(event.url, default)
        except InvalidOverride as exc:
            settlement.attempts.append(
                _record(
                    dispatch,
                    number,
                    AttemptOutcome.FAILED,
                    None,
                    ErrorCode.WEBHOOK_INVALID_OVERRIDE,
                    str(exc),
                )
            )
            return self._give_up(dispatch, settlement, ErrorCode.WEBHOOK_INVALID_OVERRIDE), None
        result = await self.client.send(
            event.method, url, event.params, dispatch.auth_token, event.token, policy
        )
        self._observe(origin, result)
        if not result.ok:
            assert result.failure is not None and result.error is not None
            if policy.should_retry(result.failure, number):
                settlement.retry_at = utcnow() + timedelta(seconds=retry_delay(number))
                settlement.error = result.detail or result.error.template
                settlement.attempts.append(_from_delivery(dispatch, number, AttemptOutcome.RETRYING, result))
                return settlement, None
            settlement.attempts.append(_from_delivery(dispatch, number, AttemptOutcome.FAILED, result))
            return self._give_up(dispatch, settlement, result.error, result.url), None
        if event.kind is EventKind.STATUS_CALLBACK:
            settlement.attempts.append(_from_delivery(dispatch, number, AttemptOutcome.DELIVERED, result))
            return settlement, None
        return await self._follow_laml(dispatch, settlement, number, result, policy)

    async def _follow_laml(
        self,
        dispatch: Dispatch,
        settlement: Settlement,
        number: int,
        result: Delivery,
        policy: ConnectionPolicy,
    ) -> tuple[Settlement, list[ReplyRequest] | None]:
        """Parse the reply and any <Redirect>ed documents; collect the messages to send."""
        replies: list[ReplyRequest] = []
        for documents in range(1, MAX_REDIRECT_DOCUMENTS + 1):
            try:
                if result.too_large:
                    raise laml.LamlError(
                        ErrorCode.WEBHOOK_RESPONSE_TOO_LARGE, "the reply is larger than 64 KB"
                    )
                document = laml.parse(result.content_type, result.body, result.url)
            except laml.LamlError as bad:
                record = _from_delivery(dispatch, number, AttemptOutcome.FAILED, result)
                record.error_code, record.error_message = int(bad.code), bad.detail
                settlement.attempts.append(record)
                if documents > 1:
                    return settlement, replies  # the SmsUrl itself answered; as for a failed <Redirect>
                return self._give_up(dispatch, settlement, bad.code, result.url), replies
            record = _from_delivery(dispatch, number, AttemptOutcome.DELIVERED, result)
            if document.warnings:
                record.error_code = int(ErrorCode.LAML_SCHEMA_WARNING)
                record.error_message = "; ".join(document.warnings)
            settlement.attempts.append(record)
            replies += [
                ReplyRequest(r.to, r.from_, r.body, r.media, r.status_callback) for r in document.replies
            ]
            if document.redirect is None:
                return settlement, replies
            if documents == MAX_REDIRECT_DOCUMENTS:
                break
            event = dispatch.event
            result = await self.client.send(
                document.redirect.method,
                document.redirect.url,
                event.params,
                dispatch.auth_token,
                event.token,
                policy,
            )
            if not result.ok:
                assert result.error is not None
                settlement.attempts.append(_from_delivery(dispatch, number, AttemptOutcome.FAILED, result))
                return settlement, replies  # what was collected before the broken <Redirect> still goes out
        settlement.attempts.append(
            _record(
                dispatch,
                number,
                AttemptOutcome.FAILED,
                None,
                ErrorCode.WEBHOOK_TOO_MANY_REDIRECTS,
                f"more than {MAX_REDIRECT_DOCUMENTS} <Redirect> documents",
            )
        )
        return settlement, replies

    def _broken(self, dispatch: Dispatch) -> Settlement:
        """A job the platform itself keeps failing on: record it and stop, rather than retry forever."""
        settlement = Settlement(dispatch.job.id, dispatch.job.attempts)
        settlement.attempts.append(
            _record(
                dispatch,
                dispatch.job.attempts,
                AttemptOutcome.FAILED,
                None,
                ErrorCode.WEBHOOK_HTTP_FAILURE,
                f"internal error on {MAX_TURNS} turns; given up (see the server log)",
            )
        )
        return settlement

    def _give_up(
        self, dispatch: Dispatch, settlement: Settlement, error: ErrorCode, url: str = ""
    ) -> Settlement:
        event = dispatch.event
        if event.kind is EventKind.INCOMING_MESSAGE and event.fallback_url:
            settlement.follow_up = event.for_fallback(int(error), without_credentials(url or event.url))
        return settlement

    def _observe(self, origin: _Origin, result: Delivery) -> None:
        if result.ok or result.failure not in (CONNECT, READ):
            origin.failures, origin.paused_until = 0, 0.0
            return
        origin.failures += 1
        if origin.failures >= BREAKER_THRESHOLD:
            pause = min(MAX_PAUSE_SECONDS, 2.0 ** (origin.failures - BREAKER_THRESHOLD))
            origin.paused_until = time.monotonic() + pause

    # ---- settling in batches ----------------------------------------------------------------------------

    async def _settler(self) -> None:
        while True:
            await self._pending.wake.wait()
            self._pending.wake.clear()
            await asyncio.sleep(0.005)  # let a burst of outcomes gather into one transaction
            await asyncio.shield(self._flush())  # a stop() waits for a flush in progress instead of losing it

    async def _flush(self) -> None:
        async with self._flushing:
            while self._pending.settlements:
                batch = self._pending.settlements[:SETTLE_BATCH]
                del self._pending.settlements[:SETTLE_BATCH]
                try:
                    await webhooks.settle(self.platform, batch)
                except Exception:
                    # One bad outcome must not lose its neighbours': write them one by one.
                    for settlement in batch:
                        try:
                            await webhooks.settle(self.platform, [settlement])
                        except Exception:
                            # Its lease runs out and the job is sent again, under the same token.
                            log.exception(
                                "recording a webhook outcome failed",
                                extra={"action": "webhook_settle_failed"},
                            )
                for settlement in batch:
                    self._unflushed.discard(settlement.job_id)
                    if settlement.retry_at is None:
                        self._settled[settlement.job_id] = None
                while len(self._settled) > SETTLED_MEMORY:
                    self._settled.popitem(last=False)
                if any(s.retry_at is not None or s.follow_up is not None for s in batch):
                    self.wake()


def _from_delivery(
    dispatch: Dispatch, number: int, outcome: AttemptOutcome, result: Delivery
) -> WebhookAttempt:
    record = _record(dispatch, number, outcome, result, result.error, result.detail)
    record.request_method, record.request_url = result.method, result.url
    return record


def _record(
    dispatch: Dispatch,
    number: int,
    outcome: AttemptOutcome,
    result: Delivery | None,
    error: ErrorCode | None,
    detail: str | None,
) -> WebhookAttempt:
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
