"""Database.write_on_thread: a SQLite write transaction run on a worker thread (the search index's batches,
services/message_search.py), so that bulk work does not hold the event loop. It must behave as any write:
commit on success, roll back on an error, exclude every other write while it runs, and, if the awaiting task
is cancelled (the server stopping), keep the writer's connection until the thread is done with it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from mycpaas.storage.database import Database


async def _database(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    async with db.write() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
    return db


async def _rows(db: Database) -> list[str]:
    async with db.read() as conn:
        return [row[0] for row in (await conn.execute(text("SELECT body FROM t ORDER BY id"))).all()]


def test_commits_and_returns_the_work_result(tmp_path: Path) -> None:
    async def main() -> None:
        db = await _database(tmp_path / "t.db")
        loop_thread = threading.get_ident()

        def work(driver: sqlite3.Connection) -> int:
            assert threading.get_ident() != loop_thread
            assert driver.in_transaction
            driver.execute("INSERT INTO t (body) VALUES ('a'), ('b')")
            return driver.total_changes

        assert await db.write_on_thread(work) >= 2
        assert await _rows(db) == ["a", "b"]
        await db.dispose()

    asyncio.run(main())


def test_an_error_rolls_back_and_leaves_the_writer_usable(tmp_path: Path) -> None:
    async def main() -> None:
        db = await _database(tmp_path / "t.db")

        def work(driver: sqlite3.Connection) -> None:
            driver.execute("INSERT INTO t (body) VALUES ('lost')")
            raise ValueError("boom")

        with pytest.raises(ValueError):
            await db.write_on_thread(work)
        async with db.write() as conn:
            await conn.execute(text("INSERT INTO t (body) VALUES ('kept')"))
        assert await _rows(db) == ["kept"]
        await db.dispose()

    asyncio.run(main())


def test_other_writes_wait_and_the_loop_keeps_running(tmp_path: Path) -> None:
    async def main() -> None:
        db = await _database(tmp_path / "t.db")
        started, release = threading.Event(), threading.Event()
        order: list[str] = []

        def work(driver: sqlite3.Connection) -> None:
            driver.execute("INSERT INTO t (body) VALUES ('thread')")
            started.set()
            assert release.wait(60)
            order.append("thread done")

        async def other_write() -> None:
            async with db.write() as conn:
                order.append("other began")
                await conn.execute(text("INSERT INTO t (body) VALUES ('loop')"))

        on_thread = asyncio.create_task(db.write_on_thread(work))
        while not started.is_set():  # the loop is free while the thread works
            await asyncio.sleep(0.01)
        writing = asyncio.create_task(other_write())
        for _ in range(20):
            await asyncio.sleep(0.01)
        assert order == [] and not writing.done()
        release.set()
        await asyncio.gather(on_thread, writing)
        assert order == ["thread done", "other began"]
        assert await _rows(db) == ["thread", "loop"]
        await db.dispose()

    asyncio.run(main())


def test_a_cancelled_caller_holds_the_writer_until_the_thread_is_done(tmp_path: Path) -> None:
    async def main() -> None:
        db = await _database(tmp_path / "t.db")
        started, release = threading.Event(), threading.Event()

        def work(driver: sqlite3.Connection) -> None:
            started.set()
            assert release.wait(60)
            driver.execute("INSERT INTO t (body) VALUES ('thread')")

        on_thread = asyncio.create_task(db.write_on_thread(work))
        while not started.is_set():
            await asyncio.sleep(0.01)
        on_thread.cancel()
        await asyncio.sleep(0.05)
        assert not on_thread.done()  # still waiting for the thread: the writer is not handed on
        writing = asyncio.create_task(_insert(db, "after"))
        await asyncio.sleep(0.05)
        assert not writing.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await on_thread
        await writing
        assert await _rows(db) == ["thread", "after"]
        await db.dispose()

    asyncio.run(main())


async def _insert(db: Database, body: str) -> None:
    async with db.write() as conn:
        await conn.execute(text("INSERT INTO t (body) VALUES (:body)"), {"body": body})
