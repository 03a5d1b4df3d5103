"""A unit of background work as the worker sees it; the queue that stores jobs lives in storage/queue.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Job:
    id: int
    kind: str  # a stable dotted name, e.g. "message.send"; never a function path
    ref: str  # what the job acts on, e.g. a message SID
    attempts: int  # claims so far, this one included
    payload: str | None = None  # what `ref` alone cannot say, e.g. a webhook event as JSON
