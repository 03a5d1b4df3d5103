"""Routing across carrier connectors: by destination prefix, with failover to the next connector when a
link is down (domain/carriers.route decides the order)."""

from __future__ import annotations

import asyncio

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


class RoutingCarrier:
    name = "routing"

    def __init__(self, routes: list[tuple[Connector, Carrier]]) -> None:
        self._connectors = [connector for connector, _ in routes]
        self._carriers = {connector.name: carrier for connector, carrier in routes}

    async def start(self, on_receipt: ReceiptSink, on_inbound: InboundSink) -> None:
        for carrier in self._carriers.values():
            await carrier.start(on_receipt, on_inbound)

    async def submit(self, submission: Submission, record: RecordSink) -> None:
        candidates = route(self._connectors, submission.destination)
        if not candidates:
            raise CarrierRejected(Outcome.NO_ROUTE, "no carrier routes this destination")
        for connector in candidates:
            try:
                return await self._carriers[connector.name].submit(submission, record)
            except CarrierDown:
                continue
        raise CarrierUnavailable("every carrier for this destination is down")

    async def resume(self, pending: list[tuple[Submission, str]]) -> None:
        """SMSCs keep receipts for a session that went away and deliver them at the next bind."""

    def binds(self) -> dict[str, int]:
        return {name: n for carrier in self._carriers.values() for name, n in carrier.binds().items()}

    async def stop(self) -> None:
        await asyncio.gather(*(carrier.stop() for carrier in self._carriers.values()))
