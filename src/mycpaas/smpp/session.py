"""One bound SMPP session over one TCP connection: sequence numbers, a send window, response timeouts,
enquire_link keepalive, and deliver_sm acknowledged only after the application has handled it.

A session is used once: when it closes (unbind, peer gone, malformed PDU, a response that never came) it fails
every request still in flight with `SessionClosed` and stays closed. Reconnecting is the job of `Link`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from mycpaas.smpp.pdu import (
    RESPONSE_BIT,
    Command,
    Pdu,
    PduError,
    Status,
    Value,
    decode,
    decode_header,
    response_to,
)

log = logging.getLogger("mycpaas.smpp")

DeliverHandler = Callable[[Pdu], Awaitable[int]]
"""Handles a deliver_sm; returns the command_status of the deliver_sm_resp (0 = accepted)."""


class BindType(StrEnum):
    TRANSCEIVER = "transceiver"
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"


_BIND_COMMANDS = {
    BindType.TRANSCEIVER: Command.BIND_TRANSCEIVER,
    BindType.TRANSMITTER: Command.BIND_TRANSMITTER,
    BindType.RECEIVER: Command.BIND_RECEIVER,
}


class SmppError(Exception):
    pass


class SessionClosed(SmppError):
    """The session ended before the request was answered; whether the peer acted on it is unknown."""


class CommandFailed(SmppError):
    def __init__(self, command: int, status: int) -> None:
        # The status's SMPP name too: the operator reads it (the dashboard's Carriers page, the log).
        try:
            known = f" (ESME_{Status(status).name})"
        except ValueError:
            known = ""
        super().__init__(f"{_name(command)} answered with status 0x{status:02x}{known}")
        self.status = status


@dataclass(frozen=True, slots=True)
class BindConfig:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    bind_type: BindType = BindType.TRANSCEIVER
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""

    def __repr__(self) -> str:  # the password stays out of logs and tracebacks
        return f"BindConfig({self.system_id}@{self.host}:{self.port}, {self.bind_type.value})"


@dataclass(frozen=True, slots=True)
class Timers:
    connect: float = 10.0
    response: float = 30.0
    enquire_link: float = 30.0
    deliver_handling: float = 60.0


def _name(command: int) -> str:
    try:
        return Command(command).name.lower()
    except ValueError:
        return f"command 0x{command:08x}"


class Session:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_deliver: DeliverHandler,
        window: int,
        timers: Timers,
    ) -> None:
        self._reader, self._writer = reader, writer
        self._on_deliver = on_deliver
        self._timers = timers
        self._window = asyncio.Semaphore(window)
        # deliver_sm being recorded at once; beyond it they are refused (RX_T_APPN) and the SMSC retries. Receipts
        # are written in batches, so this is generous: a burst of receipts must not be refused.
        self._inbound = asyncio.Semaphore(max(1000, window * 10))
        self._pending: dict[int, tuple[asyncio.Future[Pdu], asyncio.TimerHandle]] = {}
        self._sequence = 0
        # PDUs written in one turn of the event loop go out in one socket write (`_write`, `_flush`).
        self._outgoing: list[bytes] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = asyncio.get_running_loop().create_future()
        self.peer_system_id = ""
        self._reader_task = asyncio.create_task(self._read_loop())
        self._keepalive_task = asyncio.create_task(self._keepalive())

    @classmethod
    async def open(
        cls, config: BindConfig, on_deliver: DeliverHandler, window: int = 10, timers: Timers | None = None
    ) -> Session:
        """Connect and bind; raises CommandFailed (bind refused), SessionClosed or OSError."""
        timers = timers or Timers()
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(config.host, config.port), timers.connect
        )
        with contextlib.suppress(OSError):
            sock = writer.get_extra_info("socket")
            if sock is not None:
                import socket

                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = cls(reader, writer, on_deliver, window, timers)
        try:
            response = await session.request(
                _BIND_COMMANDS[config.bind_type],
                system_id=config.system_id,
                password=config.password,
                system_type=config.system_type,
                interface_version=0x34,
                addr_ton=config.addr_ton,
                addr_npi=config.addr_npi,
                address_range=config.address_range,
            )
        except BaseException:
            await session.close()
            raise
        session.peer_system_id = response.text("system_id")
        return session

    @property
    def closed(self) -> bool:
        return self._closed.done()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    async def request(self, command: int, tlvs: dict[int, bytes] | None = None, **fields: Value) -> Pdu:
        """Send a request inside the window and return its response; raises CommandFailed on a non-zero
        status and SessionClosed if the session ends first (or the response does not come in time, which
        closes the session: a peer that stops answering cannot be trusted with more)."""
        if self.closed:
            raise SessionClosed("session closed")
        async with self._window:
            if self.closed:
                raise SessionClosed("session closed")
            self._sequence = self._sequence % 0x7FFFFFFF + 1
            sequence = self._sequence
            future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
            timer = asyncio.get_running_loop().call_later(
                self._timers.response, self._response_timed_out, sequence, command
            )
            self._pending[sequence] = (future, timer)
            try:
                self._write(Pdu(command, sequence, 0, dict(fields), tlvs or {}))
            except BaseException:
                # Nothing went out: forget the request, or its timer would later close the whole session.
                self._pending.pop(sequence, None)
                timer.cancel()
                raise
            response = await future
        if response.status != Status.OK:
            raise CommandFailed(command, response.status)
        return response

    async def unbind(self) -> None:
        """Unbind politely (waiting a little for unbind_resp), then close."""
        if self.closed:
            return
        if self._tasks:  # deliver_sm being recorded: let them be acknowledged first
            await asyncio.wait(list(self._tasks), timeout=5)
        with contextlib.suppress(SmppError, TimeoutError):
            await asyncio.wait_for(self.request(Command.UNBIND), 5)
        await self.close()

    async def close(self, reason: str = "closed") -> None:
        self._flush()  # an unbind_resp written just before goes out first
        self._fail_all(reason)
        current = asyncio.current_task()
        for task in (self._reader_task, self._keepalive_task, *self._tasks):
            if task is not current:
                task.cancel()
        with contextlib.suppress(OSError, RuntimeError):
            self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 2)

    def _fail_all(self, reason: str) -> None:
        if not self._closed.done():
            self._closed.set_result(None)
        pending, self._pending = self._pending, {}
        for future, timer in pending.values():
            timer.cancel()
            if not future.done():
                future.set_exception(SessionClosed(reason))

    def _response_timed_out(self, sequence: int, command: int) -> None:
        log.warning(
            "no response to %s within %.0f s; closing the session",
            _name(command),
            self._timers.response,
            extra={"action": "smpp_response_timeout"},
        )
        self._spawn(self.close(f"no response to {_name(command)}"))

    def _write(self, pdu: Pdu) -> None:
        """Queue a PDU for the socket; everything queued in one turn of the event loop is sent with one write.
        A write per PDU was the delivery process's largest single cost (a send() system call each, 17-23% of
        its time: bench/results/scale-profile.txt)."""
        if self._writer.is_closing():
            raise SessionClosed("connection closing")
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append(pdu.encode())

    def _flush(self) -> None:
        if not self._outgoing:
            return
        data, self._outgoing = b"".join(self._outgoing), []
        if not self._writer.is_closing():
            self._writer.write(data)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_loop(self) -> None:
        reason = "connection closed by the peer"
        try:
            while True:
                header = await self._reader.readexactly(16)
                length = decode_header(header)[0]
                pdu = decode(header + await self._reader.readexactly(length - 16))
                await self._dispatch(pdu)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, SmppError):
            pass
        except PduError as exc:
            reason = f"malformed PDU: {exc}"
            log.warning("closing the SMPP session: %s", reason, extra={"action": "smpp_malformed_pdu"})
        except asyncio.CancelledError:
            return
        self._fail_all(reason)
        self._spawn(self.close(reason))

    async def _dispatch(self, pdu: Pdu) -> None:
        if pdu.command & RESPONSE_BIT:
            entry = self._pending.pop(pdu.sequence, None)
            if entry is None:
                log.info("response to no request: %s", _name(pdu.command), extra={"action": "smpp_stray"})
                return
            future, timer = entry
            timer.cancel()
            if not future.done():
                future.set_result(pdu)
            return
        command = pdu.command
        if command == Command.DELIVER_SM:
            if self._inbound.locked():
                # Too many being recorded: the SMSC retries later. Pausing the reader instead would also
                # stop submit_sm_resp from being read, and their timeouts would close the session.
                self._write(response_to(pdu, Status.RX_T_APPN, message_id=""))
                return
            await self._inbound.acquire()
            self._spawn(self._deliver(pdu))
        elif command == Command.ENQUIRE_LINK:
            self._write(response_to(pdu))
        elif command == Command.UNBIND:
            self._write(response_to(pdu))
            self._fail_all("unbound by the peer")
            self._spawn(self.close("unbound by the peer"))
        elif command in (Command.DATA_SM, Command.QUERY_SM, Command.CANCEL_SM, Command.REPLACE_SM):
            self._write(response_to(pdu, Status.RINVCMDID))
        elif command in (Command.ALERT_NOTIFICATION, Command.OUTBIND):
            pass  # no response is defined for these
        else:
            self._write(Pdu(Command.GENERIC_NACK, pdu.sequence, Status.RINVCMDID))

    async def _deliver(self, pdu: Pdu) -> None:
        try:
            try:
                status = await asyncio.wait_for(self._on_deliver(pdu), self._timers.deliver_handling)
            except Exception:
                # Not recorded: a temporary application error makes the SMSC deliver it again later.
                log.exception(
                    "deliver_sm not recorded; asking for redelivery", extra={"action": "smpp_mo_nack"}
                )
                status = Status.RX_T_APPN
            if not self.closed:
                with contextlib.suppress(SessionClosed, OSError):
                    self._write(response_to(pdu, status, message_id=""))
        finally:
            self._inbound.release()

    async def _keepalive(self) -> None:
        try:
            while True:
                await asyncio.sleep(self._timers.enquire_link)
                with contextlib.suppress(CommandFailed):  # an error answer is still an answer
                    await self.request(Command.ENQUIRE_LINK)
        except (SmppError, asyncio.CancelledError):
            return
