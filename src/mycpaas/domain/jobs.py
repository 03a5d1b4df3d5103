"""A unit of background work as a job runner sees it, and how long a failed one waits; the queue that stores
jobs lives in storage/queue.py, the runner that works them in mycpaas/runner.py."""

from __future__ import annotations

from dataclasses import dataclass

SEND_MESSAGE = "message.send"  # the job kind that hands a message to the carrier


@dataclass(slots=True, frozen=True)
class Job:
    id: int
    kind: str  # a stable dotted name, e.g. "message.send"; never a function path
    ref: str  # what the job acts on, e.g. a message SID
    attempts: int  # claims so far that worked on it, this one included
    claim: int  # the fencing token this claim holds: every later claim of the job holds a larger one
    payload: str | None = None  # what `ref` alone cannot say, e.g. a webhook event as JSON


def backoff_seconds(attempt: int, jitter: float, cap: float) -> float:
    """How long a job waits after its `attempt`-th failed attempt: about 1, 2, 4 ... seconds, capped, spread
    by `jitter` (0 to 1, drawn by the caller) over the upper half so retries of a burst do not stay in step."""
    return min(cap, 2.0 ** min(max(0, attempt - 1), 30)) * (0.5 + jitter / 2)
