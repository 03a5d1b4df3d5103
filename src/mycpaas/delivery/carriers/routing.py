"""Routing across carrier connectors: by destination prefix (domain/carriers.route decides the order), over the
binds that delivery processes share, with the sandbox when no connector is enabled.

A message goes to the first connector of its route that some process holds a bind of: sent here if this
process holds one, handed back to the queue (CarrierElsewhere) if only another process does, so that one
sends it. It fails over to the next connector only when no process holds a working bind of the first.
"""

from __future__ import annotations

from typing import Protocol

from mycpaas.delivery.carriers.base import (
    Carrier,
    CarrierDown,
    CarrierRejected,
    CarrierUnavailable,
    InboundSink,
    ReceiptSink,
    RecordSink,
)
from mycpaas.domain.carriage import Outcome, Submission
from mycpaas.domain.carriers import Connector, route


class CarrierElsewhere(CarrierUnavailable):
    """Only another process holds a bind of the connector this message goes to: give the job back to it."""


class Binds(Protocol):
    """The connectors and the binds of them, in this process and the others (delivery/binds.py)."""

    def connectors(self) -> list[Connector]:
        """The enabled connectors."""
        ...

    def local(self, name: str) -> Carrier | None:
        """This process's bind of the connector, if it holds one."""
        ...

    def elsewhere(self, name: str) -> bool:
        """Whether another process holds a bound bind of the connector (as of its last renewal)."""
        ...

    async def start(self, on_receipt: ReceiptSink, on_inbound: InboundSink) -> None: ...

    async def stop(self) -> None: ...


class RoutingCarrier:
    name = "routing"

    def __init__(self, binds: Binds, sandbox: Carrier) -> None:
        self._binds = binds
        self._sandbox = sandbox

    async def start(self, on_receipt: ReceiptSink, on_inbound: InboundSink) -> None:
        await self._sandbox.start(on_receipt, on_inbound)
        await self._binds.start(on_receipt, on_inbound)

    async def submit(self, submission: Submission, record: RecordSink) -> None:
        connectors = self._binds.connectors()
        if not connectors:
            return await self._sandbox.submit(submission, record)
        candidates = route(connectors, submission.destination)
        if not candidates:
            raise CarrierRejected(Outcome.NO_ROUTE, "no carrier routes this destination")
        for connector in candidates:
            carrier = self._binds.local(connector.name)
            if carrier is not None:
                try:
                    return await carrier.submit(submission, record)
                except CarrierDown:
                    pass
            if self._binds.elsewhere(connector.name):
                raise CarrierElsewhere(f"{connector.name} is bound by another process")
        raise CarrierUnavailable("every carrier for this destination is down")

    async def resume(self, pending: list[tuple[Submission, str]]) -> None:
        """SMSCs keep receipts for a session that went away and deliver them at the next bind; the sandbox
        is told of its own."""
        if not self._binds.connectors():
            await self._sandbox.resume(pending)

    def binds(self) -> dict[str, int]:
        """Binds up in this process, per enabled connector (the sandbox's when there is none)."""
        connectors = self._binds.connectors()
        if not connectors:
            return self._sandbox.binds()
        up: dict[str, int] = {}
        for connector in connectors:
            carrier = self._binds.local(connector.name)
            up[connector.name] = carrier.binds().get(connector.name, 0) if carrier is not None else 0
        return up

    async def stop(self) -> None:
        await self._binds.stop()
        await self._sandbox.stop()
