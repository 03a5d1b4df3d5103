"""The SMPP session against a scripted peer on a loopback socket: the window, response timeouts, deliver_sm
acknowledged only after the handler returns (and refused with ESME_RX_T_APPN when it raises), and a malformed
PDU closing the session. The end-to-end tests use the node-smpp simulator; these pin the session's rules."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from mycpaas.smpp.pdu import Command, Pdu, Status, decode, decode_header, response_to
from mycpaas.smpp.session import BindConfig, CommandFailed, Session, SessionClosed, Timers

Peer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_pdu(reader: asyncio.StreamReader) -> Pdu:
    header = await reader.readexactly(16)
    return decode(header + await reader.readexactly(decode_header(header)[0] - 16))


async def with_peer(peer: Peer, body: Callable[[int], Awaitable[None]]) -> None:
    async def closing_peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await peer(reader, writer)
        finally:
            writer.close()  # the peer's end of every connection, or it is left to the garbage collector

    server = await asyncio.start_server(closing_peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await body(port)
    finally:
        server.close()
        await server.wait_closed()


def config(port: int, password: str = "secret") -> BindConfig:
    return BindConfig("127.0.0.1", port, "test", password)


async def accept_bind(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Pdu:
    bind = await read_pdu(reader)
    status = Status.OK if bind.text("password") == "secret" else Status.RINVPASWD
    writer.write(response_to(bind, status, system_id="peer").encode())
    return bind


async def accepted(_: Pdu) -> int:
    return Status.OK


def test_bind_refused_raises_and_the_password_stays_out_of_the_config_repr() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_bind(reader, writer)

    async def body(port: int) -> None:
        with pytest.raises(CommandFailed) as refused:
            await Session.open(config(port, "wrong"), accepted)
        assert refused.value.status == Status.RINVPASWD
        assert "wrong" not in repr(config(port, "wrong")) and "wrong" not in str(refused.value)

    asyncio.run(with_peer(peer, body))


def test_the_window_bounds_unanswered_requests() -> None:
    """The peer reads every PDU as it arrives and answers none until told: exactly `window` submits reach the
    wire while the rest wait; each answer lets exactly one more out."""
    window, total = 3, 8
    received: list[Pdu] = []
    arrived = asyncio.Condition()
    answer = asyncio.Queue[int]()  # how many of the unanswered requests to answer, oldest first

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_bind(reader, writer)

        async def read_all() -> None:
            while True:
                pdu = await read_pdu(reader)
                async with arrived:
                    received.append(pdu)
                    arrived.notify_all()

        reading = asyncio.create_task(read_all())
        answered = 0
        try:
            while answered < total:
                for _ in range(await answer.get()):
                    async with arrived:
                        await arrived.wait_for(lambda n=answered: len(received) > n)
                    pdu = received[answered]
                    writer.write(response_to(pdu, message_id=f"id{pdu.sequence}").encode())
                    answered += 1
            await asyncio.sleep(30)
        finally:
            reading.cancel()

    async def on_the_wire(count: int) -> None:
        async with arrived:
            await asyncio.wait_for(arrived.wait_for(lambda: len(received) >= count), 10)

    async def settled() -> None:
        """Let the client and the peer run until neither has anything left to do (no wall-clock window)."""
        for _ in range(50):
            await asyncio.sleep(0)

    async def body(port: int) -> None:
        session = await Session.open(config(port), accepted, window=window)
        sends = [
            asyncio.create_task(session.request(Command.SUBMIT_SM, destination_addr=str(n)))
            for n in range(total)
        ]
        await on_the_wire(window)
        await asyncio.sleep(0.5)  # more time for a window-less client to send more; never needed to pass
        await settled()
        assert len(received) == window, f"{len(received)} unanswered submits on the wire, window {window}"
        assert not any(send.done() for send in sends)
        answer.put_nowait(1)
        await on_the_wire(window + 1)
        await asyncio.sleep(0.5)
        await settled()
        assert len(received) == window + 1, "one answer released more than one waiting submit"
        answer.put_nowait(total - 1)
        responses = await asyncio.wait_for(asyncio.gather(*sends), 10)
        assert len(received) == total
        assert [r.text("message_id") for r in responses] == [f"id{r.sequence}" for r in responses]
        assert sorted(p.text("destination_addr") for p in received) == [str(n) for n in range(total)]
        await session.close()

    asyncio.run(with_peer(peer, body))


def test_a_response_that_never_comes_closes_the_session() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_bind(reader, writer)
        await read_pdu(reader)  # and never answer
        await asyncio.sleep(5)

    async def body(port: int) -> None:
        session = await Session.open(config(port), accepted, timers=Timers(response=0.3))
        with pytest.raises(SessionClosed):
            await session.request(Command.SUBMIT_SM, destination_addr="1")
        assert session.closed

    asyncio.run(with_peer(peer, body))


def test_deliver_sm_is_acknowledged_after_the_handler_and_refused_when_it_fails() -> None:
    acks: list[tuple[int, int]] = []
    handled: list[int] = []
    done = asyncio.Event()

    async def handler(pdu: Pdu) -> int:
        await asyncio.sleep(0.1)
        if pdu.octets("short_message") == b"fail":
            raise RuntimeError("database down")
        handled.append(pdu.sequence)
        return Status.OK

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_bind(reader, writer)
        for sequence, text in ((7, b"ok"), (8, b"fail")):
            writer.write(Pdu(Command.DELIVER_SM, sequence, fields={"short_message": text}).encode())
        for _ in range(2):
            ack = await read_pdu(reader)
            assert ack.command == Command.DELIVER_SM_RESP
            acks.append((ack.sequence, ack.status))
            assert ack.sequence != 7 or handled == [7], "acknowledged before it was handled"
        writer.write(Pdu(Command.ENQUIRE_LINK, 9).encode())
        link = await read_pdu(reader)
        acks.append((link.sequence, link.command))
        done.set()

    async def body(port: int) -> None:
        session = await Session.open(config(port), handler)
        await asyncio.wait_for(done.wait(), 10)
        await session.close()

    asyncio.run(with_peer(peer, body))
    assert sorted(acks[:2]) == [(7, Status.OK), (8, Status.RX_T_APPN)]
    assert acks[2] == (9, Command.ENQUIRE_LINK_RESP)


def test_a_malformed_pdu_closes_the_session_and_fails_what_was_in_flight() -> None:
    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_bind(reader, writer)
        await read_pdu(reader)
        writer.write(bytes.fromhex("00000008000000040000000000000002"))  # command_length 8: not a PDU
        await asyncio.sleep(1)

    async def body(port: int) -> None:
        session = await Session.open(config(port), accepted)
        with pytest.raises(SessionClosed, match="malformed"):
            await session.request(Command.SUBMIT_SM, destination_addr="1")
        await asyncio.wait_for(session.wait_closed(), 2)

    asyncio.run(with_peer(peer, body))


def test_unknown_commands_get_generic_nack_and_unbind_is_answered() -> None:
    answers: list[tuple[int, int]] = []

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accept_bind(reader, writer)
        writer.write(Pdu(0x00000999, 3).encode())
        nack = await read_pdu(reader)
        answers.append((nack.command, nack.status))
        writer.write(Pdu(Command.UNBIND, 4).encode())
        unbound = await read_pdu(reader)
        answers.append((unbound.command, unbound.status))

    async def body(port: int) -> None:
        session = await Session.open(config(port), accepted)
        await asyncio.wait_for(session.wait_closed(), 2)

    asyncio.run(with_peer(peer, body))
    assert answers == [(Command.GENERIC_NACK, Status.RINVCMDID), (Command.UNBIND_RESP, Status.OK)]
