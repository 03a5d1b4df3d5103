"""server.CoalescingLoop: wake-ups from other threads write one byte until the loop has read it, and none is lost."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

from mycpaas.server import CoalescingLoop


def pending_bytes(loop: CoalescingLoop) -> int:
    ssock: socket.socket = loop._ssock  # type: ignore[attr-defined]
    try:
        return len(ssock.recv(4096, socket.MSG_PEEK))
    except BlockingIOError:
        return 0


def test_many_wake_ups_before_the_loop_reads_write_one_byte() -> None:
    loop = CoalescingLoop()
    try:
        ran: list[int] = []
        for index in range(1000):
            loop.call_soon_threadsafe(ran.append, index)
        assert pending_bytes(loop) == 1
        loop.run_until_complete(asyncio.sleep(0))
        assert ran == list(range(1000)) and pending_bytes(loop) == 0
        loop.call_soon_threadsafe(ran.append, 1000)  # after the loop read the pipe, the next one writes again
        assert pending_bytes(loop) == 1
    finally:
        loop.close()


def test_no_wake_up_is_lost_while_threads_and_the_loop_race() -> None:
    loop = CoalescingLoop()
    per_thread, threads = 5000, 4
    try:

        async def main() -> int:
            done = asyncio.Event()
            count = 0

            def bump() -> None:
                nonlocal count
                count += 1
                if count == per_thread * threads:
                    done.set()

            def worker() -> None:
                for index in range(per_thread):
                    loop.call_soon_threadsafe(bump)
                    if index % 50 == 0:
                        time.sleep(0.0002)  # the loop falls asleep in select now and then

            workers = [threading.Thread(target=worker) for _ in range(threads)]
            for thread in workers:
                thread.start()
            await done.wait()  # a lost wake-up leaves the loop asleep with callbacks queued
            finished.set()
            for thread in workers:
                thread.join()
            return count

        def rescue() -> None:
            """Wakes a loop left asleep (bypassing the coalescing), so that a lost wake-up fails, not hangs."""
            if finished.wait(120):
                return
            rescued.set()
            while not finished.wait(0.05):
                asyncio.SelectorEventLoop._write_to_self(loop)  # type: ignore[attr-defined]

        finished, rescued = threading.Event(), threading.Event()
        guard = threading.Thread(target=rescue, daemon=True)
        guard.start()
        assert loop.run_until_complete(main()) == per_thread * threads
        assert not rescued.is_set(), "a wake-up was lost: the loop slept with callbacks queued"
    finally:
        loop.close()
