"""This process's SMPP binds: at most one per enabled connector, each held under a lease row shared by every
delivery process (services/binds.py), and following connector changes made anywhere.

Per connector a task takes a free slot (the connector allows `max_binds`), opens the SMPP session only once
it holds it, and renews the lease every `bind_lease_seconds / 5`. If it cannot renew, it unbinds when its
lease has two renewal intervals left (on this process's monotonic clock, counted from before the last
successful renewal), so by the time another process may take the slot over, the session here is closed: never
more sessions are open than the connector allows. A process killed frees nothing; its slot is taken over
once its lease lapses, and waiting processes retry right when it does.

Every renewal also reads which process holds which bind of every connector: routing sends a message here
only for connectors bound here, hands it to the queue for another process to send when only that process
holds one (delivery/carriers/routing.py), and a connector's `max_mps` is split across the binds held.

`reconcile` (called when the CARRIERS change signal moves) applies added, removed, disabled and changed
connectors: a removed one is drained (its submissions in progress finish and are recorded) and unbound and
its slot released; a changed one is drained, unbound and bound again with the new settings under the same
lease (or a new one, if its slot no longer exists).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass

from mycpaas.delivery.carriers.base import Carrier, InboundSink, ReceiptSink
from mycpaas.delivery.carriers.smpp import SmppCarrier
from mycpaas.domain.carriers import Connector
from mycpaas.services import binds, carriers
from mycpaas.services.binds import Held, Lease
from mycpaas.services.platform import Platform

log = logging.getLogger("mycpaas.binds")


def _settings(connector: Connector) -> Connector:
    """What a bind is made of: every field but the timestamps."""
    return dataclasses.replace(connector, created_at=None, updated_at=None)


@dataclass
class _Bind:
    """One connector's bind in this process; `carrier` is opened (session started) only under a lease."""

    connector: Connector
    carrier: SmppCarrier
    lease: Lease | None = None
    opened: bool = False
    expires: float = 0.0  # this process's monotonic time at which its lease may have lapsed
    reported: int = 0  # link errors already written to the lease row
    task: asyncio.Task[None] | None = None


