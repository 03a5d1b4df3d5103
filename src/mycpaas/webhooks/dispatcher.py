"""The webhook dispatcher: the job handler that sends webhook events, fairly, in each message's order.

Claiming, leases, retries and the stop are the job runner's (mycpaas/runner.py); one attempt is
webhooks/attempt.py. What is the dispatcher's own:

- each origin (scheme, host, port) has a bounded number of requests in flight and a bounded line in memory;
  while the line is full, or the origin is paused, claims skip its jobs (`jobs.origin`), which wait in the
  queue instead of occupying slots others could use;
- an origin that keeps failing at the connection level is paused (a circuit breaker) with growing delays;
- events of one message are sent in the order they happened: a later event waits for an earlier one to
  settle (delivered, or failed for good), in this process or, across processes, through the queue.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from mycpaas.batching import Batcher
from mycpaas.domain.connection_policy import CONNECT, READ, ConnectionPolicy
from mycpaas.domain.jobs import Job
from mycpaas.domain.webhooks import EVENT_KINDS, AttemptOutcome
from mycpaas.errors import ErrorCode
from mycpaas.runner import JobRunner
from mycpaas.services import webhooks
from mycpaas.services.platform import Platform
from mycpaas.services.webhooks import Dispatch, Settlement
from mycpaas.webhooks.attempt import MAX_RETRY_SECONDS, Attempter, counted, record
from mycpaas.webhooks.client import Delivery, WebhookClient

log = logging.getLogger("mycpaas.webhooks")

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
    assigned: int = 0  # turns holding or awaiting one of the slots
    waiting: deque[Dispatch] = field(default_factory=deque)  # claimed, to start when `assigned` drops
    saturated: bool = False  # the line is full: claims skip this origin until it has drained by half
    failures: int = 0
    paused_until: float = 0.0

    def observe(self, result: Delivery) -> None:
        """The breaker: connection-level failures in a row pause the origin, for longer each time."""
        if result.ok or result.failure not in (CONNECT, READ):
            self.failures, self.paused_until = 0, 0.0
            return
        self.failures += 1
        if self.failures >= BREAKER_THRESHOLD:
            pause = min(MAX_PAUSE_SECONDS, 2.0 ** (self.failures - BREAKER_THRESHOLD))
            self.paused_until = time.monotonic() + pause


class WebhookDispatcher:
    kinds: tuple[str, ...] = EVENT_KINDS

    def __init__(self, platform: Platform, client: WebhookClient) -> None:
        settings = platform.settings
        self.platform = platform
        self.client = client
        self.per_origin = settings.webhook_origin_concurrency
        # Per origin: `per_origin` requests in flight and as many again ready (started turns count against
        # the runner's capacity), plus a line in memory that costs no slot; so even several slow origins
        # cannot take every slot before their breakers open.
        self.origin_backlog = self.per_origin * 2
        self.origin_line = self.per_origin * 8
        self.attempter = Attempter(
            client,
            status_policy=ConnectionPolicy(
                connect_timeout=settings.webhook_connect_timeout_seconds,
                read_timeout=settings.webhook_timeout_seconds,
                total_timeout=settings.webhook_timeout_seconds,
                retries=settings.webhook_retries,
            ),
            # Twilio retries an inbound-message webhook once, then goes to the fallback URL.
            inbound_policy=ConnectionPolicy(
                connect_timeout=settings.webhook_connect_timeout_seconds,
                read_timeout=settings.webhook_timeout_seconds,
                total_timeout=settings.webhook_timeout_seconds,
                retries=1,
            ),
            max_replies=settings.laml_max_messages,
        )
        self.runner = JobRunner(
            platform,
            self,
            platform.webhooks_ready,
            capacity=settings.webhook_concurrency,
            batch_size=settings.worker_batch_size,
            grace_seconds=0.0,  # a request cut off at stop is sent again later, under the same token
            backoff_cap_seconds=MAX_RETRY_SECONDS,
        )
        # Outcomes of turns ending together are written together; the 5 ms linger is the old dispatcher's
        # (bench/webhooks.py: a burst's outcomes then share a commit even on SQLite).
        self._outcomes: Batcher[Settlement, None] = Batcher(self._settle, linger=0.005)
        self._origins: dict[str, _Origin] = {}
        self._running: set[int] = set()  # jobs whose turn has started here and not ended
        self._tail: dict[str, asyncio.Future[Turn]] = {}  # message sid -> how its latest turn ends
        self._writing: set[int] = set()  # jobs settled here whose outcome is being written
        self._settled: OrderedDict[int, None] = OrderedDict()  # jobs finished here and written, the latest
        self._held: set[int] = set()  # jobs in some origin's `waiting`
        self._stopping = False
        self._chores: set[asyncio.Future[None]] = set()

    async def start(self) -> None:
        await self.runner.start()

    async def stop(self) -> None:
        self._stopping = True  # ending turns start nothing more
        await self.runner.stop()  # cancels the turns, closes this handler, hands back what is held

    # ---- the job handler ----------------------------------------------------------------------------

    async def take(self, jobs: list[Job]) -> None:
        dispatches, waiting = await webhooks.prepare(self.platform, jobs)
        kept = {d.job.id for d in dispatches} | {job.id for job in waiting}
        self.runner.release(*(job for job in jobs if job.id not in kept))  # finished as unsendable
        if waiting:
            await self.runner.hand_back(waiting, self.platform.settings.worker_lease_seconds)
        self._schedule(dispatches)

    def skip_origins(self) -> Sequence[str]:
        """Origins with no room (a full line) or paused: their jobs stay in the queue, unclaimed. The list is
        capped so the claim's NOT IN stays small; beyond it, jobs are claimed and handed back."""
        now = time.monotonic()
        skip = [key for key, origin in self._origins.items() if origin.saturated or origin.paused_until > now]
        return skip[:MAX_SKIPPED_ORIGINS]

    async def close(self) -> None:
        await asyncio.gather(*self._chores, return_exceptions=True)  # hand-backs under way
        await self._outcomes.close()
        await self.client.close()

    # ---- scheduling ---------------------------------------------------------------------------------

    def _schedule(self, dispatches: list[Dispatch]) -> None:
        """Start what may start now, hold what waits for a busy origin, and give back to the queue what waits
        for another process or a paused origin."""
        now = time.monotonic()
        later: dict[float, list[Job]] = {}
        for dispatch in sorted(dispatches, key=lambda d: d.job.id):
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
                continue
            else:
                self._spawn(dispatch, origin)
                continue
            later.setdefault(round(delay + random.uniform(0, min(delay, 5.0)), 1), []).append(dispatch.job)
        for delay, jobs in later.items():
            self._spawn_background(self._give_back(jobs, delay))

    def _is_local(self, job_id: int) -> bool:
        """Started, in line or finished here: a later event of its message can be ordered behind it here."""
        return job_id in self._held or self._ended_or_running(job_id)

    def _ended_or_running(self, job_id: int) -> bool:
        return job_id in self._running or job_id in self._writing or job_id in self._settled

    def _origin(self, key: str) -> _Origin:
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = _Origin(asyncio.Semaphore(self.per_origin))
        return origin

    def _spawn(self, dispatch: Dispatch, origin: _Origin) -> None:
        if not self.runner.holds(dispatch.job):
            return  # its lease lapsed while it waited in line and it was claimed elsewhere: not ours to send
        previous = self._tail.get(dispatch.job.ref)
        ends: asyncio.Future[Turn] = asyncio.get_running_loop().create_future()
        origin.assigned += 1
        self._running.add(dispatch.job.id)
        self._tail[dispatch.job.ref] = ends
        self.runner.run(dispatch.job, self._turn(dispatch, origin, previous, ends))

    def _finished(self, dispatch: Dispatch, origin: _Origin, ends: asyncio.Future[Turn]) -> None:
        origin.assigned -= 1
        self._running.discard(dispatch.job.id)
        if self._tail.get(dispatch.job.ref) is ends:
            del self._tail[dispatch.job.ref]
        if self._stopping:
            return
        give_back: list[Job] = []
        while origin.waiting and origin.assigned < self.origin_backlog:
            held = origin.waiting.popleft()
            self._held.discard(held.job.id)
            # An earlier event of its message that ended here without settling (a retry) must go first.
            if all(self._ended_or_running(job_id) for job_id in held.before):
                self._spawn(held, origin)  # a paused origin's turn hands the job back itself
            else:
                give_back.append(held.job)
        if give_back:
            self._spawn_background(self._give_back(give_back, 1.0))
        # A saturated origin is claimed for again once half its line has gone; anything else finishing may
        # make room for a claim at once.
        if origin.saturated and len(origin.waiting) <= self.origin_line // 2:
            origin.saturated = False
        if not origin.saturated:
            self.runner.wake()
        if not (origin.assigned or origin.waiting or origin.failures or origin.saturated):
            self._origins.pop(dispatch.event.origin, None)  # idle and healthy: forget it

    def _spawn_background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    async def _give_back(self, jobs: list[Job], delay: float) -> None:
        try:
            await self.runner.hand_back(jobs, delay)
        except Exception:
            log.exception("handing webhook jobs back failed", extra={"action": "webhook_postpone_failed"})

    # ---- one job's turn --------------------------------------------------------------------------------

    async def _turn(
        self,
        dispatch: Dispatch,
        origin: _Origin,
        previous: asyncio.Future[Turn] | None,
        ends: asyncio.Future[Turn],
    ) -> None:
        """One job's turn. The origin's place and the message's order are freed as soon as the request is
        done; the turn (and so the runner's hold on the job) lasts until its outcome is written."""
        outcome, settlement = Turn.PENDING, None
        try:
            outcome, settlement = await self._take_turn(dispatch, origin, previous)
        finally:
            if outcome is Turn.SETTLED:
                self._writing.add(dispatch.job.id)  # a later event of its message may go now
            if not ends.done():
                ends.set_result(outcome)
            self._finished(dispatch, origin, ends)
        if settlement is None:
            return
        try:
            await self._outcomes.add(settlement)
        finally:
            self._writing.discard(dispatch.job.id)
        if settlement.retry_at is None:
            self._settled[settlement.job_id] = None
            while len(self._settled) > SETTLED_MEMORY:
                self._settled.popitem(last=False)

    async def _take_turn(
        self, dispatch: Dispatch, origin: _Origin, previous: asyncio.Future[Turn] | None
    ) -> tuple[Turn, Settlement | None]:
        """Returns how the turn ends for the message's next event, and the outcome still to write (None when
        it is written already, or when the job was handed back)."""
        if previous is not None:
            # Settled already, most often (a backlog's earlier event went first): no shield to build then.
            ahead = previous.result() if previous.done() else await asyncio.shield(previous)
            if ahead is Turn.PENDING:
                await self.runner.hand_back([dispatch.job], 1.0)
                return Turn.PENDING, None
        async with origin.slots:
            if origin.paused_until > time.monotonic():
                # The origin's breaker opened while this job waited for a slot: hand it back untried.
                pause = origin.paused_until - time.monotonic()
                await self.runner.hand_back([dispatch.job], pause + random.uniform(0, pause))
                return Turn.PENDING, None
            try:
                turn = await self.attempter.attempt(dispatch)
            except Exception:
                if dispatch.job.attempts < MAX_TURNS:
                    raise  # the runner retries the job after a backoff
                log.exception(
                    "webhook job %s failed", dispatch.job.id, extra={"action": "webhook_job_failed"}
                )
                settlement, replies = self._broken(dispatch), None
            else:
                settlement, replies = turn.settlement, turn.replies
                if turn.first is not None:
                    origin.observe(turn.first)
        ends = Turn.PENDING if settlement.retry_at is not None else Turn.SETTLED
        if replies is None:
            return ends, settlement
        counted(settlement.attempts)
        # Nothing is committed if this fails: the runner retries the inbound webhook after a backoff.
        await webhooks.settle_with_replies(self.platform, settlement, dispatch.event, replies)
        self._settled[settlement.job_id] = None
        return ends, None

    def _broken(self, dispatch: Dispatch) -> Settlement:
        """A job the platform itself keeps failing on: record it and stop, rather than retry forever."""
        settlement = Settlement(dispatch.job)
        settlement.attempts.append(
            record(
                dispatch,
                dispatch.job.attempts,
                AttemptOutcome.FAILED,
                None,
                ErrorCode.WEBHOOK_HTTP_FAILURE,
                f"internal error on {MAX_TURNS} turns; given up (see the server log)",
            )
        )
        return settlement

    async def _settle(self, batch: list[Settlement]) -> list[None]:
        """Outcomes of concurrent turns, written in one transaction (the platform's one Batcher); their
        attempts are counted in the metrics first, a batch at a time."""
        counted(a for s in batch if not s.counted for a in s.attempts)
        for settlement in batch:
            settlement.counted = True
        await webhooks.settle(self.platform, batch)
        if any(s.retry_at is not None or s.follow_up is not None for s in batch):
            self.runner.wake()
        return [None] * len(batch)
