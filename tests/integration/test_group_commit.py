"""Group commit isolates failures: in a batch of many concurrent units, one failing unit fails only its own
caller, leaves nothing behind, and every neighbour commits and gets its own result, answered only after the
commit (a second connection sees the row the moment the await returns). On a real SQLite file and PostgreSQL.

That the units really shared a transaction is observed, not assumed: a SQLAlchemy event listener on every
Engine (filtered to this test's database) records which transaction each statement ran in, and the test
asserts that statements of several units, the failing one included, ran inside one transaction. How the
committer then isolates the failure (retrying units alone, savepoints...) is left to it.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import Engine, event, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from mycpaas.storage import migrate, tables
from mycpaas.storage.database import Connection, Database
from mycpaas.storage.group_commit import GroupCommitter
from tests.databases import create_postgres_database, drop_postgres_database

UNITS = 40
TAG = re.compile(r"(unit-\d{3}|failing-unit|WA-neighbour-\d{2}|WA-duplicate)")
NOW = datetime(2026, 11, 28, 12, 0, 0)


class UnitFailed(Exception):
    pass


@dataclass
class Transactions:
    """Which tagged units' statements ran in which transaction, on one database (all engines)."""

    database: str
    current: dict[int, int] = field(default_factory=dict)
    units: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    commits: int = 0
    opened: int = 0

    def mine(self, conn: Any) -> bool:
        return str(conn.engine.url.database) == self.database

    def on_begin(self, conn: Any) -> None:
        if self.mine(conn):
            self.opened += 1
            self.current[id(conn)] = self.opened

    def on_end(self, conn: Any) -> None:
        self.current.pop(id(conn), None)

    def on_commit(self, conn: Any) -> None:
        if self.mine(conn) and id(conn) in self.current:
            self.commits += 1
        self.on_end(conn)

    def on_statement(self, conn: Any, _cursor: Any, _statement: str, parameters: Any, *_: Any) -> None:
        if self.mine(conn) and id(conn) in self.current:
            self.units[self.current[id(conn)]].update(TAG.findall(repr(parameters)))

    def largest_batch(self) -> set[str]:
        return max(self.units.values(), key=len, default=set())


@pytest.fixture
def transactions(database_url: str) -> Iterator[Transactions]:
    watched = Transactions(str(make_url(database_url).database))
    hooks: list[tuple[str, Callable[..., None]]] = [
        ("begin", watched.on_begin),
        ("commit", watched.on_commit),
        ("rollback", watched.on_end),
        ("before_cursor_execute", watched.on_statement),
    ]
    for name, hook in hooks:
        event.listen(Engine, name, hook)
    try:
        yield watched
    finally:
        for name, hook in hooks:
            event.remove(Engine, name, hook)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = (
        f"sqlite:///{tmp_path / 'group-commit.db'}"
        if request.param == "sqlite"
        else create_postgres_database()
    )
    migrate.upgrade(url)
    try:
        yield url
    finally:
        if request.param == "postgres":
            drop_postgres_database(url)


