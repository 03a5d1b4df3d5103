"""server.TurnBufferedHandler: the loop's log lines are written once per turn, in order, and none is lost."""

from __future__ import annotations

import asyncio
import io
import logging
import threading

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
