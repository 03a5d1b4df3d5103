"""server.TurnBufferedHandler: the loop's log lines are written once per turn, in order, and none is lost."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import threading
import time

from pytest import MonkeyPatch

from mycpaas.server import TurnBufferedHandler, turn_buffered_logs


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_lines_of_a_turn_are_written_together_and_in_order() -> None:
    stream = CountingStream()
    log = logging.getLogger("test.turn_buffered")

    async def main() -> None:
        handler = TurnBufferedHandler(stream, asyncio.get_running_loop())
        log.addHandler(handler)
        log.propagate = False
        try:
            for n in range(5):
                log.warning("line %d", n)
            assert stream.getvalue() == ""  # held until the loop turns
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert stream.getvalue() == "".join(f"line {n}\n" for n in range(5))
            assert stream.writes == 1
            other = threading.Thread(target=log.warning, args=("from a thread",))
            log.warning("held")
            other.start()
            other.join()
            # A line from another thread is written at once, after what the loop's thread held.
            assert stream.getvalue().endswith("held\nfrom a thread\n")
            log.warning("last")
        finally:
            log.removeHandler(handler)
            log.propagate = True
        handler.flush()
        assert stream.getvalue().endswith("last\n")

    asyncio.run(main())


def test_the_root_handler_is_put_back_with_every_line_written() -> None:
    stream = CountingStream()
    root = logging.getLogger()
    original = logging.StreamHandler(stream)
    saved = root.handlers[:]
    root.handlers = [original]
    try:

        async def main() -> None:
            with turn_buffered_logs(asyncio.get_running_loop()):
                assert isinstance(root.handlers[0], TurnBufferedHandler)
                logging.getLogger("test.turn_buffered").warning("inside")
            assert root.handlers == [original]

        asyncio.run(main())
    finally:
        root.handlers = saved
    assert stream.getvalue() == "inside\n"


def test_the_access_line_held_without_a_record_is_the_line_logging_writes(monkeypatch: MonkeyPatch) -> None:
    """api/app.py's access line skips logging when the root's one handler is serve's: byte for byte the same
    text; any other configuration (another handler, a filter, a level, a format) goes through logging."""
    from mycpaas.api.app import _access_line_sink, access_log
    from mycpaas.cli import _FORMAT, SecondCachedFormatter

    stream = CountingStream()
    root = logging.getLogger()
    saved, saved_level = root.handlers[:], root.level
    message = '127.0.0.1 "POST /2010-04-01/Accounts/AC1/Messages.json" 201 0.4ms RQ0123'

    async def main() -> None:
        handler = TurnBufferedHandler(stream, asyncio.get_running_loop())
        handler.setFormatter(SecondCachedFormatter(_FORMAT))
        root.handlers = [handler]
        root.setLevel(logging.INFO)
        for now in (1765000000.987654, 1765000001.0004, 1765000001.5):
            monkeypatch.setattr(time, "time", lambda now=now: now)
            access_log.info("%s", message)
            hold = _access_line_sink()
            assert hold is not None and hold("mycpaas.access", message)
        await asyncio.sleep(0)
        lines = stream.getvalue().splitlines()
        assert len(lines) == 6 and lines[0] == lines[1] and lines[2] == lines[3] and lines[4] == lines[5]
        assert lines[0].endswith(f",987 INFO [{os.getpid()}] mycpaas.access {message}")
        assert ",000 INFO [" in lines[2] and ",500 INFO [" in lines[4]

        # Configured otherwise: logging's way.
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        assert not handler.hold_info("mycpaas.access", message)
        handler.setFormatter(SecondCachedFormatter(_FORMAT, datefmt="%H:%M"))
        assert not handler.hold_info("mycpaas.access", message)
        handler.setFormatter(SecondCachedFormatter(_FORMAT))
        handler.setLevel(logging.WARNING)
        assert not handler.hold_info("mycpaas.access", message)
        handler.setLevel(logging.NOTSET)
        handler.addFilter(lambda record: True)
        assert not handler.hold_info("mycpaas.access", message)
        other = logging.StreamHandler(io.StringIO())
        root.handlers = [handler, other]
        assert _access_line_sink() is None
        root.handlers = [handler]
        access_log.addHandler(other)
        try:
            assert _access_line_sink() is None
        finally:
            access_log.removeHandler(other)
        access_log.setLevel(logging.WARNING)
        try:
            assert _access_line_sink() is None
        finally:
            access_log.setLevel(logging.NOTSET)
        assert _access_line_sink() is not None

    try:
        asyncio.run(main())
    finally:
        root.handlers = saved
        root.setLevel(saved_level)