class SecondConnection:
    """A connection of its own, outside the platform's engines, to see what is committed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._sqlite: sqlite3.Connection | None = None
        self._pg: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> SecondConnection:
        if self.url.startswith("sqlite"):
            self._sqlite = sqlite3.connect(str(make_url(self.url).database), isolation_level=None)
        else:
            self._pg = await asyncpg.connect(self.url, timeout=10)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            await self._pg.close()

    async def count(self, sql: str, value: str) -> int:
        if self._sqlite is not None:
            return int(self._sqlite.execute(sql.replace("$1", "?"), (value,)).fetchone()[0])
        assert self._pg is not None
        async with self._lock:  # one asyncpg connection runs one query at a time
            return int(await self._pg.fetchval(sql, value))

    async def audit_rows(self, target: str) -> int:
        return await self.count("SELECT count(*) FROM audit_log WHERE target = $1", target)

    async def attempts(self, sid: str) -> int:
        return await self.count("SELECT count(*) FROM webhook_attempts WHERE sid = $1", sid)


def audit_row(target: str) -> dict[str, Any]:
    return {
        "account_sid": "AC" + "0" * 32,
        "action": "group_commit_test",
        "actor": "test",
        "address": "127.0.0.1",
        "target": target,
        "created_at": NOW,
    }


def attempt_row(sid: str) -> dict[str, Any]:
    return {
        "sid": sid,
        "account_sid": "AC" + "0" * 32,
        "message_sid": "SM" + "0" * 32,
        "kind": "status_callback",
        "idempotency_token": sid,
        "message_status": "sent",
        "request_method": "POST",
        "request_url": "https://app.example/status",
        "attempt": 1,
        "outcome": "delivered",
        "created_at": NOW,
    }


def unit(target: str, fail: bool = False) -> Callable[[Connection], Awaitable[str]]:
    async def work(conn: Connection) -> str:
        result = await conn.execute(insert(tables.audit_log).values(audit_row(target)))
        if fail:
            raise UnitFailed(target)
        count = (
            await conn.execute(
                select(func.count()).select_from(tables.audit_log).where(tables.audit_log.c.target == target)
            )
        ).scalar_one()
        return f"{target}:{count}:{result.rowcount}"

    return work


async def with_committer(
    url: str, scenario: Callable[[GroupCommitter, SecondConnection], Awaitable[None]]
) -> None:
    db = Database(url)
    committer = GroupCommitter(db)
    try:
        async with SecondConnection(url) as second:
            await scenario(committer, second)
    finally:
        await committer.close()
        await db.dispose()


def test_many_concurrent_units_share_commits(database_url: str, transactions: Transactions) -> None:
    """The baseline the failure test relies on: gathered units are batched (fewer commits than units), and
    each caller, answered, finds its row committed."""

    async def scenario(committer: GroupCommitter, second: SecondConnection) -> None:
        async def call(i: int) -> tuple[str, int]:
            result = await committer.run(unit(f"unit-{i:03}"))
            return result, await second.audit_rows(f"unit-{i:03}")

        answers = await asyncio.gather(*(call(i) for i in range(UNITS)))
        assert answers == [(f"unit-{i:03}:1:1", 1) for i in range(UNITS)]

    asyncio.run(with_committer(database_url, scenario))
    assert 1 <= transactions.commits < UNITS, transactions.commits
    assert len(transactions.largest_batch()) > 1


def test_one_failing_unit_fails_only_its_caller(database_url: str, transactions: Transactions) -> None:
    async def scenario(committer: GroupCommitter, second: SecondConnection) -> None:
        async def call(i: int) -> tuple[str, int]:
            result = await committer.run(unit(f"unit-{i:03}"))
            # Answered means committed: a connection of its own sees the row at once.
            return result, await second.audit_rows(f"unit-{i:03}")

        half = UNITS // 2
        calls: list[Awaitable[Any]] = [call(i) for i in range(half)]
        calls.append(committer.run(unit("failing-unit", fail=True)))
        calls += [call(i) for i in range(half, UNITS)]
        answers = await asyncio.gather(*calls, return_exceptions=True)

        assert answers[:half] + answers[half + 1 :] == [(f"unit-{i:03}:1:1", 1) for i in range(UNITS)]
        failed = answers[half]
        assert isinstance(failed, UnitFailed) and str(failed) == "failing-unit", repr(failed)
        assert await second.audit_rows("failing-unit") == 0, "nothing of the failing unit is written"

    asyncio.run(with_committer(database_url, scenario))
    # The failing unit really ran in a transaction with its neighbours' statements.
    shared = [tags for tags in transactions.units.values() if "failing-unit" in tags]
    assert any(len(tags) > 1 for tags in shared), dict(transactions.units)


def test_an_insert_that_violates_a_constraint_keeps_its_neighbours(
    database_url: str, transactions: Transactions
) -> None:
    async def scenario(committer: GroupCommitter, second: SecondConnection) -> None:
        await committer.insert((tables.webhook_attempts, attempt_row("WA-duplicate")))
        assert await second.attempts("WA-duplicate") == 1

        async def call(i: int) -> tuple[str, int]:
            result = await committer.run(unit(f"unit-{i:03}"))
            return result, await second.audit_rows(f"unit-{i:03}")

        async def insert_call(sid: str) -> int:
            await committer.insert((tables.webhook_attempts, attempt_row(sid)))
            return await second.attempts(sid)

        calls: list[Awaitable[Any]] = [insert_call(f"WA-neighbour-{i:02}") for i in range(5)]
        calls.append(committer.insert((tables.webhook_attempts, attempt_row("WA-duplicate"))))
        calls += [insert_call(f"WA-neighbour-{i:02}") for i in range(5, 10)]
        calls += [call(i) for i in range(UNITS)]
        answers = await asyncio.gather(*calls, return_exceptions=True)

        assert answers[:5] + answers[6:11] == [1] * 10, "the duplicate's neighbouring inserts are written"
        assert isinstance(answers[5], IntegrityError), repr(answers[5])
        assert answers[11:] == [(f"unit-{i:03}:1:1", 1) for i in range(UNITS)]
        assert await second.attempts("WA-duplicate") == 1, "the first row stays, the duplicate is not written"

    asyncio.run(with_committer(database_url, scenario))
    shared = [tags for tags in transactions.units.values() if "WA-duplicate" in tags]
    assert any(any(t.startswith(("unit-", "WA-neighbour")) for t in tags) for tags in shared), dict(
        transactions.units
    )