class Binds:
    def __init__(
        self,
        platform: Platform,
        make_carrier: Callable[[Connector], SmppCarrier],
        on_change: Callable[[], None],
    ) -> None:
        self.platform = platform
        self.make_carrier = make_carrier
        self.on_change = on_change  # bound or unbound here: the job runner may claim (or not) again
        self.holder = binds.holder_id()
        self.lease_seconds = platform.settings.bind_lease_seconds
        self.interval = self.lease_seconds / 5
        self._binds: dict[str, _Bind] = {}
        self._unusable: list[Connector] = []  # enabled, but their password does not unseal: never bound
        self._stopped = False
        self._following: asyncio.Task[None] | None = None
        self._again = False
        self._live: list[Held] = []
        self._sinks: tuple[ReceiptSink, InboundSink] | None = None
        self._lock = asyncio.Lock()
        self._refresher: asyncio.Task[None] | None = None

    # ---- what routing and the worker ask ----------------------------------------------------------------

    def connectors(self) -> list[Connector]:
        return [b.connector for b in self._binds.values()] + self._unusable

    def local(self, name: str) -> Carrier | None:
        b = self._binds.get(name)
        return b.carrier if b is not None and b.lease is not None else None

    def elsewhere(self, name: str) -> bool:
        return any(h.carrier == name and h.holder != self.holder and h.bound for h in self._live)

    def holding(self) -> bool:
        """Whether this process may take send jobs: it holds a bind, or there is no connector (sandbox)."""
        return not self.connectors() or any(b.lease is not None for b in self._binds.values())

    # ---- lifecycle ----------------------------------------------------------------------------------------

    async def start(self, on_receipt: ReceiptSink, on_inbound: InboundSink) -> None:
        self._sinks = (on_receipt, on_inbound)
        await binds.forget_dead_holders(self.platform)
        await self.reconcile()
        self._refresher = asyncio.create_task(self._refresh())

    async def stop(self) -> None:
        """Unbind everything and release the slots (the job runner has let submissions finish already)."""
        self._stopped = True
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self._following is not None:
            await (
                self._following
            )  # a change being applied finishes (not cut off mid-unbind); no new one starts
        async with self._lock:
            closing, self._binds = list(self._binds.values()), {}
            await asyncio.gather(*(self._close(b, drain=0.0) for b in closing))

    async def changed(self) -> None:
        """The CARRIERS change signal moved: reconcile in the background, so that draining a connector does
        not hold up the change watcher (other topics); changes seen meanwhile are applied right after."""
        if self._following is None or self._following.done():
            self._following = asyncio.create_task(self._follow())
        else:
            self._again = True

    async def _follow(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                await self.reconcile()
            except Exception:
                log.exception(
                    "following a connector change failed", extra={"action": "bind_reconcile_failed"}
                )

    async def reconcile(self) -> None:
        """Bring this process's binds in line with the enabled connectors in the database."""
        async with self._lock:
            if self._stopped or self._sinks is None:
                return  # stopped, or not started yet (start reconciles)
            usable, self._unusable = await self._enabled()
            wanted = {c.name: c for c in usable}
            for name, b in list(self._binds.items()):
                new = wanted.get(name)
                if new is None:
                    del self._binds[name]
                    log.info(
                        "connector %s removed or disabled: unbinding", name, extra={"action": "bind_drop"}
                    )
                    await self._close(b, drain=self.interval)
                elif _settings(new) != _settings(b.connector):
                    log.info("connector %s changed: binding again", name, extra={"action": "bind_change"})
                    await self._rebind(b, new)
            for name, connector in wanted.items():
                if name not in self._binds:
                    b = self._binds[name] = _Bind(connector, self._carrier(connector))
                    b.task = asyncio.create_task(self._keep(b))
            if wanted:
                log.info(
                    "delivering through %d SMPP connector(s): %s",
                    len(wanted),
                    ", ".join(wanted),
                    extra={"action": "carriers_loaded"},
                )
        self.on_change()

    async def _enabled(self) -> tuple[list[Connector], list[Connector]]:
        """The enabled connectors with their passwords, and those whose password does not unseal (they still
        route, so their messages are not sent through the sandbox or another connector by mistake)."""
        # Only enabled connectors are unsealed: a disabled one whose password no longer unseals stays harmless.
        usable, unusable = [], []
        for listed in await carriers.list_connectors(self.platform, with_passwords=False):
            if not listed.enabled:
                continue
            try:
                connector = await carriers.get(self.platform, listed.name)
            except carriers.CarrierPasswordUnreadable as exc:
                log.error("%s", exc, extra={"action": "carrier_password_unreadable"})
                unusable.append(listed)
                continue
            if connector is not None:
                usable.append(connector)
        return usable, unusable

    def _carrier(self, connector: Connector) -> SmppCarrier:
        carrier = self.make_carrier(connector)
        # Until the first renewal tells how many binds are held, assume all of them are.
        carrier.pace(connector.max_mps / connector.max_binds)
        return carrier

    async def _stop_task(self, b: _Bind) -> None:
        if b.task is not None:
            b.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await b.task
            b.task = None

    async def _close(self, b: _Bind, drain: float) -> None:
        await self._stop_task(b)
        if b.opened:
            await b.carrier.stop(drain)
            b.opened = False
        if b.lease is not None:
            lease, b.lease = b.lease, None
            try:
                await asyncio.wait_for(binds.release(self.platform, lease), self.lease_seconds / 2)
            except Exception:  # its lease lapses by itself
                log.warning("releasing bind %s/%d failed", lease.carrier, lease.slot, exc_info=True)

    async def _rebind(self, b: _Bind, new: Connector) -> None:
        """Drain and unbind the old session, then bind with the new settings. New submissions go to the new
        carrier meanwhile (it waits for its session), so nothing fails over during a planned change."""
        await self._stop_task(b)
        old, b.carrier, b.connector = b.carrier, self._carrier(new), new
        if b.opened:
            b.opened = False
            await old.stop(self.interval)
        if b.lease is not None and b.lease.slot >= new.max_binds:
            await self._close(b, drain=0.0)  # fewer binds allowed now: this slot is gone
        b.task = asyncio.create_task(self._keep(b))

    # ---- one connector's lease ---------------------------------------------------------------------------

    async def _keep(self, b: _Bind) -> None:
        while True:
            try:
                if b.lease is None:
                    wait = await self._acquire(b)
                    if b.lease is None:
                        await asyncio.sleep(wait)
                        continue
                elif not await self._renew(b):
                    continue
                if not b.opened:
                    await self._open(b)
                    continue  # renew at once: reports the bind's state
                await asyncio.sleep(self._until_next(b))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "keeping the bind of %s failed", b.connector.name, extra={"action": "bind_failed"}
                )
                await asyncio.sleep(self.interval)

    def _unbind_at(self, b: _Bind) -> float:
        return b.expires - 2 * self.interval

    def _until_next(self, b: _Bind) -> float:
        return min(self.interval, max(0.0, self._unbind_at(b) - asyncio.get_running_loop().time()))

    async def _acquire(self, b: _Bind) -> float:
        """Try to take a slot; the seconds to wait before trying again when none was free."""
        c = b.connector
        started = asyncio.get_running_loop().time()
        try:
            got = await asyncio.wait_for(
                binds.acquire(self.platform, c.name, c.max_binds, self.holder), self.lease_seconds / 3
            )
        except Exception as exc:
            log.warning(
                "acquiring a bind of %s failed: %s", c.name, exc, extra={"action": "bind_acquire_failed"}
            )
            return self.interval
        if isinstance(got, Lease):
            b.lease, b.expires = got, started + self.lease_seconds
            log.info(
                "holding bind %d of %s (claim %d)",
                got.slot,
                c.name,
                got.claim,
                extra={"action": "bind_acquired"},
            )
            return 0.0
        if got is None:
            return self.interval
        # Every slot is held: try again right when the earliest lease lapses (a dead holder's, perhaps).
        lapse = (got - await self.platform.clock.now()).total_seconds() + 0.05
        return min(self.interval, max(0.05, lapse))

    async def _open(self, b: _Bind) -> None:
        assert self._sinks is not None
        await b.carrier.start(*self._sinks)
        b.opened = True
        self.on_change()
        await b.carrier.link.wait_bound(self.interval)

    async def _renew(self, b: _Bind) -> bool:
        """Renew the lease; False when the bind was given up (lost to another process, or not renewed in
        time: then the session is closed before the lease can lapse)."""
        assert b.lease is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        link = b.carrier.link
        error = link.last_error if link.errors != b.reported else None
        errors = link.errors
        kept: bool | None = None
        if self._unbind_at(b) > started:
            try:
                kept = await asyncio.wait_for(
                    binds.renew(
                        self.platform, b.lease, b.opened and link.bound, error, b.carrier.window_in_use
                    ),
                    self._unbind_at(b) - started,
                )
            except Exception as exc:
                log.warning(
                    "renewing the bind of %s failed: %s",
                    b.connector.name,
                    exc or type(exc).__name__,
                    extra={"action": "bind_renew_failed"},
                )
        if kept:
            b.expires, b.reported = started + self.lease_seconds, errors
            return True
        if kept is None and loop.time() < self._unbind_at(b):
            return True  # try again before it is too late
        why = "taken over" if kept is False else "not renewed in time"
        log.warning(
            "bind %d of %s %s: unbinding", b.lease.slot, b.connector.name, why, extra={"action": "bind_lost"}
        )
        await self._drop(b)
        return False

    async def _drop(self, b: _Bind) -> None:
        carrier, b.carrier = b.carrier, self._carrier(b.connector)
        b.lease = None
        self.on_change()
        if b.opened:
            b.opened = False
            # Shielded: a reconcile cancelling this task must not leave the session half closed.
            await asyncio.shield(carrier.stop(self.interval / 2))

    # ---- what the other processes hold -----------------------------------------------------------------

    async def _refresh(self) -> None:
        while True:
            try:
                self._live = await asyncio.wait_for(binds.live(self.platform), self.interval * 2)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reading the bind leases failed: %s", exc, extra={"action": "binds_read_failed"})
            else:
                self._share_rates()
            await asyncio.sleep(self.interval)

    def _share_rates(self) -> None:
        """Each bind sends its share of the connector's max_mps: split across the binds held now."""
        for b in self._binds.values():
            if b.lease is not None and b.connector.max_mps:
                others = sum(
                    1 for h in self._live if h.carrier == b.connector.name and h.holder != self.holder
                )
                b.carrier.pace(b.connector.max_mps / (1 + others))
