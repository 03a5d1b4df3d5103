"""WAL checkpoints of a SQLite database, off the event loop.

In WAL mode SQLite copies the log back into the database file (a checkpoint) from inside whichever COMMIT
crosses `wal_autocheckpoint` pages, and that checkpoint writes and fsyncs the database file. Our commits run
inline on the event loop (storage/database.py), so every thousandth page a commit stalled every request of the
process: with the autocheckpoint on, a create load on SQLite served 754 requests/s with p99 238 ms; with
it off, 1,796 with p99 63 ms (py-spy: COMMIT 9% of the process; bench/results/http_create.txt, issue 15).
So the event loop's connections turn the autocheckpoint off, and this thread checkpoints on a connection of
its own every `interval` seconds. A PASSIVE checkpoint never takes the write lock, never waits for readers
and releases the GIL while it writes, so the loop keeps serving.

The thread alone cannot keep the log short: SQLite starts the log over only when a write begins with every
frame already copied, and under a steady load the writer appends frames while the thread copies (measured: the
log grew to 490 MB in 8 s). So once the thread has copied the bulk, it asks the writer (`finish_wanted`) for
one more checkpoint with no write in progress: the writer takes its write lock and hands the checkpoint back
to this thread (`finish`), which copies only the frames written meanwhile; the next write starts the log over.
The loop's writes wait for it (a few ms, twice a second at most) but the loop itself does not: that
checkpoint ran on the loop before, and its fdatasync was ~2% of the loop's time under the create load and a
stall of every request in flight (py-spy --native, bench/results/create_ab.txt, 2026-12-07).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading

log = logging.getLogger("mycpaas.storage")

INTERVAL_SECONDS = 0.5
FINISH_AFTER_FRAMES = 1000  # SQLite's own wal_autocheckpoint default: a shorter log is left alone


class WalCheckpointer:
    def __init__(self, path: str, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self.checkpoints = 0
        self.finish_wanted = False  # read and cleared by the writer (storage/database.py), under its lock
        self._stop = threading.Event()
        self._wake = threading.Event()  # a stop, or a finish asked for
        self._finishes: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._finishes_lock = threading.Lock()
        self._ended = False  # the thread has answered its last finish (under _finishes_lock)
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after one last checkpoint, so a stopped server leaves a short log behind."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def finish(self) -> asyncio.Future[None]:
        """A checkpoint on this thread, now: done (never failed) once it ran. The caller holds the write lock,
        so that the checkpoint copies every frame and the next write starts the log over."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        with self._finishes_lock:
            if self._ended or not self._thread.is_alive():
                done.set_result(None)
                return done
            self._finishes.append((loop, done))
        self._wake.set()
        return done

    def _take_finishes(self) -> list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]:
        with self._finishes_lock:
            finishes, self._finishes = self._finishes, []
        return finishes

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait(self.interval)
                self._wake.clear()
                stopping = self._stop.is_set()
                finishes = self._take_finishes()  # asked before this pass: it answers them
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.path, isolation_level=None)
                        conn.execute("PRAGMA busy_timeout=0")
                    _busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                    # After a finish the log is still long, copied entirely: the next write starts it over.
                    if frames >= FINISH_AFTER_FRAMES and not finishes:
                        self.finish_wanted = True
                except sqlite3.Error:
                    # A database being created or replaced (migrations, tests): the next turn tries again.
                    log.debug("WAL checkpoint skipped", exc_info=True)
                    if conn is not None:
                        conn.close()
                        conn = None
                _answer(finishes)
                if stopping:
                    return
        finally:
            if conn is not None:
                conn.close()
            with self._finishes_lock:
                self._ended = True
            _answer(self._take_finishes())


def _answer(finishes: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]) -> None:
    for loop, done in finishes:
        with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
            loop.call_soon_threadsafe(_resolve, done)


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
