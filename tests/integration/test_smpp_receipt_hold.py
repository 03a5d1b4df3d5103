"""A receipt that overtakes the record of its submission waits for that record (the SMPP carrier, against the
simulator, no database): it then finds its part instead of being kept as unmatched and matched again later."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from mycpaas.delivery.carriers import smpp as smpp_carrier
from mycpaas.delivery.carriers.smpp import SmppCarrier
from mycpaas.domain.carriage import InboundSms, Outcome, Receipt, Submission, Submitted
from mycpaas.domain.carriers import Connector
from tests.smsc_support import Smsc


@pytest.fixture
def smsc(tmp_path: Path) -> Iterator[Smsc]:
    simulator = Smsc(tmp_path / "smsc", DLR_DELAY_MS=0)
    try:
        yield simulator
    finally:
        simulator.stop()


async def _until(check: object, what: str, limit: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not check():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def _receipt_waits_for_record(smsc: Smsc, hold_seconds: float, release: bool) -> list[str]:
    carrier = SmppCarrier(Connector("sim", smsc.host, smsc.port, "test", "secret"))
    events: list[str] = []
    receipts: list[Receipt] = []

    async def on_receipt(receipt: Receipt) -> None:
        events.append("receipt")
        receipts.append(receipt)

    async def on_inbound(sms: InboundSms) -> None:
        raise AssertionError("no inbound message expected")

    recorded = asyncio.Event()

    async def record(submitted: Submitted) -> None:
        events.append("answered")
        if release:
            await _until(lambda: smsc.stats()["receipts_sent"] >= 2, "the receipts sent")
            await asyncio.sleep(0.2)  # time enough for a receipt that did not wait to get through
        else:
            await asyncio.Event().wait()  # a record that never ends (the hold runs out)
        events.append("recorded")
        recorded.set()

    smpp_carrier.RECEIPT_HOLD_SECONDS = hold_seconds
    await carrier.start(on_receipt, on_inbound)
    try:
        assert await carrier.link.wait_bound(10)
        # Two parts: the first part's receipt arrives while the second is submitted and the record waits.
        submission = Submission("SM1", "+15005550006", "+447700900123", "x" * 200)
        task = asyncio.create_task(carrier.submit(submission, record))
        await _until(lambda: len(receipts) == 2, "both receipts handed on")
        if release:
            await task
        else:
            task.cancel()
        assert {r.outcome for r in receipts} == {Outcome.DELIVERED}
    finally:
        await carrier.stop()
    return events


def test_a_receipt_for_an_unrecorded_submission_waits_for_its_record(smsc: Smsc) -> None:
    original = smpp_carrier.RECEIPT_HOLD_SECONDS
    try:
        events = asyncio.run(_receipt_waits_for_record(smsc, 10.0, release=True))
    finally:
        smpp_carrier.RECEIPT_HOLD_SECONDS = original
    assert events == ["answered", "recorded", "receipt", "receipt"]


def test_a_receipt_is_handed_on_when_the_record_takes_too_long(smsc: Smsc) -> None:
    original = smpp_carrier.RECEIPT_HOLD_SECONDS
    try:
        events = asyncio.run(_receipt_waits_for_record(smsc, 0.3, release=False))
    finally:
        smpp_carrier.RECEIPT_HOLD_SECONDS = original
    assert events == ["answered", "receipt", "receipt"]
