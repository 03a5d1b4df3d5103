"""Rate limits by reservation: a connector's messages per second and pauses, a sender's slots in order."""

from __future__ import annotations

import asyncio

from mycpaas.delivery.pacing import Pacer, SenderPacing


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


def test_sender_slots_are_first_come_first_served() -> None:
    pacing = SenderPacing(lambda sender: 1.0 if sender.startswith("+") else 0.0, patience=1.0)
    assert pacing.admit("SM1", "+1555", 100.0) == (True, 0.0)
    assert pacing.admit("SM2", "+1555", 100.0) == (True, 1.0)  # within patience: waits for its slot
    assert pacing.admit("SM3", "+1555", 100.0) == (False, 2.0)  # postponed to a slot kept for it
    assert pacing.admit("SM4", "+1555", 100.0) == (False, 3.0)
    # A newcomer cannot overtake the backlog; the postponed message gets its own slot back.
    assert pacing.admit("SM5", "+1555", 102.0) == (False, 2.0)
    assert pacing.admit("SM3", "+1555", 102.0) == (True, 0.0)
    # Two postponed messages coming back late together still go a second apart.
    assert pacing.admit("SM4", "+1555", 103.5) == (True, 0.0)
    assert pacing.admit("SM5", "+1555", 103.5) == (True, 1.0)
    assert pacing.admit("SM9", "ACME", 100.0) == (True, 0.0)  # no limit for this kind
