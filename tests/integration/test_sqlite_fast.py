"""The delivery path's hand-written SQLite statements (storage/sqlite_fast.py) do what their SQLAlchemy forms do.

The same delivery is run twice on one SQLite file, for twin messages: once on the sqlite3 driver (as the server
runs it) and once with the driver path switched off (the SQLAlchemy statements PostgreSQL runs): queue, claim,
fencing checks, leases, sending, parts, carrier ids, sent, receipts of a concatenated message, delivered or
undelivered, finish. What each step returns and the rows left behind (as the driver reads them, DateTimes as
stored text) must be the same.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from mycpaas.domain.accounts import Account, AccountStatus, AccountType
from mycpaas.domain.messages import ALLOWED_PREDECESSORS, Message, MessageStatus
from mycpaas.storage import accounts, messages, migrate, parts, queue, tables
from mycpaas.storage.database import Database
from tests.integration.test_raw_inserts import ACCOUNT, _add_account, stored_rows, twin, variants

NOW = datetime(2026, 12, 7, 9, 30, 1, 250000)
SECOND = Account(
    sid="AC" + "2" * 32,
    owner_account_sid="AC" + "2" * 32,
    friendly_name="second",
    status=AccountStatus.SUSPENDED,
    type=AccountType.TRIAL,
    created_at=datetime(2026, 12, 7, 9, 0, 0),
    updated_at=NOW,
    token_rotated_at=None,
)
FIELDS_SKIPPED = {"sid", "message_sid", "ref", "kind", "carrier_message_id"}


def _without_names(value: Any) -> Any:
    """A value with what differs between the twins by construction (sids, job kinds, carrier ids) left out."""
    if isinstance(value, Message):
        value = dataclasses.asdict(value)
    if isinstance(value, messages.StatusChanged):
        value = value._asdict()
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k not in FIELDS_SKIPPED}
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, Message | messages.StatusChanged) for v in value):
            value = sorted(value, key=lambda m: m.to_number)  # RETURNING's order is the database's
        return [_without_names(v) for v in value]
    return value


async def _deliver(db: Database, batch: list[Message], kind: str, suffix: str) -> list[Any]:
    """One delivery of `batch` through the storage functions; what each step returned, in order."""
    seen: list[Any] = []
    sids = [m.sid for m in batch]
    async with db.write() as conn:
        await messages.insert_new(conn, batch)  # SQLAlchemy's own insert: the send jobs are of another kind
        await queue.enqueue(
            conn, [queue.job_row(kind, sid, NOW, f"payload {i}") for i, sid in enumerate(sids)]
        )
    async with db.write() as conn:
        claimed = await queue.claim(conn, [kind], NOW, NOW + timedelta(seconds=15), 10)
        seen.append([(j.attempts, j.claim, j.payload) for j in claimed])
        seen.append(len(await queue.owned(conn, claimed, leased=True)))
        seen.append(len(await queue.extend_leases(conn, claimed, NOW + timedelta(seconds=30))))
        # A later job for the first two messages, and one of another kind that pending_ids must leave out.
        await queue.enqueue(conn, [queue.job_row(kind, sid, NOW, "later") for sid in sids[:2]])
        await queue.enqueue(conn, [queue.job_row(f"{kind}.other", sids[0], NOW)])
        pending = await queue.pending_ids(conn, [kind], [*sids[1::-1], "unknown"])
        first = min(i for ids in pending.values() for i in ids)  # ids differ between the twins by an offset
        seen.append(sorted((sids.index(ref), [i - first for i in ids]) for ref, ids in pending.items()))
        seen.append(await messages.get_many(conn, sids))
        await messages.mark_sending(conn, sids, NOW)
        submitted = [(sid, "sim", [f"{suffix}{i}a", f"{suffix}{i}b"]) for i, sid in enumerate(sids)]
        await parts.insert_parts_of(conn, submitted, NOW)
        first_ids = {sid: ids[0] for sid, _, ids in submitted}
        sent = await messages.record_sent(conn, first_ids, ALLOWED_PREDECESSORS[MessageStatus.SENT], NOW)
        seen.append(sent)
        seen.append(sorted(m.sid for m in sent) == sorted(sids))
        # Recorded again (a submission repeated after a lapse): no status change, the carrier id set all the same.
        again = {sids[0]: f"{suffix}again"}
        seen.append(await messages.record_sent(conn, again, ALLOWED_PREDECESSORS[MessageStatus.SENT], NOW))
        stored = {m.sid: m.carrier_message_id for m in await messages.get_many(conn, sids)}
        seen.append(stored == {**first_ids, **again})
        found = await parts.find_parts(conn, "sim", [ids[0] for _, _, ids in submitted] + ["unknown"])
        seen.append(sorted((p.part, p.total) for p in found.values()))
        await parts.settle_parts(conn, [(p.id, "delivered") for p in found.values()])
        outcomes = await parts.parts_outcomes(conn, sids)
        seen.append(sorted(str(v) for v in outcomes.values()))
        seen.append(await parts.pending_for(conn, "sim", ["nothing"]))
        seen.append(await parts.any_pending(conn))
        later = NOW + timedelta(seconds=2)
        seen.append(
            await messages.advance_many(
                conn,
                sids[:1],
                MessageStatus.UNDELIVERED,
                ALLOWED_PREDECESSORS[MessageStatus.UNDELIVERED],
                later,
                error_code=30003,
                error_message="Unreachable destination handset",
            )
        )
        seen.append(
            await messages.advance_many(
                conn, sids, MessageStatus.DELIVERED, ALLOWED_PREDECESSORS[MessageStatus.DELIVERED], later
            )
        )
        seen.append(len(await queue.finish(conn, claimed[:1])))
        seen.append(len(await queue.finish(conn, [dataclasses.replace(claimed[1], claim=99)])))
    return seen


def test_sqlite_statements_match_sqlalchemy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'fast.db'}"
    migrate.upgrade(url)
    asyncio.run(_add_account(url))
    fast = variants()
    slow = [twin(m, 2) for m in fast]

    async def scenario() -> tuple[list[Any], list[Any]]:
        db = Database(url)
        try:
            on_driver = await _deliver(db, fast, "test.fast", "f")
            for module in (queue, messages, parts):
                monkeypatch.setattr(module, "sqlite_driver", lambda conn: None)
            through_sqlalchemy = await _deliver(db, slow, "test.slow", "s")
            return on_driver, through_sqlalchemy
        finally:
            await db.dispose()

    on_driver, through_sqlalchemy = asyncio.run(scenario())
    assert _without_names(on_driver) == _without_names(through_sqlalchemy)
    for table, key, names in (
        ("messages", "sid", ([m.sid for m in fast], [m.sid for m in slow])),
        ("message_parts", "message_sid", ([m.sid for m in fast], [m.sid for m in slow])),
        ("jobs", "ref", ([m.sid for m in fast], [m.sid for m in slow])),
    ):
        rows = [asyncio.run(stored_rows(url, table, key, list(group))) for group in names]
        assert rows[0], table
        assert _without_names(rows[0]) == _without_names(rows[1]), table


def test_accounts_read_on_the_driver_match_sqlalchemy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """get_accounts_with_tokens on the sqlite3 driver (the webhook dispatcher's and authentication's read)
    builds the same Account and StoredTokens as through SQLAlchemy: NULLs and values, whole and fractional
    seconds, one sid or several, unknown sids left out."""
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    migrate.upgrade(url)
    asyncio.run(_add_account(url))

    async def scenario() -> tuple[list[Any], list[Any]]:
        db = Database(url)
        try:
            async with db.write() as conn:
                await accounts.insert_account(conn, SECOND, "sealed 2", "1" * 64)
                await conn.execute(
                    update(tables.accounts)
                    .where(tables.accounts.c.sid == SECOND.sid)
                    .values(
                        secondary_token_sealed="sealed 3",
                        secondary_token_digest="2" * 64,
                        secondary_created_at=NOW,
                        token_rotated_at=NOW.replace(microsecond=0),
                    )
                )
            reads = [{ACCOUNT}, {SECOND.sid}, {ACCOUNT, SECOND.sid, "AC" + "f" * 32}]
            async with db.read() as conn:
                on_driver = [await accounts.get_accounts_with_tokens(conn, sids) for sids in reads]
            monkeypatch.setattr(accounts, "sqlite_driver", lambda conn: None)
            async with db.read() as conn:
                through_sqlalchemy = [await accounts.get_accounts_with_tokens(conn, sids) for sids in reads]
            return on_driver, through_sqlalchemy
        finally:
            await db.dispose()

    on_driver, through_sqlalchemy = asyncio.run(scenario())
    assert on_driver == through_sqlalchemy
    assert [len(found) for found in on_driver] == [1, 1, 2]
    assert on_driver[1][SECOND.sid][1].secondary_created_at == NOW
