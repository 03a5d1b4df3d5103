"""record_sent, the batch that records what the carrier accepted, on both databases: one UPDATE ... FROM for the
batch (json_each on SQLite, unnest on PostgreSQL). Messages that could move to `sent` do, with their carrier id
and sent time, and are returned; one already past it (a submission recorded twice) keeps its status and gets
its carrier id; the overview's counts follow the statuses."""

from __future__ import annotations

import asyncio
import dataclasses

from sqlalchemy import select

from mycpaas.domain.messages import ALLOWED_PREDECESSORS, MessageStatus
from mycpaas.storage import messages, tables
from mycpaas.storage.database import Database
from tests.integration.test_raw_inserts import CREATED, database_url, twin, variants  # noqa: F401 (fixture)


def test_record_sent_moves_the_allowed_and_names_every_carrier_id(database_url: str) -> None:  # noqa: F811
    async def scenario() -> None:
        db = Database(database_url)
        try:
            base = variants()[0]
            batch = [dataclasses.replace(twin(base, n), to_number=f"+1555000000{n}") for n in range(3)]
            async with db.write() as conn:
                await messages.insert_new(conn, batch)
                await messages.mark_sending(conn, [m.sid for m in batch[:2]], CREATED)
                # The third was already delivered (its receipt overtook the record of its submission).
                await messages.advance_many(
                    conn, [batch[2].sid], MessageStatus.DELIVERED, [MessageStatus.QUEUED], CREATED
                )
            ids = {m.sid: f"smsc-{n}" for n, m in enumerate(batch)}
            async with db.write() as conn:
                changed = await messages.record_sent(
                    conn, ids, ALLOWED_PREDECESSORS[MessageStatus.SENT], CREATED
                )
            assert sorted(c.sid for c in changed) == sorted(m.sid for m in batch[:2])
            assert all(c.account_sid == base.account_sid for c in changed)
            async with db.read() as conn:
                stored = {m.sid: m for m in await messages.get_many(conn, list(ids))}
                counts = (
                    await conn.execute(
                        select(tables.message_counts.c.status, tables.message_counts.c.messages)
                    )
                ).all()
            assert [stored[m.sid].status for m in batch] == [
                MessageStatus.SENT,
                MessageStatus.SENT,
                MessageStatus.DELIVERED,
            ]
            assert {sid: m.carrier_message_id for sid, m in stored.items()} == ids
            assert [stored[m.sid].sent_at for m in batch] == [CREATED, CREATED, None]
            assert {status: n for status, n in counts if n} == {"sent": 2, "delivered": 1}
        finally:
            await db.dispose()

    asyncio.run(scenario())
