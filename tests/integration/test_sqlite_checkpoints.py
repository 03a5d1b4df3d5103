"""SQLite's WAL is checkpointed off the event loop (storage/checkpoints.py) and still stays short.

The event loop's connections run with the autocheckpoint off; a thread copies the log back, and the writer
finishes each checkpoint after a COMMIT so that the log starts over. If the finish were missing, a steady
writer would never let the log restart (it grew to 490 MB in 8 s of creates), so this test writes far more
than the bound it checks, on a real file, while the thread runs.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import text

from mycpaas.storage.database import Database

ROW = "x" * 4000  # a page a row: the log grows fast
CHECKPOINTS = 8  # the thread's turns to watch: the log must have started over several times


def test_the_log_starts_over_under_a_steady_writer(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"

    async def main() -> tuple[int, int, int]:
        db = Database(f"sqlite:///{path}")
        checkpointer = db._checkpointer
        assert checkpointer is not None
        async with db.write() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
        written = largest = rows = 0
        while checkpointer.checkpoints < CHECKPOINTS:  # as long as the thread takes, however busy the machine
            for _ in range(20):
                async with db.write() as conn:
                    await conn.execute(text("INSERT INTO t (body) VALUES (:body)"), {"body": ROW})
                rows += 1
            written += 20 * len(ROW)
            largest = max(largest, os.path.getsize(f"{path}-wal"))
            await asyncio.sleep(0.005)  # as a loaded server does between batches
        async with db.read() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == rows
        await db.dispose()
        return written, largest, rows

    written, largest, rows = asyncio.run(main())
    # Without the writer's finishing checkpoint the log never starts over: it holds every page of every
    # commit, about three times the rows' bytes (measured: 100 MB for 32 MB of rows; with it, 16 MB for 38).
    assert largest < written, f"the log reached {largest / 1e6:.1f} MB for {written / 1e6:.1f} MB of rows"


def test_dispose_stops_the_thread(tmp_path: Path) -> None:
    async def main() -> None:
        db = Database(f"sqlite:///{tmp_path / 'stop.db'}")
        checkpointer = db._checkpointer
        assert checkpointer is not None and checkpointer._thread.is_alive()
        await db.dispose()
        assert not checkpointer._thread.is_alive()

    asyncio.run(main())
