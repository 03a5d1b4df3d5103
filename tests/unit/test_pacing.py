"""Rate limits by reservation: a connector's messages per second and pauses, a sender's slots in order."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from mycpaas.delivery.pacing import Pacer
from mycpaas.domain.senders import Timeline, kept_payload, kept_slot, take_slot


def test_pacer_spaces_reservations_and_zero_means_no_limit() -> None:
    pacer = Pacer(4)
    assert [pacer.reserve(10.0) for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    assert pacer.reserve(20.0) == 0.0  # an idle pacer starts afresh
    free = Pacer(0)
    assert [free.reserve(1.0) for _ in range(3)] == [0.0, 0.0, 0.0]


def test_a_pause_holds_back_even_an_unlimited_pacer() -> None:
    async def scenario() -> tuple[float, float, float]:
        pacer = Pacer(0)
        before = asyncio.get_running_loop().time()
        pacer.pause(0.5)
        after = asyncio.get_running_loop().time()
        return pacer.reserve(before), after - before, pacer.reserve(after + 1.0)

    # The pause starts when pause() reads the clock, somewhere between `before` and `after`, however busy
    # the machine; once it is over, nothing is held back.
    held, took, later = asyncio.run(scenario())
    assert 0.5 - 1e-6 <= held <= 0.5 + took + 1e-6
    assert later == 0.0


T0 = datetime(2026, 1, 1, 12, 0, 0)
SECOND = timedelta(seconds=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_sender_slots_are_first_come_first_served() -> None:
    line = Timeline()
    kept: dict[str, datetime] = {}

    def admit(sid: str, now: float) -> tuple[bool, float]:
        admitted, when = take_slot(line, SECOND, at(now), kept.pop(sid, None))
        if not admitted:
            kept[sid] = kept_slot(kept_payload(when))  # type: ignore[assignment]  # what the job carries
        return admitted, (when - at(now)).total_seconds()

    assert admit("SM1", 100.0) == (True, 0.0)
    assert admit("SM2", 100.0) == (True, 1.0)  # within patience: waits for its slot
    assert admit("SM3", 100.0) == (False, 2.0)  # postponed to a slot kept for it
    assert admit("SM4", 100.0) == (False, 3.0)
    # A newcomer cannot overtake the backlog; the postponed message gets its own slot back.
    assert admit("SM5", 102.0) == (False, 2.0)
    assert admit("SM3", 102.0) == (True, 0.0)
    # Two postponed messages coming back late together still go a second apart.
    assert admit("SM4", 103.5) == (True, 0.0)
    assert admit("SM5", 103.5) == (True, 1.0)
    # An idle sender starts afresh.
    assert admit("SM6", 200.0) == (True, 0.0)


def test_a_timeline_row_read_by_another_process_continues_it() -> None:
    """What a second process reads from sender_slots carries on where the first left off."""
    first = Timeline()
    take_slot(first, SECOND / 2, at(0), None)
    take_slot(first, SECOND / 2, at(0), None)
    second = Timeline(first.next_at, first.last_at)
    assert take_slot(second, SECOND / 2, at(0.1), None) == (True, at(1.0))


def test_a_payload_that_is_not_a_kept_slot_keeps_none() -> None:
    assert kept_slot(None) is None
    assert kept_slot("slot=not a time") is None
    assert kept_slot('{"event": 1}') is None
    assert kept_slot(kept_payload(at(1.5))) == at(1.5)
