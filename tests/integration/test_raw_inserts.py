"""The hot inserts on the raw driver (storage/raw_inserts.py) store exactly what SQLAlchemy stores.

A message and its send job are written twice, once through the group committer (the raw driver: sqlite3 or
asyncpg) and once through SQLAlchemy (storage/messages.insert_new), and the rows are compared as the database
holds them, read back by the driver itself: on SQLite a DateTime is text, so a format that differed (no
microseconds, a 'T') would show here, and lists and lookups that compare stored text would break. The read
side is checked too: the platform reads both back as equal Messages. On a real SQLite file and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Engine, event, insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from mycpaas.domain.messages import Direction, Message, MessageStatus
from mycpaas.errors import Unavailable
from mycpaas.storage import messages, migrate, tables
from mycpaas.storage.database import Database
from mycpaas.storage.group_commit import GroupCommitter
from tests.databases import create_postgres_database, drop_postgres_database
from tests.server import free_port

ACCOUNT = "AC" + "7" * 32
CREATED = datetime(2026, 12, 7, 8, 0, 0)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'raw.db'}" if request.param == "sqlite" else create_postgres_database()
    migrate.upgrade(url)
    asyncio.run(_add_account(url))
    try:
        yield url
    finally:
        if request.param == "postgres":
            drop_postgres_database(url)


async def _add_account(url: str) -> None:
    db = Database(url)
    try:
        async with db.write() as conn:
            await conn.execute(
                insert(tables.accounts).values(
                    sid=ACCOUNT,
                    owner_account_sid=ACCOUNT,
                    friendly_name="raw inserts",
                    status="active",
                    type="Full",
                    primary_token_sealed="sealed",
                    primary_token_digest="0" * 64,
                    created_at=CREATED,
                    updated_at=CREATED,
                )
            )
    finally:
        await db.dispose()


def variants() -> list[Message]:
    """Messages that cover the value kinds a new message's row holds: NULLs and values, whole seconds and
    microseconds, GSM-7 and UCS-2 bodies, each status a create writes."""
    base = Message.outbound(
        account_sid=ACCOUNT,
        direction=Direction.OUTBOUND_API,
        from_number="+15005550006",
        to_number="+15558675310",
        body="Hello from mycpaas",
        num_media=0,
        status_callback=None,
        validity_period=None,
        now=CREATED,
    )
    unicode = Message.outbound(
        account_sid=ACCOUNT,
        direction=Direction.OUTBOUND_API,
        from_number="+15005550006",
        to_number="+447700900123",
        body="Grüße привет 😀 " * 20,
        num_media=2,
        status_callback="https://app.example/status?a=1&b=%20",
        validity_period=3600,
        now=CREATED.replace(microsecond=123456),
    )
    service = Message.accepted(
        account_sid=ACCOUNT,
        direction=Direction.OUTBOUND_API,
        messaging_service_sid="MG" + "3" * 32,
        to_number="+15558675311",
        body="through a service",
        num_media=0,
        status_callback=None,
        validity_period=None,
        now=CREATED.replace(microsecond=1),
        from_number=None,
    )
    return [base, unicode, service]


def twin(message: Message, n: int) -> Message:
    return dataclasses.replace(message, sid=message.sid[:-4] + f"{n:04d}")


async def stored_rows(url: str, table: str, key: str, values: list[str]) -> list[dict[str, Any]]:
    """Rows as the driver reads them (no SQLAlchemy type processing), without the surrogate id."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(str(make_url(url).database))
        conn.row_factory = sqlite3.Row
        try:
            marks = ",".join("?" * len(values))
            rows = conn.execute(f"SELECT * FROM {table} WHERE {key} IN ({marks}) ORDER BY id", values)
            return [{k: row[k] for k in row.keys() if k != "id"} for row in rows]  # noqa: SIM118 (Row iterates values)
        finally:
            conn.close()
    pg = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        records = await pg.fetch(f"SELECT * FROM {table} WHERE {key} = ANY($1::text[]) ORDER BY id", values)
        return [{k: v for k, v in record.items() if k != "id"} for record in records]
    finally:
        await pg.close()


