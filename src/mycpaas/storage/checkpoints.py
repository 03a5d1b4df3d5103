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
log grew to 490 MB in 8 s). So once the thread has copied the bulk, it asks the writer (`finish_wanted`) to
run one more checkpoint right after its next COMMIT, holding the write lock: that one copies only the frames
written meanwhile, and the next write starts the log over. The loop then pays a small checkpoint twice a
second at most instead of a full one every 4 MB of log.
"""

from __future__ import annotations

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
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after one last checkpoint, so a stopped server leaves a short log behind."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                stopping = self._stop.wait(self.interval)
                try:
                    if conn is None:
                        conn = sqlite3.connect(self.path, isolation_level=None)
                        conn.execute("PRAGMA busy_timeout=0")
                    _busy, frames, _copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                    if frames >= FINISH_AFTER_FRAMES:
                        self.finish_wanted = True
                except sqlite3.Error:
                    # A database being created or replaced (migrations, tests): the next turn tries again.
                    log.debug("WAL checkpoint skipped", exc_info=True)
                    if conn is not None:
                        conn.close()
                        conn = None
                if stopping:
                    return
        finally:
            if conn is not None:
                conn.close()