def test_raw_rows_equal_sqlalchemy_rows(database_url: str) -> None:
    async def scenario() -> None:
        db = Database(database_url)
        committer = GroupCommitter(db)
        try:
            originals = variants()
            raw = [twin(m, 1) for m in originals]
            orm = [twin(m, 2) for m in originals]
            # Concurrent, so the committer merges them into one executemany per table; none goes through
            # SQLAlchemy (which would make this test compare SQLAlchemy with itself).
            seen: list[str] = []

            def watch(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
                seen.append(statement)

            event.listen(Engine, "before_cursor_execute", watch)
            try:
                await asyncio.gather(*(committer.insert(*messages.new_message_rows(m)) for m in raw))
            finally:
                event.remove(Engine, "before_cursor_execute", watch)
            assert not [s for s in seen if s.startswith("INSERT")], seen
            async with db.write() as conn:
                await messages.insert_new(conn, orm)

            for a, b in zip(raw, orm, strict=True):
                [row_a] = await stored_rows(database_url, "messages", "sid", [a.sid])
                [row_b] = await stored_rows(database_url, "messages", "sid", [b.sid])
                assert {**row_a, "sid": None} == {**row_b, "sid": None}
                jobs_a = await stored_rows(database_url, "jobs", "ref", [a.sid])
                jobs_b = await stored_rows(database_url, "jobs", "ref", [b.sid])
                assert len(jobs_a) == len(jobs_b) == 1
                assert {**jobs_a[0], "ref": None} == {**jobs_b[0], "ref": None}
                if database_url.startswith("sqlite"):
                    assert isinstance(row_a["created_at"], str) and row_a["created_at"].count(".") == 1
                async with db.read() as conn:
                    read_a = await messages.get_message(conn, a.sid)
                    read_b = await messages.get_message(conn, b.sid)
                assert read_a == a
                assert read_b is not None and dataclasses.replace(read_b, sid=a.sid) == a
            assert {m.status for m in raw} == {MessageStatus.QUEUED, MessageStatus.ACCEPTED}
        finally:
            await committer.close()
            await db.dispose()

    asyncio.run(scenario())


def test_a_duplicate_fails_its_caller_alone_with_sqlalchemys_error(database_url: str) -> None:
    """A raw batch that fails runs again through SQLAlchemy: the duplicate's caller gets IntegrityError (as
    before the raw path), its neighbours are committed."""

    async def scenario() -> None:
        db = Database(database_url)
        committer = GroupCommitter(db)
        try:
            first = variants()[0]
            await committer.insert(*messages.new_message_rows(first))
            neighbours = [twin(first, n) for n in range(10, 20)]
            calls = [committer.insert(*messages.new_message_rows(m)) for m in neighbours[:5]]
            calls.append(committer.insert(*messages.new_message_rows(first)))
            calls += [committer.insert(*messages.new_message_rows(m)) for m in neighbours[5:]]
            answers = await asyncio.gather(*calls, return_exceptions=True)
            assert answers[:5] + answers[6:] == [None] * 10
            assert isinstance(answers[5], IntegrityError), repr(answers[5])
            sids = [m.sid for m in neighbours]
            assert len(await stored_rows(database_url, "messages", "sid", sids)) == 10
            assert len(await stored_rows(database_url, "jobs", "ref", sids)) == 10
            assert len(await stored_rows(database_url, "jobs", "ref", [first.sid])) == 1
        finally:
            await committer.close()
            await db.dispose()

    asyncio.run(scenario())


def test_hot_tables_are_the_ones_a_create_writes() -> None:
    from mycpaas.storage.raw_inserts import HOT_TABLES

    rows = messages.new_message_rows(variants()[0])
    assert {table.name for table, _ in rows} == HOT_TABLES == {tables.messages.name, tables.jobs.name}


def test_an_unreachable_postgresql_is_unavailable_on_the_raw_path() -> None:
    """No server on the port: the raw path says Unavailable (the API's 503), as SQLAlchemy's path does."""

    async def scenario() -> None:
        db = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
        committer = GroupCommitter(db)
        try:
            with pytest.raises(Unavailable):
                await committer.insert(*messages.new_message_rows(variants()[0]))
        finally:
            await committer.close()
            await db.dispose()

    asyncio.run(scenario())
